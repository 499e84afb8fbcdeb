"""The registration point of a task definition's blocks.

A block is a top-level section of a task definition that a feature app owns:
``schedule`` (scheduling), ``notificationChannels`` (monitoring) and
``resourceRequirements`` (resources). Each app registers, in its
``AppConfig.ready()``, the block's JSON Schema (2020-12, self-contained) and
its parser: the one function that validates and parses the block wherever it
comes from (a task definition, a template, the block's own API).

The core composes the published task-definition schema from the registered
schemas (``orchestration.contract``) and, when it checks a definition, hands
each block to its parser instead of checking it itself, so every entry point
gives the same verdict with the same messages.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import jsonschema


class Parsed(Protocol):
    """What a block parser returns: at least every problem, ``{"path", "message"}``."""

    @property
    def errors(self) -> list[dict[str, str]]: ...


# parse(value, path, parameters=...) -> Parsed. ``path`` is the block's JSON
# path (the prefix of every problem); ``parameters`` are the definition's
# parameter values (None when they are only declared, as in a template).
BlockParser = Callable[..., Parsed]


@dataclass(frozen=True)
class Block:
    """A registered block: its key in a task definition, its JSON Schema and its parser."""

    name: str
    schema: dict[str, Any]
    parse: BlockParser


_BLOCKS: dict[str, Block] = {}


def register_block(name: str, schema: Mapping[str, Any], parse: BlockParser) -> None:
    """Register the block ``name`` (a task-definition key). Registering the
    same name again replaces it (``ready()`` may run more than once in tests)."""
    _BLOCKS[name] = Block(name=name, schema=dict(schema), parse=parse)


def load_schema(path: Path) -> dict[str, Any]:
    """A block schema file kept in its app's folder, as a dict."""
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


@cache
def validator(path: Path, subschema: str = "") -> jsonschema.Draft202012Validator:
    """The compiled validator of the block schema file ``path``, or of its
    top-level ``subschema`` (``"items"``), compiled once per process."""
    schema = load_schema(path)
    return jsonschema.Draft202012Validator(schema[subschema] if subschema else schema)


def normalise(name: str, value: Any) -> Any:
    """``value`` of the block ``name`` with whole-number floats in the fields
    its schema types as integers made ints (``"interval": 60.0`` -> ``60``),
    as for whole task definitions (``orchestration.definitions.
    normalise_definition``); unchanged when no block of that name is registered."""
    from orchestration.schemavalues import whole_numbers_to_int

    block = _BLOCKS.get(name)
    return value if block is None else whole_numbers_to_int(block.schema, value)


def registered() -> list[Block]:
    """Every registered block, in registration order."""
    return list(_BLOCKS.values())
