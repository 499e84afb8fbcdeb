"""What an execution needs: read from ``resourceRequirements`` or derived from
the size of its graph, as the seed design does.

Pure Python, no ORM. CPU is kept in millicores (thousandths of a core) so that
sums and comparisons are exact integers.

Complexity of a graph (used only when no explicit requirements are given) is

    nodes + dependency edges + 2 x nodes whose workflow drives a browser

so a chain of 5 HTTP nodes scores 9, and a 10-node graph of browser steps with
9 edges scores 39. The seed's multiplier is ``max(1, complexity / 10)``: small
graphs get the base (1 CPU, 256MB memory, 100MB disk, 10MB/s network); CPU is
rounded up to whole cores, memory and disk scale linearly (rounded up to a
whole MB); network stays at the base.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MB = 1024 * 1024
GB = 1024 * MB

BASE_CPU_MILLICORES = 1000
BASE_MEMORY_BYTES = 256 * MB
BASE_DISK_BYTES = 100 * MB
BASE_NETWORK_BYTES_PER_SECOND = 10 * MB
BROWSER_NODE_WEIGHT = 2
# A single execution may not ask for more than this many cores: a typo such as
# 2000 instead of 2 is caught at create time instead of waiting forever.
MAX_CPU = 1024
_KEYS = ("cpu", "memory", "disk", "network")


class RequirementsInvalid(ValueError):
    """``resourceRequirements`` has problems; ``errors`` lists each with its JSON path."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['path']}: {e['message']}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class Requirements:
    cpu_millicores: int
    memory_bytes: int
    disk_bytes: int
    network_bytes_per_second: int
    source: str  # "explicit" or "derived"
    complexity: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "cpu": self.cpu_millicores / 1000,
            "memory": format_bytes(self.memory_bytes),
            "disk": format_bytes(self.disk_bytes),
            "network": format_bytes(self.network_bytes_per_second) + "/s",
            "memoryBytes": self.memory_bytes,
            "diskBytes": self.disk_bytes,
            "networkBytesPerSecond": self.network_bytes_per_second,
            "source": self.source,
            "complexity": self.complexity,
        }


def format_bytes(value: float) -> str:
    """Short human form with the same binary units the parser reads: 1GB, 256MB, 1.5GB."""
    for unit, size in (("TB", 1024 * GB), ("GB", GB), ("MB", MB), ("KB", 1024)):
        if abs(value) >= size:
            amount = value / size
            text = f"{amount:.1f}".rstrip("0").rstrip(".")
            return f"{text}{unit}"
    return f"{int(value)}B"


def format_cpu(millicores: int) -> str:
    cores = millicores / 1000
    text = f"{cores:.2f}".rstrip("0").rstrip(".")
    return f"{text} CPU"


def _units() -> Any:
    from orchestration import units

    return units


@dataclass(frozen=True)
class ParsedBlock:
    """A parsed ``resourceRequirements`` block: the requirements, or every problem."""

    requirements: Requirements | None
    errors: list[dict[str, str]]


def parse_block(raw: Any, path: str = "resourceRequirements", parameters: Any = None) -> ParsedBlock:
    """The one validator and parser of a ``resourceRequirements`` block, wherever
    it comes from (a task definition, a template's instantiate options,
    ``POST /api/v1/resources/requirements/``); registered with
    ``orchestration.blocks`` by this app. ``parameters`` is unused (the block
    takes no references)."""
    try:
        return ParsedBlock(parse_requirements(raw, path=path), [])
    except RequirementsInvalid as exc:
        return ParsedBlock(None, exc.errors)


