from __future__ import annotations

import pytest

from orchestration.units import parse_rate, parse_size


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1GB", 1024**3),
        ("256MB", 256 * 1024**2),
        ("500MB", 500 * 1024**2),
        ("512KB", 512 * 1024),
        ("1.5GB", int(1.5 * 1024**3)),
        ("10 mb", 10 * 1024**2),
        ("2GiB", 2 * 1024**3),
        ("100B", 100),
    ],
)
def test_it_parses_sizes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize(
    "text", ["", "1", "GB", "1 G", "-1GB", "0MB", "1,5GB", "1e3MB", "1GB extra", 5, None]
)
def test_it_rejects_anything_else(text):
    with pytest.raises(ValueError):
        parse_size(text)


def test_it_parses_rates():
    assert parse_rate("50MB/s") == 50 * 1024**2
    assert parse_rate("10 MB / s") == 10 * 1024**2


@pytest.mark.parametrize("text", ["50MB", "50MB/min", "fast/s", 10])
def test_it_rejects_bad_rates(text):
    with pytest.raises(ValueError, match="rate"):
        parse_rate(text)
