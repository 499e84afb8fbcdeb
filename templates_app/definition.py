"""Checking a template document (the seed's template JSON) before it is stored.

Everything is checked at once and reported with JSON paths: structure by the
published template schema, workflow nodes by the same code as task
definitions (``orchestration.definitions.validate_body``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils.text import slugify

from orchestration import contract
from orchestration.definition_checks import Scope, secret_exists_in_db
from orchestration.definitions import normalise_definition, validate_body
from templates_app.parameters import Error, check_declarations
from templates_app.substitution import extract_parameters
from templates_app.versions import Version, VersionError, parse_version


@dataclass
class CheckedTemplate:
    """A template document that passed every check, split into its parts."""

    template_id: str
    version: Version
    name: str
    description: str
    category: str
    tags: list[str]
    parameters: list[dict[str, Any]]
    extracted: list[dict[str, Any]]
    secrets: list[str]
    workflows: list[dict[str, Any]]
    notification_channels: list[dict[str, Any]] | None
    document: dict[str, Any] = field(default_factory=dict)


def check_template(doc: Any, *, version_required: bool = False) -> tuple[CheckedTemplate | None, list[Error]]:
    """Validate a template document; returns the checked template or every
    error. Structure is the published template schema's
    (``orchestration.contract``); parameter declarations and the version are
    parsed here (``templates_app.parameters``, ``templates_app.versions``), the
    default channels by their block's parser."""
    doc = normalise_definition(doc, "template-definition")  # 2.0 for an integer field is 2
    errors: list[Error] = contract.schema_problems(
        doc, "template-definition", skip=("parameters", "version", "notificationChannels")
    )
    if not isinstance(doc, dict):
        return None, errors

    name: str = doc["name"] if isinstance(doc.get("name"), str) else ""
    template_id = doc.get("id")
    if template_id is None or template_id == "":
        template_id = slugify(name) or ""
        if not template_id and not any(e["path"] == "name" for e in errors):
            errors.append({"path": "id", "message": "is required (a slug such as weibo-monitoring-template)"})

    version = Version(1, 0, 0)
    if "version" in doc or version_required:
        try:
            version = parse_version(doc.get("version"))
        except VersionError as exc:
            errors.append({"path": "version", "message": str(exc)})

    params = doc.get("parameters") or []
    param_errors = check_declarations(params)
    errors.extend(param_errors)
    if param_errors:
        params = [p for p in params if isinstance(p, dict) and isinstance(p.get("name"), str)] if isinstance(params, list) else []

    workflows: list[dict[str, Any]] = doc["workflows"] if isinstance(doc.get("workflows"), list) else []
    listed = doc.get("secrets")
    secrets = [s for s in listed if isinstance(s, str)] if isinstance(listed, list) else []
    declared = {p["name"] for p in params}
    for index, secret in enumerate(secrets):
        if secret in declared:
            errors.append({"path": f"secrets[{index}]", "message": f"{secret!r} is also declared as a parameter"})

    channels = doc.get("notificationChannels")
    extracted = extract_parameters(workflows, declared=declared, secrets=set(secrets), channels=channels)
    names = declared | {p["name"] for p in extracted} | set(secrets)
    # The same checks as a task's, with parameters declared only. Default
    # channels of the tasks made from this template are an extension of the
    # seed's format (instantiate options replace them).
    body = {"workflows": workflows, "notificationChannels": channels}
    errors += validate_body(body, Scope(names, secret_exists_in_db()), parameters=None)

    if errors:
        return None, errors
    return (
        CheckedTemplate(
            template_id=template_id,
            version=version,
            name=name.strip(),
            description=doc.get("description") or "",
            category=(doc.get("category") or "").strip(),
            tags=[t.strip() for t in doc.get("tags") or []],
            parameters=[dict(p) for p in params],
            extracted=extracted,
            secrets=list(secrets),
            workflows=workflows,
            notification_channels=channels,
            document=doc,
        ),
        [],
    )
