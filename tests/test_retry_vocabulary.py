"""Retries have one vocabulary (issue 15.7; README -> Glossary).

An *attempt* is one try, numbered from 1; a *retry* is an attempt after the
first. ``attempts`` counts the attempts made, ``retries`` the retries made,
``max_retries`` the retries allowed, ``next_attempt_at`` is when the next is
due and ``attempt_log`` records each. The names the code used before for
the same things must not come back, in the product or in the tests: as a
Python name, attribute, argument, keyword or field name. The database
columns keep their old names (``db_column``), which are strings, not names.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("orchestration", "scheduling", "resources", "webflows", "monitoring", "templates_app", "webauto", "tests")
# Old name -> the glossary's name for it.
RETIRED = {
    "retries_used": "retries",
    "retry_number": "previous_attempts (or attempt_number, from 1)",
    "retry_attempts": "max_retries",
    "attempt_history": "attempt_log",
    "START_ATTEMPTS": "START_MAX_RETRIES",
}
# Settings are read as strings too (``settings.X`` is an attribute, caught above).
RETIRED_SETTINGS = {"WEBAUTO_DELIVERY_MAX_ATTEMPTS": "WEBAUTO_DELIVERY_MAX_RETRIES"}


def _names(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.arg):
            found.add(node.arg)
        elif isinstance(node, ast.keyword) and node.arg:
            found.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
    return found


def _sources() -> list[Path]:
    here = Path(__file__).resolve()
    return [
        path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts and path != here
    ]


def test_the_retired_retry_names_are_not_python_names() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {name} (say {RETIRED[name]})"
        for path in _sources()
        for name in sorted(_names(ast.parse(path.read_text(), str(path))) & set(RETIRED))
    ]
    assert offenders == []


def test_the_templates_use_the_glossary_names() -> None:
    pattern = re.compile(r"\b(" + "|".join(RETIRED) + r")\b")
    offenders = [
        f"{path.relative_to(ROOT)}: {match.group(1)}"
        for path in sorted((ROOT / "templates").rglob("*.html"))
        for match in pattern.finditer(path.read_text())
    ]
    assert offenders == []


def test_the_retired_setting_is_read_only_as_the_new_ones_fallback() -> None:
    for old, new in RETIRED_SETTINGS.items():
        users = [path.relative_to(ROOT).as_posix() for path in _sources() if old in path.read_text()]
        assert users == ["webauto/settings.py"], (old, new)


def test_the_model_fields_keep_their_columns() -> None:
    from monitoring.models import Delivery
    from orchestration.models import Execution, NodeRun

    columns = {
        (model.__name__, f.name): f.column
        for model in (Execution, NodeRun, Delivery)
        for f in model._meta.concrete_fields
        if "attempt" in f.name or "retr" in f.name
    }
    assert columns == {
        ("Execution", "retry_of"): "retry_of_id",
        ("Execution", "previous_attempts"): "retry_number",
        ("NodeRun", "attempts"): "attempts",
        ("NodeRun", "retries"): "retries_used",
        ("NodeRun", "next_attempt_at"): "next_attempt_at",
        ("NodeRun", "attempt_log"): "attempt_history",
        ("Delivery", "attempts"): "attempts",
        ("Delivery", "next_attempt_at"): "next_attempt_at",
        ("Delivery", "attempt_log"): "attempt_log",
    }


def _delivery_max_retries(**env: str) -> int:
    import os
    import subprocess
    import sys

    environ = {k: v for k, v in os.environ.items() if not k.startswith("WEBAUTO_DELIVERY_MAX_")}
    code = "import webauto.settings as s; print(s.WEBAUTO_DELIVERY_MAX_RETRIES)"
    out = subprocess.run(
        [sys.executable, "-c", code], env={**environ, **env}, cwd=ROOT, capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip().splitlines()[-1])


def test_the_delivery_retry_limit_reads_the_older_attempt_limit_too() -> None:
    assert _delivery_max_retries() == 5  # six attempts in all, as before
    assert _delivery_max_retries(WEBAUTO_DELIVERY_MAX_RETRIES="2") == 2
    assert _delivery_max_retries(WEBAUTO_DELIVERY_MAX_ATTEMPTS="3") == 2
    assert _delivery_max_retries(WEBAUTO_DELIVERY_MAX_RETRIES="0", WEBAUTO_DELIVERY_MAX_ATTEMPTS="9") == 0
