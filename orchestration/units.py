"""Sizes and rates as operators write them: ``"1GB"``, ``"512KB"``, ``"50MB/s"``.

Units are binary (1 KB = 1024 bytes), as memory is counted by the operating
system and by psutil. Parsing is strict: a number, an optional space and a
unit; anything else raises ValueError with a message naming what is allowed.
"""

from __future__ import annotations

import re

_MULTIPLIERS = {
    "B": 1,
    "KB": 1024,
    "MB": 1024**2,
    "GB": 1024**3,
    "TB": 1024**4,
    "KIB": 1024,
    "MIB": 1024**2,
    "GIB": 1024**3,
    "TIB": 1024**4,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*$")
_RATE_RE = re.compile(r"^(.*?)\s*/\s*s\s*$")


def parse_size(text: str) -> int:
    """Bytes in a size such as ``"1GB"``, ``"1.5GB"``, ``"256MB"`` or ``"512 KB"``."""
    if not isinstance(text, str):
        raise ValueError(f"a size must be a string like '256MB', not {text!r}")
    match = _SIZE_RE.match(text)
    unit = match.group(2).upper() if match else ""
    if match is None or unit not in _MULTIPLIERS:
        raise ValueError(
            f"{text!r} is not a size; write a number and a unit (B, KB, MB, GB, TB), e.g. '512MB'"
        )
    size = float(match.group(1)) * _MULTIPLIERS[unit]
    if size <= 0:
        raise ValueError(f"{text!r} must be more than zero")
    return int(size)


def parse_rate(text: str) -> int:
    """Bytes per second in a rate such as ``"50MB/s"`` or ``"10 MB/s"``."""
    if not isinstance(text, str):
        raise ValueError(f"a rate must be a string like '10MB/s', not {text!r}")
    match = _RATE_RE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a rate; write a size per second, e.g. '10MB/s'")
    try:
        return parse_size(match.group(1))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a rate; write a size per second, e.g. '10MB/s'"
        ) from None
