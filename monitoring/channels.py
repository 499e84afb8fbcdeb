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

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from orchestration import blocks, contract
from orchestration.definition_checks import join
from orchestration.references import with_parameters

SCHEMA_PATH = Path(__file__).resolve().parent / "notification-channels.schema.json"


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


def parse_channel(
    entry: Any, path: str = "", *, parameters: Mapping[str, Any] | None = None
) -> tuple[ParsedChannel | None, list[dict[str, str]]]:
    """One channel ``{"type", "config", "actions"?, "name"?}`` checked: the
    parsed channel, or None and every problem with its JSON path under
    ``path``. Structure is the block schema's (messages from its
    ``errorMessage``s, see ``orchestration.contract``); addresses are checked
    with Django's EmailValidator."""
    if isinstance(entry, Mapping) and isinstance(entry.get("config"), Mapping):
        try:
            config = with_parameters(dict(entry["config"]), parameters or {})
        except LookupError as exc:
            return None, [{"path": join(path, "config"), "message": str(exc)}]
        if isinstance(config.get("recipients"), list):
            # ``["${adminEmails}"]`` with a list parameter becomes that list.
            flat: list[Any] = []
            for item in config["recipients"]:
                flat.extend(item if isinstance(item, list) else [item])
            config["recipients"] = flat
        entry = {**entry, "config": config}
    errors = contract.problems_from(blocks.validator(SCHEMA_PATH, "items"), entry, prefix=path)
    if errors or not isinstance(entry, Mapping):
        return None, errors
    config = entry["config"]
    validate = EmailValidator()
    for i, address in enumerate(config.get("recipients") or []):
        if "${" in address:
            continue  # resolved at delivery time
        try:
            validate(address)
        except ValidationError:
            where = join(join(join(path, "config"), "recipients"), i)
            errors.append({"path": where, "message": f"{address!r} is not an email address"})
    if errors:
        return None, errors
    channel = ParsedChannel(entry["type"], config, list(entry.get("actions") or []), str(entry.get("name") or ""))
    return channel, []


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
        parsed, errors = parse_channel(entry, join(path, index), parameters=parameters)
        out.errors.extend(errors)
        if parsed is not None:
            out.channels.append(parsed)
    if out.errors:
        out.channels = []
    return out
