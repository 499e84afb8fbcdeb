"""A browser for the quick start (issue 14, point 1): scripts/quickstart makes
sure Chromium and CJK fonts are in place or stops with the exact command, and
the Workflows page says whether a browser is available."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def _run(command: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)


def test_the_check_passes_where_chromium_and_cjk_fonts_are_installed():
    done = _run(["scripts/check-browser"])
    assert done.returncode == 0, done.stderr
    assert "Chromium at /usr/bin/chromium, CJK fonts installed" in done.stdout


def test_quickstart_stops_with_the_exact_command_when_it_cannot_install_chromium(tmp_path):
    # An ordinary user (not root) cannot apt-get install: the quick start stops
    # before doing anything else and prints the command to run.
    done = _run([*NOBODY, "scripts/quickstart"], WEBAUTO_CHROMIUM_PATH=str(tmp_path / "no-chromium"))
    assert done.returncode == 1
    assert "    sudo apt-get install -y chromium\n" in done.stderr
    assert "missing: chromium\n" in done.stderr  # the fonts are there: not asked for


def test_skipping_the_check_is_explicit(tmp_path):
    done = _run([*NOBODY, "scripts/check-browser"], WEBAUTO_CHROMIUM_PATH=str(tmp_path / "no-chromium"),
                WEBAUTO_SKIP_BROWSER_CHECK="1")
    assert done.returncode == 0 and "browser nodes will fail" in done.stderr


@pytest.mark.django_db
def test_the_workflows_page_says_whether_a_browser_is_available(client, admin_user, settings, tmp_path):
    client.force_login(admin_user)
    page = client.get("/workflows/").content.decode()
    assert "Chromium at <code>/usr/bin/chromium</code>: browser nodes can run." in page

    settings.WEBAUTO_CHROMIUM_PATH = str(tmp_path / "no-chromium")
    page = client.get("/workflows/").content.decode()
    assert f"No Chromium at <code>{tmp_path / 'no-chromium'}</code>" in page
    assert "<code>sudo apt-get install -y chromium</code>" in page
