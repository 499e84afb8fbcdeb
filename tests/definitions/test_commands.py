from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from orchestration.models import Task
from tests.definitions.conftest import SEED_PATH

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


def test_import_then_export_gives_the_seed_back(seed_ready, seed, tmp_path):
    out = io.StringIO()
    call_command("import_task", str(SEED_PATH), stdout=out)
    assert "Created task weibo-complete-monitoring-task (4 nodes)" in out.getvalue()
    target = tmp_path / "export.json"
    call_command(
        "export_task", "weibo-complete-monitoring-task", "-o", str(target), stderr=io.StringIO()
    )
    assert json.loads(target.read_text(encoding="utf-8")) == seed
    printed = io.StringIO()
    call_command("export_task", "weibo-complete-monitoring-task", stdout=printed)
    assert json.loads(printed.getvalue()) == seed


def test_import_reports_every_problem_with_its_path(make_definition, tmp_path):
    doc = make_definition(priority="urgent")
    doc["workflows"][1]["dependsOn"] = ["ghost"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(CommandError) as caught:
        call_command("import_task", str(path))
    message = str(caught.value)
    assert "priority: priority must be one of low, normal, high, critical (got 'urgent')" in message
    assert 'workflows[1].dependsOn[0]: second depends on unknown node "ghost"' in message
    assert Task.objects.count() == 0


def test_import_refuses_a_taken_task_id_unless_updating(make_definition, tmp_path):
    path = tmp_path / "task.json"
    path.write_text(json.dumps(make_definition()))
    call_command("import_task", str(path), stdout=io.StringIO())
    with pytest.raises(CommandError, match="already exists"):
        call_command("import_task", str(path))
    path.write_text(json.dumps(make_definition(name="Changed")))
    out = io.StringIO()
    call_command("import_task", str(path), "--update", stdout=out)
    assert "Updated task small-task" in out.getvalue()
    assert Task.objects.get().name == "Changed"


def test_import_explains_files_that_are_not_json(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"taskId": ')
    with pytest.raises(CommandError, match=r"is not JSON: Expecting value at line 1, column 12"):
        call_command("import_task", str(path))
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_task", str(tmp_path / "missing.json"))


def test_import_exits_non_zero_from_the_command_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("[]")
    result = subprocess.run(
        [sys.executable, "manage.py", "import_task", str(path), "--skip-checks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "a task definition must be a JSON object" in result.stderr


def test_export_of_an_unknown_task_fails():
    with pytest.raises(CommandError, match='no task with taskId "nope"'):
        call_command("export_task", "nope")
