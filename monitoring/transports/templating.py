"""Rendering of the operator-written templates in channel configs (email
subject, webhook JSON body) and of ``${secret}`` references in headers."""

from __future__ import annotations

import re
from typing import Any

from django.template import Context, Engine, TemplateSyntaxError

from monitoring.transports import TransportError
from orchestration.credentials import MASK, SECRET_REF, SENSITIVE_HEADER  # noqa: F401  (shared names)

# The Django template language: no code execution, and variables cannot call
# methods with arguments, so operators' templates are safe to render.
_engine = Engine(autoescape=False)
_WHOLE_VARIABLE = re.compile(r"^\{\{\s*([A-Za-z_][\w.]*)\s*\}\}$")


def render_text(template: str, context: dict[str, Any]) -> str:
    try:
        return _engine.from_string(template).render(Context(context, autoescape=False))
    except TemplateSyntaxError as exc:
        raise TransportError(f"template {template!r} is invalid: {exc}", permanent=True) from None


def _lookup(path: str, context: dict[str, Any]) -> Any:
    value: Any = context
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isascii() and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def render_json(template: Any, context: dict[str, Any]) -> Any:
    """Render every string in a JSON template. A string that is just
    ``{{ path }}`` is replaced by the value itself, so numbers, lists and
    objects keep their JSON type."""
    if isinstance(template, dict):
        return {str(k): render_json(v, context) for k, v in template.items()}
    if isinstance(template, list):
        return [render_json(v, context) for v in template]
    if isinstance(template, str):
        whole = _WHOLE_VARIABLE.match(template)
        if whole:
            return _lookup(whole.group(1), context)
        return render_text(template, context)
    return template


def resolve_secrets(value: str) -> str:
    """Replace ``${name}`` with the value of the secret called ``name``."""
    from orchestration.models import Secret

    names = set(SECRET_REF.findall(value))
    if not names:
        return value
    found = dict(Secret.objects.filter(name__in=names).values_list("name", "value"))
    missing = sorted(names - found.keys())
    if missing:
        raise TransportError(
            f"secret {', '.join(repr(m) for m in missing)} is not defined (add it under Secrets)",
            permanent=True,
        )
    return SECRET_REF.sub(lambda m: found[m.group(1)], value)


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    """Headers as they may be stored or shown: ``${secret}`` references stay
    unresolved, literal values of credential-like headers are masked."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        text = str(value)
        if SENSITIVE_HEADER.search(name) and not SECRET_REF.search(text):
            text = MASK
        out[name] = text
    return out
