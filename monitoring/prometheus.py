"""The /metrics endpoint's content, read from the database at scrape time.

Counters add the daily rollups of pruned executions to the live rows, so
they keep growing across retention pruning.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

from django.db.models import Count
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from monitoring.models import Alert, AlertStatus, DailyRollup
from monitoring.retention import DURATION_BUCKETS, FINAL, histogram_buckets
from monitoring.selectors import schedule_lags, workers_alive


class OrchestratorCollector:
    def collect(self) -> Iterator[Metric]:
        from orchestration.models import Execution

        by_status: Counter[str] = Counter()
        buckets: Counter[str] = Counter()
        duration_sum = 0.0
        for rollup in DailyRollup.objects.all():
            by_status.update(rollup.counts)
            buckets.update(rollup.duration_buckets)
            duration_sum += rollup.duration_sum
        for row in Execution.objects.filter(status__in=FINAL).values("status").annotate(n=Count("id")):
            by_status[row["status"]] += row["n"]
        durations = [
            (finished - started).total_seconds()
            for started, finished in Execution.objects.filter(
                status__in=FINAL, started_at__isnull=False, finished_at__isnull=False
            ).values_list("started_at", "finished_at")
            if started is not None and finished is not None
        ]
        buckets.update(histogram_buckets(durations))
        duration_sum += sum(durations)

        executions = CounterMetricFamily(
            "webauto_executions", "Finished executions by final status.", labels=["status"]
        )
        for status in FINAL:
            executions.add_metric([status], by_status.get(status, 0))
        yield executions

        histogram = HistogramMetricFamily(
            "webauto_execution_duration_seconds", "Wall time of finished executions."
        )
        histogram.add_metric(
            [], [(str(float(b)), buckets.get(str(b), 0)) for b in DURATION_BUCKETS] + [("+Inf", buckets.get("+Inf", 0))],
            sum_value=duration_sum,
        )
        yield histogram

        active = Counter(dict(
            Execution.objects.filter(status__in=["pending", "queued", "running"])
            .values_list("status").annotate(n=Count("id")).values_list("status", "n")
        ))
        yield GaugeMetricFamily("webauto_queue_depth", "Executions waiting to start (pending or queued).",
                                value=active["pending"] + active["queued"])
        yield GaugeMetricFamily("webauto_executions_running", "Executions running now.", value=active["running"])

        now = timezone.now()
        lags = schedule_lags(since=now - timedelta(hours=1), until=now)
        lag = GaugeMetricFamily(
            "webauto_schedule_lag_seconds", "Lag of scheduled runs fired in the last hour.", labels=["stat"]
        )
        lag.add_metric(["max"], max((value for _, value in lags), default=0.0))
        lag.add_metric(["avg"], sum(value for _, value in lags) / len(lags) if lags else 0.0)
        yield lag

        open_alerts = Counter(dict(
            Alert.objects.exclude(status=AlertStatus.RESOLVED).values_list("rule").annotate(n=Count("id"))
            .values_list("rule", "n")
        ))
        alerts = GaugeMetricFamily("webauto_alerts_open", "Unresolved alerts by rule.", labels=["rule"])
        for rule in ("failure", "slow", "schedule", "stuck"):
            alerts.add_metric([rule], open_alerts.get(rule, 0))
        yield alerts

        alive = workers_alive(now=now)
        if alive is not None:
            yield GaugeMetricFamily("webauto_workers_alive", "Workers with a recent heartbeat.", value=alive)


def metrics_text() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(OrchestratorCollector())  # type: ignore[arg-type]
    return generate_latest(registry)
