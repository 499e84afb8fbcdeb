"""Runs a stored step workflow as a node: validates the input, runs the
steps in order on the HTTP driver or in Chromium, resolves ``${...}``
references between steps, applies the login check, keeps the site's cookies."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
from django.conf import settings
from django.db import transaction

from orchestration.context import NodeCancelled, NodeError, RunContext
from orchestration.references import (
    SecretLookup,
    UnresolvedReference,
    find_references,
    redact,
    reference_root,
    resolve,
    secret_lookup_from_db,
)
from orchestration.schemavalues import whole_numbers_to_int
from webflows import html
from webflows.drivers import BrowserDriver, Driver, HttpDriver, playwright_error
from webflows.models import BrowserSession, Workflow
from webflows.operations import (
    BROWSER_OPERATIONS,
    IMPLEMENTATIONS,
    OPERATIONS,
    StepContext,
    step_target,
)

# Operations after which the page may have become a login page.
_NAVIGATING = {"goto", "click"}


def step_name(step: dict[str, Any], index: int) -> str:
    return str(step.get("id") or f"step{index}")


def validate_input(schema: dict[str, Any], value: dict[str, Any]) -> dict[str, Any]:
    """The workflow's input with schema defaults applied and whole-number
    floats of integer fields (2.0) made ints; every problem listed."""
    if not schema:
        return dict(value)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.absolute_path) or '(input)'}: {e.message}" for e in errors
        )
        raise NodeError(f"workflow input is invalid: {problems}", retryable=False)
    with_defaults = whole_numbers_to_int(schema, dict(value))
    for name, prop in (schema.get("properties") or {}).items():
        if name not in with_defaults and isinstance(prop, dict) and "default" in prop:
            with_defaults[name] = prop["default"]
    return with_defaults


def _login_page(driver: Driver, check: dict[str, Any]) -> bool:
    """Whether the current page is the login page the workflow's check describes."""
    pattern = check.get("urlPattern")
    if pattern and re.search(pattern, driver.current_url()):
        return True
    selector = check.get("selector")
    if selector:
        page = driver.html()
        return bool(page and html.select(html.parse(page), selector))
    return False


def _load_cookies(site: str) -> list[dict[str, Any]]:
    if not site:
        return []
    session = BrowserSession.objects.filter(site=site).first()
    return list(session.cookies) if session else []


def _save_cookies(site: str, cookies: list[dict[str, Any]]) -> None:
    with transaction.atomic():
        BrowserSession.objects.update_or_create(site=site, defaults={"cookies": cookies, "source": "captured"})


