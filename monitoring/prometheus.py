"""The /metrics endpoint's content, read from the database at scrape time.

Counters (executions by status, the duration histogram) come from the
persisted running totals of ``monitoring.counters``, which only ever grow:
deleting tasks or executions and retention pruning never lower them. Gauges
are read from the live rows with one aggregate query each.
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

from monitoring.counters import DURATION_BUCKETS, execution_totals
from monitoring.models import Alert, AlertStatus
from monitoring.retention import FINAL
from monitoring.selectors import schedule_lag_stats, workers_alive


class OrchestratorCollector:
    def collect(self) -> Iterator[Metric]:
        from orchestration.models import Execution

        totals = execution_totals()
        by_status = totals.by_status
        buckets = totals.buckets
        duration_sum = totals.duration_sum

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
        lags = schedule_lag_stats(since=now - timedelta(hours=1), until=now)
        lag = GaugeMetricFamily(
            "webauto_schedule_lag_seconds", "Lag of scheduled runs fired in the last hour.", labels=["stat"]
        )
        lag.add_metric(["max"], lags["max"] or 0.0)
        lag.add_metric(["avg"], lags["avg"] or 0.0)
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
