"""API token authentication that refuses impossible keys before the database
sees them (PostgreSQL raises on a NUL character in a query parameter, which
DRF's TokenAuthentication would turn into a 500)."""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

MAX_KEY_LENGTH = Token._meta.get_field("key").max_length or 40


class StrictTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>``; a key that is not 1-40 printable ASCII
    characters is refused with 401 like any unknown key."""

    def authenticate_credentials(self, key: str) -> Any:
        if not (key.isascii() and key.isprintable() and 0 < len(key) <= MAX_KEY_LENGTH):
            raise AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(key)
