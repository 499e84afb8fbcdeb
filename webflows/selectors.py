"""Reads for step workflows, browser sessions and the sandbox."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404

from webflows.models import BrowserSession, Workflow


def step_workflow_detail(workflow: Workflow) -> dict[str, Any]:
    return {
        **workflow.as_definition(),
        "needsBrowser": workflow.needs_browser,
        "createdAt": workflow.created_at.isoformat(),
        "updatedAt": workflow.updated_at.isoformat(),
    }


def step_workflow_get(*, name: str) -> Workflow:
    return get_object_or_404(Workflow, name=name)


def browser_session_detail(session: BrowserSession) -> dict[str, Any]:
    """A stored session without cookie values (they are credentials)."""
    domains = sorted({str(c.get("domain", "")) for c in session.cookies if isinstance(c, dict)})
    return {
        "site": session.site,
        "cookieNames": session.cookie_names,
        "domains": domains,
        "cookieCount": len(session.cookies),
        "source": session.source,
        "updatedAt": session.updated_at.isoformat(),
    }
