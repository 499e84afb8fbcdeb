"""Reads for the dashboard page beyond the metrics in monitoring.selectors:
the runs that went wrong (failed, timed out, or completed with node errors)
and which of their nodes failed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import F

# A run "with errors" finished, but some of its nodes failed (continue-on-error).
PROBLEM_STATUSES = ("failed", "timed_out", "completed_with_errors")
NODE_FAILURE_STATUSES = ("failed", "timed_out")


@dataclass(frozen=True)
class ProblemRun:
    """An execution that failed or completed with errors, and the ids of its
    failed nodes in node order (their errors are on the execution page, where
    secrets are masked)."""

    execution: Any
    failed_nodes: list[str]


def executions_recent_problems(*, since: datetime, limit: int = 10) -> list[ProblemRun]:
    """The latest ``limit`` executions created since ``since`` that failed,
    timed out or completed with errors, newest finish first."""
    from orchestration.models import Execution, NodeRun

    executions = list(
        Execution.objects.filter(status__in=PROBLEM_STATUSES, created_at__gte=since)
        .select_related("task")
        .order_by(F("finished_at").desc(nulls_last=True), "-id")[:limit]
    )
    failed: dict[int, list[str]] = {e.pk: [] for e in executions}
    rows = NodeRun.objects.filter(execution_id__in=list(failed), status__in=NODE_FAILURE_STATUSES)
    for execution_id, node_id in rows.order_by("id").values_list("execution_id", "node_id"):
        failed[execution_id].append(node_id)
    return [ProblemRun(execution=e, failed_nodes=failed[e.pk]) for e in executions]


def outcome_counts(summary: dict[str, Any]) -> dict[str, int]:
    """From ``monitoring.selectors.metrics_summary``: runs that completed
    cleanly, with errors, or failed (incl. timed out), and failed nodes."""
    by_status = summary["executions"]["byStatus"]
    return {
        "clean": by_status.get("completed", 0),
        "with_errors": by_status.get("completed_with_errors", 0),
        "failed": by_status.get("failed", 0) + by_status.get("timed_out", 0),
        "node_failures": sum(row["count"] for row in summary.get("nodeFailures", [])),
    }
