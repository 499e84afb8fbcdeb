"""Fixtures of the templates tests: the seed's template and task parameters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

PREDEFINED = Path(__file__).resolve().parents[2] / "templates_app" / "predefined"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    """Users are made in most tests here; real password hashing would dominate their time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def seed_template() -> dict[str, Any]:
    """The seed's template-definition.json (shipped verbatim as a predefined template)."""
    return json.loads((PREDEFINED / "weibo-monitoring-template.json").read_text(encoding="utf-8"))


@pytest.fixture
def seed_task_parameters() -> dict[str, Any]:
    """The ``parameters`` of the seed's task-definition.json."""
    return {
        "targetUrl": "https://weibo.com/1671109627",
        "maxPosts": 100,
        "mediaQuality": "original",
        "includeComments": True,
        "changeThreshold": 0.1,
    }
