"""Literal credentials in channel configs (a ``signingSecret``, the value of
a credential-like header such as ``Authorization`` or ``X-Api-Key``) are
never shown back, nor a literal password in a channel URL
(``https://user:pw@host``) or a credential-like query parameter
(``?token=``), nor a header value mixing a literal with a reference
(``Bearer lit ${tok}``): every API response, page, export and admin form shows
``********`` instead, and a masked value sent back unchanged keeps what is
stored. ``${secret}`` references are shown as written (they are not the value).
"""

from __future__ import annotations

import copy
import re
from typing import Any
from urllib.parse import unquote, unquote_plus, urlsplit, urlunsplit

# ${name} references (not values), header names that carry credentials, and
# what is shown in place of a literal credential. Monitoring's templating uses
# the same three.
SECRET_REF = re.compile(r"\$\{\s*([A-Za-z_][\w.-]*)\s*\}")
SENSITIVE_HEADER = re.compile(r"authorization|token|secret|key|cookie|password|signature", re.I)
MASK = "********"


# Query parameters whose value is a credential (``?token=``, ``?api_key=``, ``?sig=``).
SENSITIVE_PARAM = re.compile(r"authorization|token|secret|key|cookie|passw|pwd|signature|sig|auth", re.I)
# An authentication scheme before a reference (``Bearer ${tok}``) is not a credential.
_SCHEME = re.compile(r"^\s*(bearer|basic|token|digest|apikey)\b", re.I)


def _literal(value: Any) -> bool:
    """Whether ``value`` holds literal credential text: anything but
    ``${name}`` references (and an authentication scheme word before one)."""
    text = str(value or "")
    if not text:
        return False
    if not SECRET_REF.search(text):
        return True
    rest = SECRET_REF.sub("", text)
    return bool(_SCHEME.sub("", rest).strip())


_QUERY_PARAM = re.compile(r"(^|&)([^=&]*)=([^&]*)")


def mask_url(url: Any) -> Any:
    """``url`` with a literal userinfo password (``https://user:********@host``)
    and the literal values of credential-like query parameters
    (:data:`SENSITIVE_PARAM`: ``?token=********``) masked; anything else as is."""
    if not isinstance(url, str) or not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc, query = parts.netloc, parts.query
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            user, password = userinfo.split(":", 1)
            if _literal(unquote(password)):
                netloc = f"{user}:{MASK}@{host}"

    def one(match: re.Match[str]) -> str:
        lead, name, value = match.groups()
        if SENSITIVE_PARAM.search(unquote_plus(name)) and _literal(unquote_plus(value)):
            return f"{lead}{name}={MASK}"
        return match.group(0)

    query = _QUERY_PARAM.sub(one, query)
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def mask_channel_config(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of a channel config with literal credentials replaced by ``********``."""
    out = dict(config)
    if isinstance(out.get("url"), str):
        out["url"] = mask_url(out["url"])
    if isinstance(out.get("headers"), dict):
        out["headers"] = {
            k: (MASK if SENSITIVE_HEADER.search(str(k)) and _literal(v) else v) for k, v in out["headers"].items()
        }
    if _literal(out.get("signingSecret")):
        out["signingSecret"] = MASK
    return out


class MaskedCredentialMoved(ValueError):
    """A ``********`` sent back for a channel whose destination changed (or
    that has no stored credential there): the stored credential is not
    carried to a new URL. ``path`` names the field, e.g. ``config.headers.X-Api-Key``."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


MOVED_MESSAGE = "a masked credential is kept only for an unchanged destination; re-enter the credential to send it to a new URL"


def channel_destination(kind: Any, config: dict[str, Any]) -> tuple[str, str, tuple[str, ...]]:
    """Where a channel sends to: ``(type, url, recipients)``. A stored credential
    is restored for a ``********`` only while this is unchanged."""
    recipients = config.get("recipients")
    listed = tuple(str(r) for r in recipients) if isinstance(recipients, list) else ()
    return (str(kind or ""), str(mask_url(config.get("url") or "")), listed)


def _masked_fields(config: dict[str, Any]) -> list[str]:
    fields = []
    if MASK in str(config.get("url") or ""):
        fields.append("url")
    if isinstance(config.get("headers"), dict):
        fields += [f"headers.{k}" for k, v in config["headers"].items() if v == MASK]
    if config.get("signingSecret") == MASK:
        fields.append("signingSecret")
    return fields


def unmask_channel_config(
    new: dict[str, Any],
    old: dict[str, Any],
    *,
    new_kind: Any = None,
    old_kind: Any = None,
    path: str = "config",
) -> dict[str, Any]:
    """``new`` with each ``********`` put back to the value ``old`` stores in
    the same field. Raises :class:`MaskedCredentialMoved` (naming
    ``<path>.<field>``) when ``new`` holds a mask but its destination
    (:func:`channel_destination`; kinds given or not, compared alike) differs
    from ``old``'s, or ``old`` has no value in that field: a masked credential
    is never sent to a URL it was not entered for."""
    masked = _masked_fields(new)
    if not masked:
        return dict(new)
    if channel_destination(new_kind, new) != channel_destination(old_kind, old):
        raise MaskedCredentialMoved(f"{path}.{masked[0]}", MOVED_MESSAGE)
    merged = dict(new)
    if MASK in str(merged.get("url") or ""):
        # The URL as shown (masked) stands for the stored one; any other change needs the credential re-entered.
        if merged["url"] != mask_url(old.get("url")):
            raise MaskedCredentialMoved(f"{path}.url", MOVED_MESSAGE)
        merged["url"] = old["url"]
    if isinstance(merged.get("headers"), dict):
        stored = old.get("headers")
        old_headers: dict[str, Any] = stored if isinstance(stored, dict) else {}
        headers = {}
        for key, value in merged["headers"].items():
            if value == MASK:
                if not old_headers.get(key) or old_headers.get(key) == MASK:
                    raise MaskedCredentialMoved(f"{path}.headers.{key}", "no stored value to keep; enter the credential")
                value = old_headers[key]
            headers[key] = value
        merged["headers"] = headers
    if merged.get("signingSecret") == MASK:
        if not old.get("signingSecret") or old.get("signingSecret") == MASK:
            raise MaskedCredentialMoved(f"{path}.signingSecret", "no stored value to keep; enter the credential")
        merged["signingSecret"] = old["signingSecret"]
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
    ``stored`` channel with the same destination (type, URL, recipients;
    the same name preferred when several match), never by position. Raises
    :class:`MaskedCredentialMoved` (path ``notificationChannels[i].config.<field>``)
    for a mask whose channel has no stored twin."""
    out = copy.deepcopy(definition)
    old_channels = [
        c for c in _channels(stored) if isinstance(c, dict) and isinstance(c.get("config"), dict)
    ]
    for index, channel in enumerate(_channels(out)):
        if not isinstance(channel, dict) or not isinstance(channel.get("config"), dict):
            continue
        config = channel["config"]
        path = f"notificationChannels[{index}].config"
        if not _masked_fields(config):
            continue
        wanted = channel_destination(channel.get("type"), config)
        twins = [c for c in old_channels if channel_destination(c.get("type"), c["config"]) == wanted]
        if not twins:
            raise MaskedCredentialMoved(f"{path}.{_masked_fields(config)[0]}", MOVED_MESSAGE)
        named = [c for c in twins if c.get("name") == channel.get("name")]
        old = (named or twins)[0]
        channel["config"] = unmask_channel_config(
            config, old["config"], new_kind=channel.get("type"), old_kind=old.get("type"), path=path
        )
    return out
