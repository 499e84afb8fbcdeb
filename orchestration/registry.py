"""The registry of node kinds (what a node's "workflow" key names).

A kind is a named unit of work: a JSON Schema for its config, a description of
its output, and ``run(config, input, context) -> dict``. Built-in kinds
register at start-up; stored step workflows are found through *providers*
(callables that look a name up elsewhere, e.g. in the database).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    from orchestration.context import RunContext

RunFunction = Callable[[dict[str, Any], Any, "RunContext"], dict[str, Any]]


class UnknownNodeKind(LookupError):
    """No node kind (built-in or stored step workflow) has that name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown workflow kind {name!r}")
        self.name = name


@dataclass(frozen=True)
class NodeKind:
    """A node kind: what a node's ``"workflow"`` key names in a task
    definition (the JSON keeps the seed's word). Its ``run`` takes (config,
    input, RunContext) and returns the node's output."""

    name: str
    run: RunFunction
    config_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    output_description: str = ""
    description: str = ""
    aliases: tuple[str, ...] = ()
    # Kinds that drive a browser; used for display and resource estimates.
    needs_browser: bool = False
    # A config that validates against config_schema, shown on the Workflows
    # page (None: the page shows the required properties only).
    example: dict[str, Any] | None = None


_kinds: dict[str, NodeKind] = {}
_aliases: dict[str, str] = {}
_providers: list[Callable[[str], NodeKind | None]] = []
_provider_names: list[Callable[[], Iterable[str]]] = []
_lock = threading.Lock()

# Modules whose import registers the kinds that ship with the product. Apps
# add theirs in their AppConfig.ready() through ``register``.
BUILTIN_KIND_MODULES: list[str] = ["orchestration.kinds"]


def register(kind: NodeKind) -> NodeKind:
    """Register ``kind`` under its name and aliases (re-registering replaces)."""
    with _lock:
        _kinds[kind.name] = kind
        for alias in kind.aliases:
            _aliases[alias] = kind.name
    return kind


def add_provider(
    provider: Callable[[str], NodeKind | None], *, names: Callable[[], Iterable[str]] | None = None
) -> None:
    """Add a lookup used for names that no registered kind or alias has.

    ``names`` lists the names the provider answers today (e.g. the stored
    step workflows), so pages can offer them (``provided_kinds``) without
    knowing where they are kept."""
    with _lock:
        if provider not in _providers:
            _providers.append(provider)
        if names is not None and names not in _provider_names:
            _provider_names.append(names)


def get(name: str) -> NodeKind:
    """Return the kind for ``name`` (a name or an alias) or raise UnknownNodeKind."""
    kind = _kinds.get(_aliases.get(name, name))
    if kind is not None:
        return kind
    for provider in list(_providers):
        found = provider(name)
        if found is not None:
            return found
    raise UnknownNodeKind(name)


def exists(name: str) -> bool:
    try:
        get(name)
    except UnknownNodeKind:
        return False
    return True


def all_kinds() -> list[NodeKind]:
    """Registered kinds (not provider-backed ones), sorted by name."""
    return sorted(_kinds.values(), key=lambda k: k.name)


def provided_kinds() -> list[NodeKind]:
    """The kinds the providers offer under names no registered kind has,
    sorted by name (a name a provider lists but no longer resolves is left out)."""
    names = {name for lister in list(_provider_names) for name in lister()} - set(_kinds)
    found = []
    for name in sorted(names):
        try:
            found.append(get(name))
        except UnknownNodeKind:
            continue
    return found


def example_node(kind: NodeKind) -> dict[str, Any]:
    """A task-definition node using ``kind``: its ``example`` config, or, for a
    kind without one, its required config properties as ``<name>`` placeholders."""
    config = kind.example
    if config is None:
        required = kind.config_schema.get("required") or []
        config = {str(name): f"<{name}>" for name in required}
    return {"id": kind.name.split("-")[0], "workflow": kind.name, "config": config}


def aliases() -> dict[str, str]:
    return dict(_aliases)


def load_builtin_kinds() -> None:
    for module in [*BUILTIN_KIND_MODULES, *settings.WEBAUTO_EXTRA_KIND_MODULES]:
        importlib.import_module(module)
