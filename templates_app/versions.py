"""Template version numbers: ``MAJOR.MINOR.PATCH`` (semver without pre-release
or build suffixes, so that "newer" always has one obvious meaning)."""

from __future__ import annotations

import re
from typing import NamedTuple

_VERSION_RE = re.compile(r"^(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})$")


class Version(NamedTuple):
    major: int
    minor: int
    patch: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    def next_patch(self) -> Version:
        return Version(self.major, self.minor, self.patch + 1)


class VersionError(ValueError):
    pass


def parse_version(text: object) -> Version:
    """Parse ``"1.2.3"``; raises VersionError with a message a user understands."""
    if not isinstance(text, str) or not _VERSION_RE.match(text):
        raise VersionError(
            f"{text!r} is not a version of the form MAJOR.MINOR.PATCH (for example 1.0.0)"
        )
    major, minor, patch = (int(part) for part in text.split("."))
    return Version(major, minor, patch)

