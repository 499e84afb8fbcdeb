"""Checking a template document (the seed's template JSON) before it is stored.

Everything is checked at once and reported with JSON paths; workflow nodes
are checked by the same code as task definitions
(``orchestration.definitions.validate_nodes``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.utils.text import slugify

from orchestration.definitions import secret_exists_in_db, validate_channels, validate_nodes
from templates_app.parameters import NAME_RE, Error, check_declarations
from templates_app.substitution import extract_parameters
from templates_app.versions import Version, VersionError, parse_version

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,199}$")
# Ids that would clash with page addresses (/templates/new/).
RESERVED_IDS = frozenset({"new"})


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


def _text(doc: dict[str, Any], key: str, errors: list[Error]) -> str:
    value = doc.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        errors.append({"path": key, "message": "must be text"})
        return ""
    return value


def check_template(doc: Any, *, version_required: bool = False) -> tuple[CheckedTemplate | None, list[Error]]:
    """Validate a template document; returns the checked template or every error."""
    if not isinstance(doc, dict):
        return None, [{"path": "", "message": "a template must be a JSON object"}]
    errors: list[Error] = []

    template_id = doc.get("id")
    if template_id is None or template_id == "":
        template_id = slugify(_text(doc, "name", [])) or ""
        if not template_id:
            errors.append({"path": "id", "message": "is required (a slug such as weibo-monitoring-template)"})
    elif not isinstance(template_id, str) or not ID_RE.match(template_id):
        errors.append(
            {"path": "id", "message": "must be a slug of letters, digits, - and _ (at most 200 characters)"}
        )
    elif template_id in RESERVED_IDS:
        errors.append({"path": "id", "message": f"{template_id!r} is reserved; choose another id"})

    version = Version(1, 0, 0)
    if "version" in doc or version_required:
        try:
            version = parse_version(doc.get("version"))
        except VersionError as exc:
            errors.append({"path": "version", "message": str(exc)})

    name = _text(doc, "name", errors)
    if not name.strip() and not any(e["path"] == "name" for e in errors):
        errors.append({"path": "name", "message": "is required"})
    description = _text(doc, "description", errors)
    category = _text(doc, "category", errors)

    tags = doc.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
        errors.append({"path": "tags", "message": "must be a list of non-empty texts"})
        tags = []

    secrets = doc.get("secrets") or []
    if not isinstance(secrets, list) or not all(isinstance(s, str) and NAME_RE.match(s) for s in secrets):
        errors.append({"path": "secrets", "message": "must be a list of secret names"})
        secrets = []

    params = doc.get("parameters") or []
    param_errors = check_declarations(params)
    errors.extend(param_errors)
    if param_errors:
        params = [p for p in params if isinstance(p, dict) and isinstance(p.get("name"), str)] if isinstance(params, list) else []

    workflows = doc.get("workflows")
    if not isinstance(workflows, list) or not workflows:
        errors.append({"path": "workflows", "message": "a template needs at least one workflow"})
        workflows = workflows if isinstance(workflows, list) else []

    declared = {p["name"] for p in params}
    for index, secret in enumerate(secrets):
        if secret in declared:
            errors.append({"path": f"secrets[{index}]", "message": f"{secret!r} is also declared as a parameter"})

    channels = doc.get("notificationChannels")
    extracted = extract_parameters(workflows, declared=declared, secrets=set(secrets), channels=channels)
    names = declared | {p["name"] for p in extracted} | set(secrets)
    secret_exists = secret_exists_in_db()
    if workflows:
        errors.extend(
            validate_nodes(workflows, parameter_names=names, path="workflows", secret_exists=secret_exists)
        )
    if channels is not None:
        # Default channels of the tasks made from this template (an extension
        # of the seed's format; instantiate options replace them).
        errors.extend(
            validate_channels(
                channels, "notificationChannels", parameter_names=names, secret_exists=secret_exists
            )
        )

    if errors:
        return None, errors
    return (
        CheckedTemplate(
            template_id=template_id,
            version=version,
            name=name.strip(),
            description=description,
            category=category.strip(),
            tags=[t.strip() for t in tags],
            parameters=[dict(p) for p in params],
            extracted=extracted,
            secrets=list(secrets),
            workflows=workflows,
            notification_channels=channels,
            document=doc,
        ),
        [],
    )
