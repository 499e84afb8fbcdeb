"""Makes stored step workflows resolvable by name through the registry."""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError

from orchestration.context import NodeError, RunContext
from orchestration.registry import NodeKind


def _run_stored(name: str):
    def run(config: dict[str, Any], input: Any, context: RunContext) -> dict[str, Any]:
        from webflows.models import Workflow
        from webflows.runner import run_step_workflow

        # Read at run time: an edit saved after the task was created applies to its next run.
        workflow = Workflow.objects.filter(name=name).first()
        if workflow is None:
            raise NodeError(f"step workflow {name!r} no longer exists", retryable=False)
        return run_step_workflow(workflow, config, input, context)

    return run


def stored_step_workflow_kind(name: str) -> NodeKind | None:
    """The kind for the stored step workflow called ``name``, if there is one."""
    from webflows.models import Workflow

    try:
        workflow = Workflow.objects.filter(name=name).first()
    except DatabaseError:  # tables not migrated yet (e.g. during migrate itself)
        return None
    if workflow is None:
        return None
    return NodeKind(
        name=workflow.name,
        run=_run_stored(workflow.name),
        config_schema=workflow.input_schema or {"type": "object"},
        output_description="{workflow, version, url, steps: [{index, id, op, result}], results: {stepId: result}, "
        "result (the last step's), files, folder}",
        description=workflow.description or f"Step workflow {workflow.name} v{workflow.version}",
        needs_browser=workflow.needs_browser,
    )


def stored_step_workflow_names() -> list[str]:
    """Names of the stored step workflows (empty before the tables exist)."""
    from webflows.models import Workflow

    try:
        return list(Workflow.objects.values_list("name", flat=True))
    except DatabaseError:
        return []
