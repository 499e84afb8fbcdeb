"""Generic node kinds that ship with the engine."""

from __future__ import annotations

from typing import Any

from orchestration.context import RunContext
from orchestration.registry import NodeKind, register


def _echo(config: dict[str, Any], input: Any, context: RunContext) -> dict[str, Any]:
    output: dict[str, Any] = {}
    if isinstance(input, dict):
        output.update(input)
    elif input is not None:
        output["input"] = input
    output.update(config.get("output", {}))
    return output


def _delay(config: dict[str, Any], input: Any, context: RunContext) -> dict[str, Any]:
    context.sleep(float(config["seconds"]))
    return {"sleptSeconds": float(config["seconds"]), "input": input}


register(
    NodeKind(
        name="echo",
        run=_echo,
        description="Passes its input through, merged with the fields of config.output.",
        config_schema={
            "type": "object",
            "properties": {"output": {"type": "object", "description": "Fields added to the output."}},
            "additionalProperties": False,
        },
        output_description="The input object (if any) with config.output's fields added.",
        example={"output": {"greeting": "hello"}},
    )
)

register(
    NodeKind(
        name="delay",
        run=_delay,
        description="Waits for a number of seconds (stops at once when cancelled).",
        config_schema={
            "type": "object",
            "properties": {"seconds": {"type": "number", "minimum": 0, "maximum": 86400}},
            "required": ["seconds"],
            "additionalProperties": False,
        },
        output_description="{sleptSeconds, input}",
        example={"seconds": 2},
    )
)
