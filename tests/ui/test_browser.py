"""The operator's path in a real browser: log in, build a task in the DAG
builder, run it and watch it finish live, cancel a long run from the page."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from orchestration import services
from orchestration.models import Execution, ExecutionStatus, Task

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "ui"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the ORM
    # calls the tests make between browser steps are still plain synchronous code.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server, admin_user):
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server.url + reverse("ui:task-list"))
    # Not logged in: the login page, which then brings us back.
    page.wait_for_selector("#id_username")
    shot(page, "login")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "pw-admin-123")
    page.click("button[type=submit]")
    page.wait_for_url("**/tasks/")
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def node(page, index: int, selector: str):
    return page.locator(f'.node-editor[data-node-index="{index}"] {selector}')


def set_field(locator, value: str) -> None:
    """Type a value and leave the field, as a person would (fires input and change)."""
    locator.fill(value)
    locator.press("Tab")


def test_an_operator_builds_runs_and_watches_a_three_node_task(page, live_server, celery_worker, transactional_db):
    page.click("text=+ New task")
    page.wait_for_url("**/tasks/new/")
    set_field(page.locator("#field-taskId"), "browser-chain")
    set_field(page.locator("#field-name"), "Browser chain")

    page.click("#add-node")
    set_field(node(page, 0, ".node-id"), "fetch")
    set_field(node(page, 0, ".node-kind"), "echo")

    page.click("#add-node")
    set_field(node(page, 1, ".node-id"), "wait")
    set_field(node(page, 1, ".node-kind"), "dealy")  # a typo the validation must catch
    node(page, 1, '.dep-check[data-dep="fetch"]').check()
    # Validation runs as you type; wait for the answer about the latest edit.
    expect(page.locator("#validation-result[data-valid=false]")).to_contain_text('unknown workflow kind "dealy"')
    assert page.locator('#builder-dag g.dag-node[data-node-id="wait"] .dag-error-ring').count() == 1
    shot(page, "builder-with-error")

    set_field(node(page, 1, ".node-kind"), "delay")
    # The delay kind's schema gives its config form a "seconds" field.
    set_field(node(page, 1, ".cfg-seconds"), "1")

    page.click("#add-node")
    set_field(node(page, 2, ".node-id"), "report")
    set_field(node(page, 2, ".node-kind"), "echo")
    node(page, 2, '.dep-check[data-dep="wait"]').check()
    set_field(node(page, 2, ".node-inputfrom"), "fetch.output")

    page.locator("#validation-result[data-valid=true]").wait_for()
    assert node(page, 1, ".problem-badge").is_hidden()
    assert page.locator("#builder-dag g.dag-node").count() == 3
    assert page.locator("#builder-dag path.dag-edge").count() == 2
    shot(page, "builder")

    page.click("#save-task")
    page.wait_for_url("**/tasks/browser-chain/")
    task = Task.objects.get(task_id="browser-chain")
    assert [(w["id"], w["workflow"], w.get("dependsOn")) for w in task.workflows] == [
        ("fetch", "echo", None), ("wait", "delay", ["fetch"]), ("report", "echo", ["wait"])
    ]
    assert task.workflows[1]["config"] == {"seconds": 1}
    assert task.workflows[2]["inputFrom"] == "fetch.output"
    assert page.locator("#task-dag g.dag-node").count() == 3

    page.click("#run-now")
    page.wait_for_url("**/executions/*/")
    page.evaluate("window.__sameDocument = true")
    page.locator("#execution-status[data-status=completed]").wait_for(timeout=60_000)
    # Reached by htmx polling, not by a reload.
    assert page.evaluate("window.__sameDocument") is True
    assert page.locator('#execution-dag g.dag-node[data-status="completed"]').count() == 3
    assert page.locator("#exec-live[hx-trigger]").count() == 0
    page.click('#execution-dag g.dag-node[data-node-id="report"]')
    assert page.locator('details.node-card[data-node-id="report"]').get_attribute("open") is not None
    page.locator("details.node-card.flash").wait_for(state="detached")
    shot(page, "execution-completed")

    page.goto(live_server.url + reverse("ui:task-detail", args=["browser-chain"]))
    assert page.locator('#task-dag g.dag-node[data-status="completed"]').count() == 3
    shot(page, "task-detail")
    page.goto(live_server.url + reverse("ui:execution-list"))
    shot(page, "executions")
    page.goto(live_server.url + reverse("ui:task-list"))
    shot(page, "tasks")


def test_an_operator_cancels_a_long_running_execution_from_its_page(page, live_server, celery_worker, transactional_db):
    services.task_create(
        definition={
            "taskId": "long-wait",
            "name": "Long wait",
            "workflows": [{"id": "sleep", "workflow": "delay", "config": {"seconds": 60}}],
        }
    )
    page.goto(live_server.url + reverse("ui:task-detail", args=["long-wait"]))
    page.click("#run-now")
    page.wait_for_url("**/executions/*/")
    page.locator("#execution-status[data-status=running]").wait_for(timeout=30_000)
    page.locator('#execution-dag g.dag-node[data-status="running"]').wait_for()
    shot(page, "execution-running")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#cancel-execution")
    page.locator("#execution-status[data-status=cancelled]").wait_for(timeout=30_000)
    execution = Execution.objects.get(task__task_id="long-wait")
    assert execution.status == ExecutionStatus.CANCELLED
    assert page.locator("#rerun-execution").count() == 1
    shot(page, "execution-cancelled")


def test_the_builder_stays_in_sync_with_imported_and_hand_edited_json(page, live_server, transactional_db, tmp_path):
    from orchestration.models import Secret

    Secret.objects.create(name="webhookToken", value="t0ken-value")
    seed = Path(__file__).resolve().parent.parent / "definitions/seed/task-definition.json"
    page.goto(live_server.url + reverse("ui:task-create"))
    page.set_input_files("#import-file", str(seed))
    page.locator('#builder-dag g.dag-node[data-node-id="notification"]').wait_for()
    assert page.locator(".node-editor").count() == 4
    assert page.input_value("#field-taskId") == "weibo-complete-monitoring-task"
    page.locator("#validation-result[data-valid=true]").wait_for()

    # A form edit lands in the JSON definition ...
    page.click('.node-editor[data-node-index="1"] > summary')
    node(page, 1, ".node-condition").select_option("expression")
    set_field(node(page, 1, ".node-expression"), "monitoring.hasChanges")
    definition = json.loads(page.input_value("#definition-json"))
    assert definition["workflows"][1]["condition"] == {"type": "expression", "expression": "monitoring.hasChanges"}

    # ... and a hand edit of the JSON lands in the form and the graph.
    definition["workflows"].append({"id": "archive", "workflow": "echo", "dependsOn": ["analysis"]})
    page.click("#json-panel > summary")
    page.fill("#definition-json", json.dumps(definition, ensure_ascii=False, indent=2))
    page.locator('#builder-dag g.dag-node[data-node-id="archive"]').wait_for()
    assert page.locator(".node-editor").count() == 5
    page.locator("#validation-result[data-valid=true]").wait_for()

    with page.expect_download() as download_info:
        page.click("#export-json")
    exported = tmp_path / "exported.json"
    download_info.value.save_as(exported)
    assert download_info.value.suggested_filename == "weibo-complete-monitoring-task.json"
    assert json.loads(exported.read_text()) == definition


def test_a_node_card_keeps_the_state_it_was_toggled_to_across_a_redraw(page, live_server, transactional_db):
    """A card's ``open`` changes as its summary is clicked, but its "toggle"
    event is a task queued for later. An edit that redraws the cards can come
    first (a busy browser runs the edit before the queued event): the card must
    still be drawn as the person left it. Here click and edit share one task,
    so the toggle event is certain to come after the redraw."""
    page.goto(live_server.url + reverse("ui:task-create"))
    page.click("#json-panel > summary")
    page.fill("#definition-json", json.dumps({
        "taskId": "cards", "name": "cards",
        "workflows": [{"id": "a", "workflow": "echo"}, {"id": "b", "workflow": "echo", "dependsOn": ["a"]}],
    }))
    page.locator('#builder-dag g.dag-node[data-node-id="b"]').wait_for()
    expect(page.locator(".node-editor[open]")).to_have_count(0)

    def click_summary_then_set_condition(index: int, condition: str) -> None:
        page.evaluate(
            """([index, condition]) => {
                const card = document.querySelector(`.node-editor[data-node-index="${index}"]`);
                card.querySelector(":scope > summary").click();
                const select = card.querySelector(".node-condition");
                select.value = condition;
                select.dispatchEvent(new Event("change", { bubbles: true }));
            }""",
            [index, condition],
        )

    click_summary_then_set_condition(1, "expression")
    expect(node(page, 1, ".node-expression")).to_be_visible()
    assert node(page, 0, ".node-condition").is_hidden()
    set_field(node(page, 1, ".node-expression"), "a.ok")
    assert json.loads(page.input_value("#definition-json"))["workflows"][1]["condition"] == {
        "type": "expression", "expression": "a.ok"
    }

    # And the other way: a card closed just before a redraw stays closed.
    click_summary_then_set_condition(1, "")
    expect(node(page, 1, ".node-condition")).to_be_hidden()
    assert "condition" not in json.loads(page.input_value("#definition-json"))["workflows"][1]


def test_the_builder_survives_a_malformed_definition(page, live_server, transactional_db):
    page.goto(live_server.url + reverse("ui:task-create"))
    page.click("#json-panel > summary")
    page.fill("#definition-json", json.dumps({"taskId": "odd", "tags": "x", "workflows": [1, {"id": "n", "dependsOn": ["ghost"]}]}))
    page.locator('#builder-dag g.dag-node[data-status="missing"][data-node-id="ghost"]').wait_for()
    assert "is not an object" in page.locator('.node-editor[data-node-index="0"]').inner_text()
    expect(page.locator("#validation-result[data-valid=false]")).to_contain_text("workflows[0]")
    page.fill("#definition-json", '{"taskId": ')
    expect(page.locator("#json-broken")).to_be_visible()
    expect(page.locator("#validation-result")).to_contain_text("not valid JSON")
