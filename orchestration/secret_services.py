"""Writes for secrets. Events name the secret, never its value."""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction

from orchestration import events
from orchestration.errors import DefinitionInvalid
from orchestration.models import Secret
from orchestration.secret_hosts import allowed_hosts_errors, normalize_hosts

# A secret is used as ${name}: the name must be a plain reference root.
SECRET_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,199}$")


# A shorter secret would be masked wherever its letters occur in output
# ("v" masks every v: "in********alid URL"), and is guessable anyway.
MIN_SECRET_LENGTH = 8


def value_errors(value: str) -> list[dict[str, str]]:
    """Errors for a secret value: empty, whitespace only, or shorter than MIN_SECRET_LENGTH characters."""
    if value == "":
        return [{"path": "value", "message": "value must not be empty"}]
    if not value.strip():
        return [
            {
                "path": "value",
                "message": "value must not be only whitespace: it would be masked wherever that many spaces appear",
            }
        ]
    if len(value) < MIN_SECRET_LENGTH:
        return [
            {
                "path": "value",
                "message": f"value must be at least {MIN_SECRET_LENGTH} characters long: a shorter secret "
                "would be masked wherever its letters appear in output",
            }
        ]
    return []


def _check(
    *, name: str | None = None, value: str | None = None, allowed_hosts: list[str] | None = None
) -> None:
    errors = []
    if name is not None and not SECRET_NAME_RE.match(name):
        errors.append(
            {
                "path": "name",
                "message": "name must start with a letter or '_' and contain only letters, digits, '-' or '_'",
            }
        )
    if value is not None:
        errors.extend(value_errors(value))
    if allowed_hosts is not None:
        errors.extend(allowed_hosts_errors(allowed_hosts))
    if errors:
        raise DefinitionInvalid(errors)


def secret_create(
    *, name: str, value: str, description: str = "", allowed_hosts: list[str] | None = None
) -> Secret:
    """Store a new secret; DefinitionInvalid naming the field for a bad name,
    value (under 8 characters) or ``allowedHosts``, or a name already taken."""
    _check(name=name, value=value, allowed_hosts=allowed_hosts)
    hosts = normalize_hosts(allowed_hosts or [])
    try:
        with transaction.atomic():
            secret = Secret.objects.create(name=name, value=value, description=description, allowed_hosts=hosts)
            events.emit("secret.created", data={"name": name})
    except IntegrityError:
        raise DefinitionInvalid(
            [{"path": "name", "message": f'a secret named "{name}" already exists'}]
        ) from None
    return secret


def secret_update(
    *,
    secret: Secret,
    value: str | None = None,
    description: str | None = None,
    allowed_hosts: list[str] | None = None,
) -> Secret:
    """Change the value, description and/or ``allowedHosts`` (the name is fixed: tasks refer to it)."""
    _check(value=value, allowed_hosts=allowed_hosts)
    with transaction.atomic():
        if value is not None:
            secret.value = value
        if description is not None:
            secret.description = description
        if allowed_hosts is not None:
            secret.allowed_hosts = normalize_hosts(allowed_hosts)
        secret.save()
        events.emit("secret.updated", data={"name": secret.name})
    return secret


def secret_delete(*, secret: Secret) -> None:
    with transaction.atomic():
        events.emit("secret.deleted", data={"name": secret.name})
        secret.delete()
