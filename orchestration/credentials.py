"""Literal credentials in channel configs (a ``signingSecret``, the value of
a credential-like header such as ``Authorization`` or ``X-Api-Key``) are
never shown back: every API response, page, export and admin form shows
``********`` instead, and a masked value sent back unchanged keeps what is
stored. ``${secret}`` references are shown as written (they are not the value).
"""

from __future__ import annotations

import copy
import re
from typing import Any

# ${name} references (not values), header names that carry credentials, and
# what is shown in place of a literal credential. Monitoring's templating uses
# the same three.
SECRET_REF = re.compile(r"\$\{\s*([A-Za-z_][\w.-]*)\s*\}")
SENSITIVE_HEADER = re.compile(r"authorization|token|secret|key|cookie|password|signature", re.I)
MASK = "********"


def _literal(value: Any) -> bool:
    return bool(value) and not SECRET_REF.search(str(value))


def mask_channel_config(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of a channel config with literal credentials replaced by ``********``."""
    out = dict(config)
    if isinstance(out.get("headers"), dict):
        out["headers"] = {
            k: (MASK if SENSITIVE_HEADER.search(str(k)) and _literal(v) else v) for k, v in out["headers"].items()
        }
    if _literal(out.get("signingSecret")):
        out["signingSecret"] = MASK
    return out


def unmask_channel_config(new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """``new`` with each ``********`` that stands where ``old`` has a value put back to that value."""
    merged = dict(new)
    if isinstance(merged.get("headers"), dict):
        stored = old.get("headers")
        old_headers: dict[str, Any] = stored if isinstance(stored, dict) else {}
        merged["headers"] = {k: (old_headers.get(k, v) if v == MASK else v) for k, v in merged["headers"].items()}
    if merged.get("signingSecret") == MASK:
        merged["signingSecret"] = old.get("signingSecret", "")
    return merged


def _channels(definition: Any) -> list[Any]:
    channels = definition.get("notificationChannels") if isinstance(definition, dict) else None
    return channels if isinstance(channels, list) else []


def mask_definition(definition: dict[str, Any]) -> dict[str, Any]:
    """A copy of a task definition whose ``notificationChannels[*].config`` are masked."""
    out = copy.deepcopy(definition)
    for channel in _channels(out):
        if isinstance(channel, dict) and isinstance(channel.get("config"), dict):
            channel["config"] = mask_channel_config(channel["config"])
    return out


def unmask_definition(definition: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """``definition`` with masked channel credentials taken back from the
    ``stored`` definition's channel at the same position."""
    out = copy.deepcopy(definition)
    old_channels = _channels(stored)
    for index, channel in enumerate(_channels(out)):
        if index >= len(old_channels) or not isinstance(channel, dict) or not isinstance(channel.get("config"), dict):
            continue
        old = old_channels[index]
        if isinstance(old, dict) and isinstance(old.get("config"), dict):
            channel["config"] = unmask_channel_config(channel["config"], old["config"])
    return out
