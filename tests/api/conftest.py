"""API tests run against a URL configuration holding only the core API and its
schema (same paths as the real one), plus the definition fixtures."""

from __future__ import annotations

import pytest

from tests.definitions.conftest import (  # noqa: F401  (fixtures)
    make_definition,
    seed,
    seed_kinds,
    seed_ready,
    seed_text,
    webhook_secret,
)


@pytest.fixture(autouse=True)
def core_api_urls(settings):
    settings.ROOT_URLCONF = "tests.api.urls"
    # Logins are not what these tests measure; PBKDF2 costs most of their time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
