"""Writes for step workflows and browser sessions (validation included)."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
from django.db import IntegrityError, transaction

from orchestration.errors import DefinitionInvalid
from orchestration.references import REFERENCE_RE, UnresolvedReference, find_references, parse_path
from orchestration.urlpolicy import url_problems
from webflows.models import BrowserSession, Workflow
from webflows.operations import OPERATIONS

Error = dict[str, str]
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
DEFINITION_KEYS = {
    "name",
    "version",
    "description",
    "inputSchema",
    "steps",
    "loginCheck",
    "session",
    "browser",
}


def _json_path(base: str, parts: Any) -> str:
    path = base
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def step_workflow_definition_errors(doc: Any) -> list[Error]:
    """Every problem of a step workflow definition, each with its JSON path."""
    if not isinstance(doc, dict):
        return [{"path": "", "message": "a workflow definition is a JSON object"}]
    errors: list[Error] = []
    for key in sorted(set(doc) - DEFINITION_KEYS):
        errors.append(
            {
                "path": key,
                "message": f"unknown field (allowed: {', '.join(sorted(DEFINITION_KEYS))})",
            }
        )
    name = doc.get("name")
    if not isinstance(name, str) or not _SLUG.match(name):
        errors.append({"path": "name", "message": "required: lowercase letters, digits and dashes"})
    for key in ("version", "description"):
        if key in doc and not isinstance(doc[key], str):
            errors.append({"path": key, "message": "must be a string"})
    schema = doc.get("inputSchema") or {}
    params: set[str] = set()
    if not isinstance(schema, dict):
        errors.append({"path": "inputSchema", "message": "must be a JSON Schema object"})
    else:
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
            params = set((schema.get("properties") or {}).keys())
        except jsonschema.SchemaError as exc:
            errors.append(
                {"path": _json_path("inputSchema", exc.absolute_path), "message": exc.message}
            )
    errors.extend(_step_errors(doc.get("steps"), params))
    check = doc.get("loginCheck")
    if not check and isinstance(doc.get("steps"), list):
        for index, step in enumerate(doc["steps"]):
            if isinstance(step, dict) and step.get("skipIfLoggedIn"):
                errors.append(
                    {
                        "path": f"steps[{index}].skipIfLoggedIn",
                        "message": "needs the workflow's loginCheck (it tells whether the page is the login page)",
                    }
                )
    if check is not None:
        if not isinstance(check, dict) or not (check.get("selector") or check.get("urlPattern")):
            errors.append({"path": "loginCheck", "message": "needs a selector or a urlPattern"})
        elif check.get("urlPattern"):
            try:
                re.compile(str(check["urlPattern"]))
            except re.error as exc:
                errors.append(
                    {"path": "loginCheck.urlPattern", "message": f"not a regular expression: {exc}"}
                )
    session = doc.get("session")
    if session is not None and (
        not isinstance(session, dict) or not isinstance(session.get("site"), str)
    ):
        errors.append(
            {"path": "session", "message": 'must be {"site": "<name>", "save": true|false}'}
        )
    if "browser" in doc and not isinstance(doc["browser"], bool):
        errors.append({"path": "browser", "message": "must be true or false"})
    return errors


def _step_errors(steps: Any, params: set[str]) -> list[Error]:
    if not isinstance(steps, list) or not steps:
        return [{"path": "steps", "message": "needs at least one step"}]
    errors: list[Error] = []
    earlier: set[str] = set()
    for index, step in enumerate(steps):
        path = f"steps[{index}]"
        if not isinstance(step, dict):
            errors.append({"path": path, "message": "a step is an object with an op"})
            continue
        op = step.get("op")
        if op not in OPERATIONS:
            errors.append(
                {
                    "path": f"{path}.op",
                    "message": f"unknown operation {op!r} (known: {', '.join(sorted(OPERATIONS))})",
                }
            )
            continue
        validator = jsonschema.Draft202012Validator(OPERATIONS[op])
        for error in sorted(validator.iter_errors(step), key=lambda e: list(e.absolute_path)):
            if isinstance(error.instance, str) and REFERENCE_RE.fullmatch(error.instance):
                continue  # a whole-string ${...} takes its value's type at run time
            errors.append({"path": _json_path(path, error.absolute_path), "message": error.message})
        errors.extend({"path": where, "message": message} for where, message in url_problems(step, path))
        for ref in find_references(step):
            try:
                root, parts = parse_path(ref)
            except UnresolvedReference as exc:
                errors.append({"path": path, "message": str(exc)})
                continue
            if parts and root not in earlier and root not in params and root != "input":
                errors.append(
                    {
                        "path": path,
                        "message": f"${{{ref}}} names no earlier step, input field or 'input'",
                    }
                )
        name = str(step.get("id") or f"step{index + 1}")
        if name in earlier:
            errors.append({"path": f"{path}.id", "message": f"duplicate step id {name!r}"})
        earlier.add(name)
    return errors


def _apply(workflow: Workflow, doc: dict[str, Any]) -> Workflow:
    session = doc.get("session") or {}
    workflow.name = doc["name"]
    workflow.version = doc.get("version") or "1.0.0"
    workflow.description = doc.get("description", "")
    workflow.input_schema = doc.get("inputSchema") or {}
    workflow.steps = doc["steps"]
    workflow.login_check = doc.get("loginCheck")
    workflow.session_site = session.get("site", "")
    workflow.save_session = bool(session.get("save", False))
    workflow.browser = bool(doc.get("browser", False))
    workflow.save()
    return workflow


def step_workflow_create(*, definition: dict[str, Any]) -> Workflow:
    errors = step_workflow_definition_errors(definition)
    if not errors and Workflow.objects.filter(name=definition["name"]).exists():
        errors.append(
            {"path": "name", "message": f"a workflow named {definition['name']!r} already exists"}
        )
    if errors:
        raise DefinitionInvalid(errors)
    try:
        with transaction.atomic():
            return _apply(Workflow(), definition)
    except IntegrityError:  # another request created the same name since our check
        raise DefinitionInvalid(
            [{"path": "name", "message": f"a workflow named {definition['name']!r} already exists"}]
        ) from None


def step_workflow_update(*, workflow: Workflow, definition: dict[str, Any]) -> Workflow:
    errors = step_workflow_definition_errors(definition)
    if (
        not errors
        and definition["name"] != workflow.name
        and Workflow.objects.filter(name=definition["name"]).exists()
    ):
        errors.append(
            {"path": "name", "message": f"a workflow named {definition['name']!r} already exists"}
        )
    if errors:
        raise DefinitionInvalid(errors)
    with transaction.atomic():
        return _apply(workflow, definition)


def step_workflow_import(*, definition: dict[str, Any]) -> tuple[Workflow, bool]:
    """Create or replace the workflow named in ``definition``; (workflow, created)."""
    existing = (
        Workflow.objects.filter(name=definition.get("name")).first()
        if isinstance(definition, dict)
        else None
    )
    if existing is not None:
        return step_workflow_update(workflow=existing, definition=definition), False
    return step_workflow_create(definition=definition), True


def parse_cookie_export(data: Any, *, default_domain: str = "") -> list[dict[str, Any]]:
    """Cookies from a browser export: a list of cookie objects (Playwright,
    EditThisCookie/Cookie-Editor), a Playwright storage state ``{"cookies": [...]}``,
    or a ``Cookie`` header string ``a=1; b=2`` (needs ``default_domain``)."""
    if isinstance(data, dict) and isinstance(data.get("cookies"), list):
        data = data["cookies"]
    if isinstance(data, str):
        if not default_domain:
            raise DefinitionInvalid(
                [{"path": "domain", "message": "a Cookie header string needs a domain"}]
            )
        pairs = [p.strip().split("=", 1) for p in data.split(";") if "=" in p]
        return [
            {"name": k.strip(), "value": v.strip(), "domain": default_domain, "path": "/"}
            for k, v in pairs
        ]
    if not isinstance(data, list):
        raise DefinitionInvalid(
            [
                {
                    "path": "cookies",
                    "message": "expected a list of cookies, a storage state or a Cookie header",
                }
            ]
        )
    cookies: list[dict[str, Any]] = []
    errors: list[Error] = []
    for index, cookie in enumerate(data):
        if not isinstance(cookie, dict) or not cookie.get("name") or "value" not in cookie:
            errors.append({"path": f"cookies[{index}]", "message": "a cookie needs name and value"})
            continue
        domain = cookie.get("domain") or cookie.get("host") or default_domain
        if not domain and not cookie.get("url"):
            errors.append(
                {"path": f"cookies[{index}].domain", "message": "a cookie needs a domain (or url)"}
            )
            continue
        cookies.append(
            {
                "name": str(cookie["name"]),
                "value": str(cookie["value"]),
                "domain": domain,
                "path": cookie.get("path") or "/",
                "expires": cookie.get("expires", cookie.get("expirationDate", -1)),
                "httpOnly": bool(cookie.get("httpOnly", False)),
                "secure": bool(cookie.get("secure", False)),
                "sameSite": cookie.get("sameSite") or "Lax",
            }
        )
    if errors:
        raise DefinitionInvalid(errors)
    return cookies


def browser_session_import(*, site: str, cookies: Any, domain: str = "") -> BrowserSession:
    if not site:
        raise DefinitionInvalid([{"path": "site", "message": "required"}])
    parsed = parse_cookie_export(cookies, default_domain=domain)
    session, _ = BrowserSession.objects.update_or_create(
        site=site, defaults={"cookies": parsed, "source": "import"}
    )
    return session
