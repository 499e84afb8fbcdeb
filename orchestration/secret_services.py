"""Writes for secrets. Events name the secret, never its value."""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction

from orchestration import events
from orchestration.errors import DefinitionInvalid
from orchestration.models import Secret

# A secret is used as ${name}: the name must be a plain reference root.
SECRET_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,199}$")


def _check(*, name: str | None = None, value: str | None = None) -> None:
    errors = []
    if name is not None and not SECRET_NAME_RE.match(name):
        errors.append(
            {
                "path": "name",
                "message": "name must start with a letter or '_' and contain only letters, digits, '-' or '_'",
            }
        )
    if value is not None and value == "":
        errors.append({"path": "value", "message": "value must not be empty"})
    if errors:
        raise DefinitionInvalid(errors)


def secret_create(*, name: str, value: str, description: str = "") -> Secret:
    _check(name=name, value=value)
    try:
        with transaction.atomic():
            secret = Secret.objects.create(name=name, value=value, description=description)
            events.emit("secret.created", data={"name": name})
    except IntegrityError:
        raise DefinitionInvalid(
            [{"path": "name", "message": f'a secret named "{name}" already exists'}]
        ) from None
    return secret


def secret_update(
    *, secret: Secret, value: str | None = None, description: str | None = None
) -> Secret:
    """Change the value and/or description (the name is fixed: tasks refer to it)."""
    _check(value=value)
    with transaction.atomic():
        if value is not None:
            secret.value = value
        if description is not None:
            secret.description = description
        secret.save()
        events.emit("secret.updated", data={"name": secret.name})
    return secret


def secret_delete(*, secret: Secret) -> None:
    with transaction.atomic():
        events.emit("secret.deleted", data={"name": secret.name})
        secret.delete()