def run_step_workflow(workflow: Workflow, config: dict[str, Any], input: Any, context: RunContext) -> dict[str, Any]:
    """Run ``workflow`` with ``config`` as its input (the node's upstream
    output is ``${input...}``). Returns the steps' results and files."""
    parameters = validate_input(workflow.input_schema or {}, dict(config or {}))
    parameters.setdefault("input", input)
    secret_lookup = _prefetch_secrets(workflow, parameters)
    used_secrets: set[str] = set()
    folder = context.workdir / context.node_id
    folder.mkdir(parents=True, exist_ok=True)

    cookies = _load_cookies(workflow.session_site)
    driver: Driver = BrowserDriver(cookies) if workflow.needs_browser else HttpDriver(cookies)
    results: dict[str, Any] = {}
    steps_out: list[dict[str, Any]] = []
    ctx = StepContext(driver=driver, run=context, folder=folder)
    try:
        for index, raw_step in enumerate(workflow.steps, start=1):
            context.check_cancelled()
            op = raw_step.get("op", "")
            name = step_name(raw_step, index)
            label = f"step {index} ({op}{'' if name == f'step{index}' else ' ' + name})"
            try:
                step = resolve(
                    {k: v for k, v in raw_step.items() if k not in ("id", "op", "description")},
                    parameters=parameters,
                    outputs=results,
                    secret_lookup=secret_lookup,
                    used_secrets=used_secrets,
                )
            except UnresolvedReference as exc:
                raise NodeError(f"{label}: {exc}", retryable=False) from exc
            implementation = IMPLEMENTATIONS.get(op)
            if implementation is None:
                raise NodeError(f"{label}: unknown operation {op!r}", retryable=False)
            if step.get("skipIfLoggedIn") and workflow.login_check and not _login_page(driver, workflow.login_check):
                # A stored session already signed in: the login form is not there.
                result = {"skipped": True, "reason": "already logged in"}
                results[name] = result
                steps_out.append({"index": index, "id": name, "op": op, "result": result})
                context.log(f"{label} skipped: already logged in")
                continue
            step = whole_numbers_to_int(OPERATIONS[op], step)
            try:
                result = _call(implementation, step, ctx)
                if (
                    workflow.login_check
                    and op in _NAVIGATING
                    and step.get("checkLogin", True)
                    and _login_page(driver, workflow.login_check)
                ):
                    raise NodeError(
                        f"session expired: the page is a login page ({driver.current_url()}); "
                        f"sign in again or import fresh cookies for site {workflow.session_site or '(none)'!r}",
                        retryable=False,
                    )
            except NodeCancelled:
                raise
            except NodeError as exc:
                target = step_target(step)
                message = f"{label} failed{' on ' + target if target else ''}: {exc}"
                if driver.is_browser and op in BROWSER_OPERATIONS | _NAVIGATING | {"extract"}:
                    shot = _failure_screenshot(driver, ctx, index)
                    if shot:
                        message += f" (screenshot: {shot})"
                raise NodeError(redact(message, used_secrets), retryable=exc.retryable) from exc
            results[name] = result
            steps_out.append({"index": index, "id": name, "op": op, "result": result})
            context.log(f"{label} done")
        captured = driver.cookies()
        final_url = driver.current_url()
    finally:
        driver.close()
    # Saved only after the browser is closed: Playwright's sync API runs an event
    # loop in this thread, and Django refuses database calls while one runs.
    if workflow.save_session and workflow.session_site:
        _save_cookies(workflow.session_site, captured)

    output = {
        "workflow": workflow.name,
        "version": workflow.version,
        "url": final_url,
        "steps": steps_out,
        "results": results,
        "result": steps_out[-1]["result"] if steps_out else None,
        "files": ctx.files,
        "folder": str(folder),
    }
    return redact(output, used_secrets)


def _call(implementation: Any, step: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    """Run one operation, turning browser and file-system failures into NodeErrors
    (so the message gets the step's label like every other failure)."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        return implementation(step, ctx)
    except PlaywrightError as exc:
        raise playwright_error(exc, float(step.get("timeout", 15)), step_target(step)) from exc
    except OSError as exc:
        raise NodeError(f"file error: {exc}") from exc


def _prefetch_secrets(workflow: Workflow, parameters: dict[str, Any]) -> SecretLookup:
    """Look up, before any browser starts, the secrets the steps may reference
    (names that are neither input fields nor steps): no database calls can be
    made while Playwright's event loop runs."""
    steps = {step_name(step, i) for i, step in enumerate(workflow.steps, start=1) if isinstance(step, dict)}
    names = {reference_root(ref) for ref in find_references(workflow.steps)} - steps - set(parameters)
    from_db = secret_lookup_from_db()
    values = {name: from_db(name) for name in names if name}
    return values.get


def _failure_screenshot(driver: Driver, ctx: StepContext, index: int) -> str | None:
    """Keep what the page looked like when a browser step failed; returns
    its path relative to ``MEDIA_ROOT`` (the execution page shows it as an
    image through the signed-in ``ui:media-file`` view)."""
    path = ctx.folder / "failures" / f"execution-{ctx.run.execution_id}-step{index}.png"
    try:
        driver.screenshot(path, full_page=True)
    except Exception:  # the page may be gone (crash, closed); the step error matters more
        return None
    try:
        return str(path.resolve().relative_to(Path(settings.MEDIA_ROOT).resolve()))
    except ValueError:
        return str(path)
