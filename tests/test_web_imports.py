"""The web process stays lean (README, Benchmarks, "Memory": web ≤ 120 MB
RSS): loading every URL, view and app does not import the HTTP client that
only nodes and outgoing notifications use (httpx and what it pulls in: about
16 MB); those import it when they first send a request. Checked in a fresh
interpreter, as gunicorn starts one."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

PROBE = """
import json, os, sys
import django
django.setup()
import webauto.urls  # every view, serializer and API module, as the first request loads them
from django.urls import get_resolver
get_resolver().url_patterns
print(json.dumps(sorted(m for m in ("httpx", "httpcore", "anyio", "h11") if m in sys.modules)))
"""


def test_loading_the_web_app_does_not_import_the_http_client() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "webauto.settings", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
