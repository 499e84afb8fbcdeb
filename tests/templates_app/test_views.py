"""Template pages: gallery, detail, diff, the generated form, task upgrade."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from orchestration.models import Task
from templates_app import services
from templates_app.models import Template

pytestmark = pytest.mark.django_db


@pytest.fixture
def ui(client, admin_user):
    call_command("load_templates", verbosity=0)
    client.force_login(admin_user)
    return client


def test_pages_need_login(client):
    response = client.get("/templates/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_gallery_shows_a_card_per_template(ui):
    html = ui.get("/templates/").content.decode()
    assert html.count('class="panel tpl-card"') == 5
    assert "微博监控模板" in html and "v1.0.0" in html and "#monitoring" in html


def test_gallery_filters_and_answers_htmx_with_the_cards_only(ui):
    response = ui.get("/templates/?category=web", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html
    assert html.count('class="panel tpl-card"') == 1 and "Website change monitor" in html
    html = ui.get("/templates/?tag=download&q=batch").content.decode()
    assert html.count('class="panel tpl-card"') == 1 and "Batch download" in html
    assert "No template matches" in ui.get("/templates/?q=zzzz").content.decode()


def test_detail_shows_parameters_graph_data_and_versions(ui):
    services.template_version_create(template_id="weibo-monitoring-template", changes={"description": "v2"})
    html = ui.get("/templates/weibo-monitoring-template/").content.decode()
    assert 'data-param="mediaQuality"' in html and "one of thumbnail, medium, original" in html
    assert 'id="template-document"' in html and "static/js/dag.js" in html
    assert "v1.0.1" in html and "diff with v1.0.0" in html
    old = ui.get("/templates/weibo-monitoring-template/versions/1.0.0/").content.decode()
    assert "older version" in old
    assert ui.get("/templates/weibo-monitoring-template/versions/7.0.0/").status_code == 404


def test_diff_page_lists_changes(ui):
    services.template_version_create(template_id="weibo-monitoring-template", changes={"description": "v2"})
    html = ui.get("/templates/weibo-monitoring-template/diff/?from=1.0.0&to=1.0.1").content.decode()
    assert "<code>description</code>" in html and "tpl-diff-add" in html
    first = ui.get("/templates/content-analysis-template/diff/").content.decode()
    assert "is the first version" in first


def test_the_form_is_generated_from_the_parameter_schema(ui):
    html = ui.get("/templates/weibo-monitoring-template/use/").content.decode()
    assert '<select name="param-mediaQuality"' in html
    assert '<option value="original" selected>' in html
    assert 'name="param-maxPosts" value="50"' in html and 'type="number"' in html
    html = ui.get("/templates/website-change-monitor-template/use/").content.decode()
    assert 'name="param-changeThreshold" value="0.05"' in html and 'max="1"' in html


def test_posting_the_form_shows_errors_per_field_then_creates_the_task(ui):
    url = "/templates/weibo-monitoring-template/use/"
    response = ui.post(url, {"param-targetUrl": "", "param-maxPosts": "ten", "param-mediaQuality": "original", "priority": "normal"})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="param-targetUrl-errors"' in html and "is required" in html
    assert 'id="param-maxPosts-errors"' in html and "must be a number (got &#x27;ten&#x27;)" in html
    assert not Task.objects.exists()

    response = ui.post(
        url,
        {
            "param-targetUrl": "https://weibo.com/1",
            "param-maxPosts": "30",
            "param-mediaQuality": "medium",
            "task_id": "from-form",
            "priority": "high",
            "schedule_type": "cron",
            "schedule_expression": "0 */2 * * *",
            "schedule_timezone": "Asia/Shanghai",
            "notify_emails": "a@example.com, b@example.com",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/tasks/from-form/"
    task = Task.objects.get(task_id="from-form")
    assert task.workflows[1]["config"] == {"maxPosts": 30, "mediaQuality": "medium"}
    assert task.priority == "high"
    assert task.schedule == {"type": "cron", "enabled": True, "timezone": "Asia/Shanghai", "expression": "0 */2 * * *"}
    schedule = task.schedules.get()  # made from the definition's schedule block by the scheduler
    assert (schedule.kind, schedule.expression, schedule.timezone) == ("cron", "0 */2 * * *", "Asia/Shanghai")
    assert task.notification_channels[0]["config"]["recipients"] == ["a@example.com", "b@example.com"]


def test_schedule_errors_are_shown_on_the_schedule_fields(ui):
    response = ui.post(
        "/templates/content-analysis-template/use/",
        {
            "param-url": "https://example.com",
            "param-analysisType": "basic",
            "param-topKeywords": "20",
            "param-summarySentences": "3",
            "priority": "normal",
            "schedule_type": "cron",
            "schedule_expression": "often",
            "schedule_timezone": "Mars/Olympus",
        },
    )
    html = response.content.decode()
    assert 'id="schedule_expression-errors"' in html and 'id="schedule_timezone-errors"' in html
    assert not Task.objects.exists()


def test_upgrade_page_previews_and_confirms(ui, seed_task_parameters):
    template = Template.objects.get(template_id="weibo-monitoring-template")
    services.template_instantiate(template=template, parameters=seed_task_parameters, task_id="t1")
    services.template_version_create(
        template_id="weibo-monitoring-template",
        changes={"parameters": [*template.parameters, {"name": "region", "type": "string", "required": True}]},
    )
    detail = ui.get("/templates/weibo-monitoring-template/").content.decode()
    assert "/templates/weibo-monitoring-template/upgrade/t1/" in detail
    page = ui.get("/templates/weibo-monitoring-template/upgrade/t1/").content.decode()
    assert "From v1.0.0" in page and 'name="param-region"' in page and "is required" in page
    response = ui.post(
        "/templates/weibo-monitoring-template/upgrade/t1/",
        {"version": "1.0.1", "from_version": "1.0.0", "param-region": "cn", "confirm": "1"},
    )
    assert response.status_code == 302 and response["Location"] == "/tasks/t1/"
    task = Task.objects.get(task_id="t1")
    assert task.template_version == "1.0.1" and task.parameters["region"] == "cn"


def test_admin_shows_versions_read_only(ui):
    version = Template.objects.get(template_id="weibo-monitoring-template")
    listing = ui.get("/admin/templates_app/template/?q=weibo").content.decode()
    assert "weibo-monitoring-template" in listing
    page = ui.get(f"/admin/templates_app/template/{version.pk}/change/").content.decode()
    assert "微博监控模板" in page and 'name="_save"' not in page
    assert ui.get("/admin/templates_app/template/add/").status_code == 403


def test_a_template_is_created_from_json_on_its_page(ui, seed_template):
    page = ui.get("/templates/new/").content.decode()
    assert "my-template" in page
    response = ui.post("/templates/new/", {"document": "{not json"})
    assert "not valid JSON" in response.content.decode()
    doc = {**seed_template, "id": "new"}
    html = ui.post("/templates/new/", {"document": json.dumps(doc)}).content.decode()
    assert "<code>id</code>: &#x27;new&#x27; is reserved" in html
    doc["id"] = "copy-of-weibo"
    response = ui.post("/templates/new/", {"document": json.dumps(doc)})
    assert response.status_code == 302 and response["Location"] == "/templates/copy-of-weibo/"
    assert Template.objects.filter(template_id="copy-of-weibo", version="1.0.0").exists()


def test_a_new_version_is_made_from_the_edited_latest(ui):
    page = ui.get("/templates/content-analysis-template/new-version/").content.decode()
    assert "content-analysis-template" in page and "&quot;version&quot;" not in page
    doc = Template.objects.get(template_id="content-analysis-template").definition
    doc = {k: v for k, v in doc.items() if k != "version"}
    doc["parameters"][2]["default"] = 999
    html = ui.post("/templates/content-analysis-template/new-version/", {"document": json.dumps(doc)}).content.decode()
    assert "<code>parameters[2].default</code>: must be at most 500 (got 999)" in html
    doc["parameters"][2]["default"] = 30
    response = ui.post("/templates/content-analysis-template/new-version/", {"document": json.dumps(doc)})
    assert response.status_code == 302
    latest = Template.objects.filter(template_id="content-analysis-template").order_by("-patch").first()
    assert latest.version == "1.1.1" and latest.parameters[2]["default"] == 30


def test_the_template_page_lists_the_fields_of_the_published_schema(ui):
    from django.utils.html import escape

    from orchestration import contract

    page = ui.get("/templates/new/").content.decode()
    assert 'href="/api/v1/schemas/template-definition.json"' in page
    properties = contract.schema("template-definition")["properties"]
    for name, spec in properties.items():
        assert f"<dt><code>{name}</code>" in page
        if spec.get("description"):
            assert f"<dd>{escape(spec['description'])}</dd>" in page
    assert "<dt><code>workflows</code> (required)</dt>" in page
