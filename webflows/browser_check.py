"""Is the browser that browser nodes drive in place? Shown on the Workflows
page; scripts/check-browser makes the same checks before the quick start."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

from webflows.drivers import chromium_path


@dataclass(frozen=True)
class BrowserStatus:
    """``chromium``: the executable is there; ``cjk_fonts``: a Noto Sans CJK
    font is installed (per ``fc-list``), needed to render Chinese pages."""

    path: str
    chromium: bool
    cjk_fonts: bool

    @property
    def install_command(self) -> str:
        """The command that installs what is missing ('' when nothing is)."""
        packages = [p for p, ok in (("chromium", self.chromium), ("fonts-noto-cjk", self.cjk_fonts)) if not ok]
        return f"sudo apt-get install -y {' '.join(packages)}" if packages else ""


def _cjk_fonts_installed() -> bool:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return False
    try:
        listed = subprocess.run([fc_list], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "noto sans cjk" in listed.lower()


def browser_status() -> BrowserStatus:
    """Check the configured Chromium (``WEBAUTO_CHROMIUM_PATH``) and the CJK fonts."""
    path = chromium_path()
    return BrowserStatus(path=path, chromium=os.access(path, os.X_OK), cjk_fonts=_cjk_fonts_installed())
