"""Real PNG images from a seed string, with zlib + struct (no imaging library)."""

from __future__ import annotations

import hashlib
import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(seed: str, width: int, height: int) -> bytes:
    """An RGB PNG whose colours and stripes derive from ``seed``: the same seed
    gives the same bytes, a different seed a visibly different image."""
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    base = digest[0:3]
    accent = digest[3:6]
    stripe = 4 + digest[6] % 12
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type "None" for this scanline
        for x in range(width):
            on = ((x + y) // stripe) % 2 == 0
            r, g, b = accent if on else base
            shade = (x * 255) // max(width - 1, 1)
            rows += bytes(((r + shade) // 2, (g + y * 255 // max(height - 1, 1)) // 2, b))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(rows), 6))
        + _chunk(b"IEND", b"")
    )
