"""The templates that ship with the product, and the command that loads them."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from orchestration.definition_export import task_to_definition
from orchestration.definitions import validate_task_definition
from templates_app.management.commands.load_templates import predefined_files
from templates_app.models import Template
from templates_app.services import template_instantiate

pytestmark = pytest.mark.django_db

# Values a user would fill in for each predefined template's required parameters.
EXAMPLE_PARAMETERS = {
    "weibo-monitoring-template": {"targetUrl": "https://weibo.com/1671109627"},
    "batch-download-template": {"urls": ["https://example.com/a.jpg", "https://example.com/b.png"]},
    "content-analysis-template": {"url": "https://example.com/article"},
    "page-report-notification-template": {"url": "https://example.com/news", "recipient": "ops@example.com"},
    "website-change-monitor-template": {"url": "https://example.com/pricing", "recipient": "ops@example.com"},
}


def _load() -> str:
    out = StringIO()
    call_command("load_templates", stdout=out, stderr=out)
    return out.getvalue()


def test_every_predefined_template_is_loaded_once():
    output = _load()
    assert "templates: 5 created, 0 unchanged, 0 conflict, 0 failed" in output
    assert set(Template.objects.values_list("template_id", flat=True)) == set(EXAMPLE_PARAMETERS)
    output = _load()
    assert "templates: 0 created, 5 unchanged, 0 conflict, 0 failed" in output
    assert Template.objects.count() == 5


def test_the_weibo_template_is_the_seed_verbatim(seed_template):
    _load()
    stored = Template.objects.get(template_id="weibo-monitoring-template")
    assert stored.definition == seed_template
    assert [p["name"] for p in stored.parameters] == ["targetUrl", "maxPosts", "mediaQuality"]


@pytest.mark.parametrize("template_id", sorted(EXAMPLE_PARAMETERS))
def test_each_predefined_template_instantiates_into_a_valid_task(template_id):
    _load()
    template = Template.objects.get(template_id=template_id)
    assert template.extracted_parameters == []
    task = template_instantiate(template=template, parameters=EXAMPLE_PARAMETERS[template_id])
    assert validate_task_definition(task_to_definition(task)) == []
    assert (task.template_id, task.template_version) == (template_id, template.version)
    assert "${" not in json.dumps([n.get("config") for n in task.workflows]).replace(
        "${watch.hasChanges == true}", ""
    )


def test_template_defaults_for_channels_are_filled_in():
    _load()
    template = Template.objects.get(template_id="website-change-monitor-template")
    task = template_instantiate(template=template, parameters=EXAMPLE_PARAMETERS[template.template_id])
    assert task.notification_channels == [{"type": "email", "config": {"recipients": ["ops@example.com"]}}]
    assert task.workflows[0]["config"] == {
        "url": "https://example.com/pricing", "mode": "http", "changeThreshold": 0.05,
    }
    assert task.workflows[1]["condition"]["expression"] == "${watch.hasChanges == true}"


def test_a_changed_file_with_the_same_version_is_reported_not_stored(tmp_path):
    _load()
    doc = json.loads(predefined_files()[0].read_text(encoding="utf-8"))
    doc["description"] = "edited without a version bump"
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    out = StringIO()
    call_command("load_templates", str(path), stdout=out, stderr=out)
    assert "versions are immutable" in out.getvalue()
    assert Template.objects.filter(template_id=doc["id"]).count() == 1


def test_an_invalid_file_fails_the_command_with_its_errors(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text(json.dumps({"id": "broken", "name": "x", "workflows": [{"id": "a", "workflow": "nope"}]}))
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("load_templates", str(path), stdout=out, stderr=out)
    assert 'workflows[0].workflow: unknown workflow kind "nope"' in out.getvalue()
