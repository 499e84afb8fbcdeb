"""The ``notificationChannels`` block: its one validator and parser.

``parse_channels`` checks a list of channels wherever it comes from (a task
definition, a template's default channels, a template's instantiate options)
and ``parse_channel`` one channel (``/api/v1/channels/`` too), so they accept
and refuse the same channels with the same messages. This app registers the
block's schema (``notification-channels.schema.json``) and ``parse_channels``
with ``orchestration.blocks``.

``${...}`` references to the definition's parameters are substituted before
the config is checked (typed when the whole string is the reference, so
``["${adminEmails}"]`` with a list parameter becomes that list); what is
still a reference after that (a secret, or a template's declared parameter)
is resolved at delivery time and not checked here. Whether a reference names
something that exists is the core's check (``orchestration.definitions``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

SCHEMA_PATH = Path(__file__).resolve().parent / "notification-channels.schema.json"
KINDS = ("email", "webhook")
WEBHOOK_METHODS = ("POST", "PUT", "PATCH")
MAX_TIMEOUT_SECONDS = 300
_URL_RE = re.compile(r"^(https?://\S+|\$\{[^}]+\}\S*)$")


@dataclass
class ParsedChannel:
    """One checked channel: its kind, config (parameters substituted), actions
    and name ("" when the entry has none)."""

    kind: str
    config: dict[str, Any]
    actions: list[str]
    name: str


@dataclass
class ParsedChannels:
    """The channels of a block, in order, or every problem (``{"path", "message"}``)."""

    channels: list[ParsedChannel] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _with_parameters(value: Any, parameters: Mapping[str, Any]) -> Any:
    """``value`` with ``${param}`` references to the parameters substituted
    (typed when whole-string); other references stay. Raises LookupError for a
    path into a parameter that does not exist."""
    from orchestration import references

    def one(match: re.Match[str]) -> Any:
        ref = match.group(1).strip()
        if references.reference_root(ref) not in parameters:
            return None
        return references.lookup(ref, parameters=parameters, outputs={}, secret_lookup=lambda name: None)

    if isinstance(value, str):
        whole = references.REFERENCE_RE.fullmatch(value)
        if whole is not None:
            found = one(whole)
            return value if found is None else found
        return references.REFERENCE_RE.sub(
            lambda m: m.group(0) if (found := one(m)) is None else references.to_text(found), value
        )
    if isinstance(value, dict):
        return {k: _with_parameters(v, parameters) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_parameters(v, parameters) for v in value]
    return value


def _config_errors(kind: str, config: dict[str, Any], path: str) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []
    if kind == "email":
        recipients = config.get("recipients")
        if not isinstance(recipients, list) or not recipients:
            return [{"path": _join(path, "recipients"), "message": "recipients must be a non-empty list of email addresses"}]
        validate = EmailValidator()
        for i, address in enumerate(recipients):
            if isinstance(address, str) and "${" in address:
                continue  # resolved at delivery time
            try:
                validate(address if isinstance(address, str) else repr(address))
            except ValidationError:
                errors.append({"path": _join(_join(path, "recipients"), i), "message": f"{address!r} is not an email address"})
        if "subject" in config and not isinstance(config["subject"], str):
            errors.append({"path": _join(path, "subject"), "message": "subject must be a string"})
        return errors
    url = config.get("url")
    if not isinstance(url, str) or not _URL_RE.match(url):
        errors.append({"path": _join(path, "url"), "message": f"url must be an http(s) URL (got {url!r})"})
    method = config.get("method", "POST")
    if not isinstance(method, str) or method.upper() not in WEBHOOK_METHODS:
        errors.append({"path": _join(path, "method"), "message": f"method must be one of {', '.join(WEBHOOK_METHODS)} (got {method!r})"})
    headers = config.get("headers", {})
    if not isinstance(headers, Mapping) or not all(isinstance(v, str) for v in headers.values()):
        errors.append({"path": _join(path, "headers"), "message": "headers must be an object of strings"})
    timeout = config.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= MAX_TIMEOUT_SECONDS
    ):
        errors.append({"path": _join(path, "timeout"), "message": f"timeout must be a number of seconds above 0 and at most {MAX_TIMEOUT_SECONDS}"})
    return errors


def parse_channel(
    entry: Any, path: str = "", *, parameters: Mapping[str, Any] | None = None
) -> tuple[ParsedChannel | None, list[dict[str, str]]]:
    """One channel ``{"type", "config", "actions"?, "name"?}`` checked: the
    parsed channel, or None and every problem with its JSON path under ``path``."""
    if not isinstance(entry, Mapping):
        return None, [{"path": path, "message": "a notification channel must be an object"}]
    errors: list[dict[str, str]] = []
    kind = entry.get("type")
    if kind not in KINDS:
        errors.append({"path": _join(path, "type"), "message": f"channel type must be email or webhook (got {kind!r})"})
    actions = entry.get("actions")
    if actions is not None and (not isinstance(actions, list) or not all(isinstance(a, str) and a for a in actions)):
        errors.append({"path": _join(path, "actions"), "message": "actions must be a list of action names"})
    config_path = _join(path, "config")
    config = entry.get("config")
    if not isinstance(config, Mapping):
        return None, [*errors, {"path": config_path, "message": "config must be an object"}]
    try:
        config = _with_parameters(dict(config), parameters or {})
    except LookupError as exc:
        return None, [*errors, {"path": config_path, "message": str(exc)}]
    if isinstance(config.get("recipients"), list):
        # ``["${adminEmails}"]`` with a list parameter becomes that list.
        flat: list[Any] = []
        for item in config["recipients"]:
            flat.extend(item if isinstance(item, list) else [item])
        config["recipients"] = flat
    if kind in KINDS:
        errors.extend(_config_errors(str(kind), config, config_path))
    if errors:
        return None, errors
    name = str(entry.get("name") or "")
    return ParsedChannel(kind=str(kind), config=config, actions=list(actions or []), name=name), []


def parse_channels(
    entries: Any, path: str = "notificationChannels", parameters: Mapping[str, Any] | None = None
) -> ParsedChannels:
    """The one validator and parser of a ``notificationChannels`` block (see the
    module docstring); ``parameters`` are the definition's parameter values."""
    out = ParsedChannels()
    if not isinstance(entries, list):
        out.errors.append({"path": path, "message": "notificationChannels must be a list"})
        return out
    for index, entry in enumerate(entries):
        parsed, errors = parse_channel(entry, _join(path, index), parameters=parameters)
        out.errors.extend(errors)
        if parsed is not None:
            out.channels.append(parsed)
    if out.errors:
        out.channels = []
    return out