def parse_requirements(raw: Any, *, path: str = "resourceRequirements") -> Requirements:
    """Explicit requirements; keys left out take the base value. Raises
    ``RequirementsInvalid`` listing every bad field."""
    if not isinstance(raw, Mapping):
        raise RequirementsInvalid([{"path": path, "message": "must be an object with cpu, memory, disk, network"}])
    units = _units()
    errors: list[dict[str, str]] = []
    for key in raw:
        if key not in _KEYS:
            errors.append({"path": f"{path}.{key}", "message": f"unknown field; expected one of {', '.join(_KEYS)}"})
    cpu = BASE_CPU_MILLICORES
    if "cpu" in raw:
        value = raw["cpu"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            errors.append({"path": f"{path}.cpu", "message": f"must be a number of cores such as 1 or 0.5, not {value!r}"})
        elif value <= 0 or value > MAX_CPU:
            errors.append({"path": f"{path}.cpu", "message": f"must be more than 0 and at most {MAX_CPU} cores, not {value!r}"})
        else:
            cpu = max(1, round(value * 1000))
    sizes = {"memory": BASE_MEMORY_BYTES, "disk": BASE_DISK_BYTES}
    for key in sizes:
        if key in raw:
            value = raw[key]
            try:
                parsed = units.parse_size(value) if isinstance(value, str) else _bad_type(value, '"1GB" or "256MB"')
            except ValueError as exc:
                errors.append({"path": f"{path}.{key}", "message": str(exc)})
                continue
            if parsed <= 0:
                errors.append({"path": f"{path}.{key}", "message": f"must be more than zero, not {value!r}"})
            else:
                sizes[key] = parsed
    network = BASE_NETWORK_BYTES_PER_SECOND
    if "network" in raw:
        value = raw["network"]
        try:
            parsed = units.parse_rate(value) if isinstance(value, str) else _bad_type(value, '"50MB/s"')
        except ValueError as exc:
            errors.append({"path": f"{path}.network", "message": str(exc)})
        else:
            if parsed <= 0:
                errors.append({"path": f"{path}.network", "message": f"must be more than zero, not {value!r}"})
            else:
                network = parsed
    if errors:
        raise RequirementsInvalid(errors)
    return Requirements(cpu, sizes["memory"], sizes["disk"], network, source="explicit")


def _bad_type(value: Any, example: str) -> int:
    raise ValueError(f"must be a text such as {example}, not {value!r}")


def graph_complexity(workflows: list[Mapping[str, Any]], *, browser_kinds: set[str] | frozenset[str] = frozenset()) -> int:
    """The documented complexity score of a task graph (see the module docstring)."""
    nodes = len(workflows)
    edges = sum(len(node.get("dependsOn") or []) for node in workflows)
    browser = sum(1 for node in workflows if node.get("workflow") in browser_kinds)
    return nodes + edges + BROWSER_NODE_WEIGHT * browser


def derive_requirements(complexity: int) -> Requirements:
    multiplier = max(1.0, complexity / 10)
    return Requirements(
        cpu_millicores=math.ceil(BASE_CPU_MILLICORES * multiplier / 1000) * 1000,
        memory_bytes=math.ceil(BASE_MEMORY_BYTES * multiplier / MB) * MB,
        disk_bytes=math.ceil(BASE_DISK_BYTES * multiplier / MB) * MB,
        network_bytes_per_second=BASE_NETWORK_BYTES_PER_SECOND,
        source="derived",
        complexity=complexity,
    )


def requirements_for(definition: Mapping[str, Any], *, browser_kinds: set[str] | frozenset[str] = frozenset()) -> Requirements:
    """Requirements of a task definition: explicit when it has
    ``resourceRequirements``, otherwise derived from its graph."""
    complexity = graph_complexity(definition.get("workflows") or [], browser_kinds=browser_kinds)
    explicit = definition.get("resourceRequirements")
    if explicit:
        parsed = parse_requirements(explicit)
        return Requirements(
            parsed.cpu_millicores, parsed.memory_bytes, parsed.disk_bytes,
            parsed.network_bytes_per_second, source="explicit", complexity=complexity,
        )
    return derive_requirements(complexity)
