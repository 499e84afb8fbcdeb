"""An honest dashboard (issue 14, point 3): runs with errors and node
failures are shown, the success rate's definition is on the page, and line
charts show their data even when it all falls in one bucket."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from orchestration.models import NodeRun
from tests.monitoring.factories import execution
from tests.monitoring.test_dashboard_browser import browser_page  # noqa: F401  (fixture)


def _runs(task, *, clean: int, with_errors: int) -> list:
    now = timezone.now()
    made = []
    for i in range(clean):
        made.append(execution(task, "completed", created=now - timedelta(minutes=30 + i)))
    for i in range(with_errors):
        e = execution(task, "completed_with_errors", created=now - timedelta(minutes=10 + i))
        NodeRun.objects.create(execution=e, node_id="fetch", workflow="echo", status="completed")
        NodeRun.objects.create(execution=e, node_id="flaky", workflow="echo", status="failed", error="boom")
        made.append(e)
    return made


@pytest.mark.django_db
def test_runs_with_errors_and_node_failures_are_counted_and_listed(client, admin_user, make_task):
    task = make_task("honest")
    runs = _runs(task, clean=9, with_errors=5)
    client.force_login(admin_user)
    page = client.get("/").content.decode()

    assert '<div class="tile-value" id="success-rate">100%</div>' in page  # as defined: every run completed
    assert 'id="runs-with-errors"><a href="/executions/?status=completed_with_errors">5</a>' in page
    assert 'id="node-failures">5</div>' in page
    assert "(cleanly: 9, or with errors in some nodes: 5) out of finished runs" in page
    assert "No failed runs" not in page
    for run in runs[9:]:
        assert f'<a href="/executions/{run.pk}/">#{run.pk}</a>' in page
    assert page.count("<code>flaky</code>") == 5


@pytest.mark.django_db
def test_with_nothing_wrong_the_panel_says_so(client, admin_user, make_task):
    _runs(make_task("fine"), clean=2, with_errors=0)
    client.force_login(admin_user)
    page = client.get("/").content.decode()
    assert "No failed runs and no runs with errors in this range." in page
    assert 'id="node-failures">0</div>' in page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_line_charts_draw_points_when_all_data_is_in_one_bucket(browser_page, live_server, make_task):  # noqa: F811
    _runs(make_task("one-bucket"), clean=1, with_errors=1)  # 10 and 30 minutes ago: one 24h bucket
    page = browser_page
    page.goto(live_server.url + "/")  # the default 24h range
    charts = ["success", "duration"]
    page.wait_for_function(
        "ids => ids.every(id => { const c = Chart.getChart(document.getElementById('chart-' + id));"
        " return c && c.data.datasets[0].data.some(v => v !== null); })",
        arg=charts,
    )
    for chart in charts:
        drawn = page.evaluate(
            "id => { const c = Chart.getChart(document.getElementById('chart-' + id));"
            " const meta = c.getDatasetMeta(0);"
            " return meta.data.filter((p, i) => c.data.datasets[0].data[i] !== null)"
            "   .map(p => p.options.radius); }",
            chart,
        )
        assert drawn and all(radius > 0 for radius in drawn), (chart, drawn)
    assert page.problems == []  # type: ignore[attr-defined]
