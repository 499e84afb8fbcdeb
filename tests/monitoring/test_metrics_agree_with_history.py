"""Adversarial checks (review of issue 13, point 10): the metrics summary,
the chart series and the counters must tell the same story about the same
runs, whatever operators do to the history afterwards (retention with a
short ``WEBAUTO_RETENTION_DAYS``, edits and deletions in the admin).

Each test states the truth it holds the product to; they fail today."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from monitoring.counters import execution_totals
from monitoring.retention import history_prune
from monitoring.selectors import metrics_series, metrics_summary
from orchestration.models import Execution
from tests.monitoring.test_rollups import finish


def _noon_today() -> datetime:
    return timezone.now().astimezone(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


@pytest.mark.django_db
def test_a_30d_summary_keeps_the_pruned_runs_of_its_partial_first_day(make_task, settings):
    """With a retention shorter than the range, the 30-day summary keeps
    counting pruned runs of whole days (from the rollups) but loses those of
    the partial day at the start of the range (read from rows that pruning
    deleted): the figure for the same range drops after pruning, and every
    midnight a whole day turns into the lost partial day."""
    settings.WEBAUTO_RETENTION_DAYS = 7
    task = make_task("b3-edge")
    now = _noon_today()
    since = now - timedelta(days=30)
    # One run in the partial first day (the afternoon of 30 days ago), one in a whole day.
    finish(task, "completed", created=since + timedelta(hours=2), wait=1, duration=5)
    finish(task, "failed", created=now - timedelta(days=20), wait=1, duration=7)
    before = metrics_summary(range_key="30d", now=now)
    assert before["executions"]["total"] == 2

    assert history_prune()["executions"] == 2

    after = metrics_summary(range_key="30d", now=now)
    assert after["executions"]["byStatus"] == before["executions"]["byStatus"]
    assert after["executions"]["total"] == 2


@pytest.mark.django_db
def test_the_7d_series_counts_the_runs_the_7d_summary_counts_after_retention(make_task, settings):
    """The dashboard shows the 7-day summary next to the 7-day chart. After
    pruning (retention 3 days) the summary still counts the runs of 5 days
    ago from the rollups, while the series, read from rows only, shows
    nothing for that day: the tiles and the chart disagree."""
    settings.WEBAUTO_RETENTION_DAYS = 3
    task = make_task("b3-series")
    now = _noon_today()
    for k in range(3):
        finish(task, "completed", created=now - timedelta(days=5, minutes=k), wait=1, duration=2)

    assert history_prune()["executions"] == 3

    summary = metrics_summary(range_key="7d", now=now)
    series = metrics_series(range_key="7d", now=now)
    charted = sum(series["executions"]["completed"])
    assert charted == summary["executions"]["byStatus"]["completed"]


@pytest.mark.django_db
def test_setting_a_runs_status_in_the_admin_does_not_bypass_the_counters(client, admin_user, make_task):
    """An operator "fixes" a stuck run in the admin by setting its status to
    failed. The admin saves the row directly: no finish, so neither the
    Prometheus counter nor the daily rollup ever counts the run, while the
    1h summary (rows) does. Either the admin must not offer the field, or
    the change must go through the engine's finish."""
    task = make_task("b3-admin")
    execution = Execution.objects.create(task=task, status="running", definition={"taskId": "b3-admin"},
                                         started_at=timezone.now())
    client.force_login(admin_user)
    url = f"/admin/orchestration/execution/{execution.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: form[name].value() if form[name].value() is not None else "" for name in form.fields}
    data.update({
        "task": task.pk, "status": "failed",
        "node_runs-TOTAL_FORMS": "0", "node_runs-INITIAL_FORMS": "0",
        "node_runs-MIN_NUM_FORMS": "0", "node_runs-MAX_NUM_FORMS": "1000",
    })
    for key, value in list(data.items()):
        if isinstance(value, dict | list):
            data[key] = json.dumps(value)
    client.post(url, data)
    execution.refresh_from_db()
    rows_say_failed = metrics_summary(range_key="1h")["executions"]["byStatus"]["failed"]
    counted = execution_totals().by_status.get("failed", 0)
    # The truth must be the same everywhere: the run failed once, or it is still running.
    assert (execution.status, rows_say_failed, counted) in {("running", 0, 0), ("failed", 1, 1)}
