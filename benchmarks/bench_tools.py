"""The cost of validating a tool call's arguments, and of a whole tool call.

Part 1 times the validators that could check tool arguments on three schemas (a small
one, a medium one, and the pydantic-made schema of an MCP server's tool with ``$defs``,
``$ref`` and ``anyOf``): ``jsonschema`` (pure Python), ``fastjsonschema`` (generated code,
drafts 4 to 7 only) and ``jsonschema-rs`` (used by llmspell), beside what llmspell itself
does per call. Part 2 times ``kernel.agents.invoke_tool`` of a no-op tool on memory
backends, which is what one model-driven tool call costs the kernel.

Run: python benchmarks/bench_tools.py      (pip install ".[bench]" for the comparisons)
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _timing import summarize, table, time_async, time_sync  # noqa: E402

from llmspell import Kernel  # noqa: E402
from llmspell.context import ExecutionContext  # noqa: E402
from llmspell.plugins.tools import FunctionTool  # noqa: E402

ROUNDS, INNER = 100, 200

SMALL = {"type": "object", "properties": {"expression": {"type": "string", "maxLength": 500}},
         "required": ["expression"], "additionalProperties": False}
MEDIUM = {"type": "object", "required": ["name", "count"], "additionalProperties": False,
          "properties": {"name": {"type": "string", "minLength": 2}, "count": {"type": "integer", "minimum": 0},
                         "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2},
                         "mode": {"anyOf": [{"type": "null"}, {"type": "string", "pattern": "^m"}]}}}
PYDANTIC = {
    "type": "object", "required": ["people"], "title": "registerArguments",
    "$defs": {
        "Address": {"type": "object", "required": ["street", "city"], "properties": {
            "street": {"type": "string"}, "city": {"type": "string"},
            "zip": {"anyOf": [{"type": "string", "pattern": "^\\d{5}$"}, {"type": "null"}], "default": None}}},
        "Person": {"type": "object", "required": ["name", "age"], "properties": {
            "name": {"type": "string", "minLength": 1}, "age": {"type": "integer", "minimum": 0, "maximum": 150},
            "address": {"anyOf": [{"$ref": "#/$defs/Address"}, {"type": "null"}], "default": None},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True}}},
        "Priority": {"enum": ["low", "high"], "type": "string"},
    },
    "properties": {"people": {"type": "array", "items": {"$ref": "#/$defs/Person"}},
                   "priority": {"$ref": "#/$defs/Priority", "default": "low"}},
}
CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("small", SMALL, {"expression": "6*7"}),
    ("medium", MEDIUM, {"name": "ok", "count": 1, "tags": ["a"], "mode": None}),
    ("pydantic model", PYDANTIC, {"people": [{"name": "Ada", "age": 36, "address": {"street": "1", "city": "Lyon",
                                   "zip": "69001"}, "tags": ["a", "b"]}, {"name": "Bo", "age": 3}],
                                  "priority": "high"}),
]


def llmspell_check(schema: dict[str, Any]) -> Any:
    """What llmspell runs per call: the compiled schema's check."""
    from llmspell.plugins.agents import schema as mod

    if hasattr(mod, "compile_schema"):
        compiled = mod.compile_schema(schema)
        return lambda value: compiled.problems(value)
    return lambda value: mod.errors(schema, value)  # the hand-written subset of earlier releases


def candidates(schema: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"llmspell (per call)": llmspell_check(schema)}
    try:
        import jsonschema

        validator = jsonschema.Draft202012Validator(schema)
        out["jsonschema is_valid"] = validator.is_valid
    except ImportError:
        pass
    try:
        import fastjsonschema

        out["fastjsonschema"] = fastjsonschema.compile(schema)
    except ImportError:
        pass
    except Exception as exc:  # fastjsonschema cannot compile every 2020-12 schema
        out["fastjsonschema"] = exc
    try:
        import jsonschema_rs

        out["jsonschema-rs is_valid"] = jsonschema_rs.validator_for(schema).is_valid
    except ImportError:
        pass
    return out


def validation_rows() -> list[list[Any]]:
    rows = []
    for label, schema, value in CASES:
        for name, check in candidates(schema).items():
            if isinstance(check, Exception):
                rows.append([label, name, "cannot compile", "-"])
                continue
            try:
                stats = summarize(time_sync(lambda c=check, v=value: c(v), rounds=ROUNDS, inner=INNER))
            except Exception as exc:  # the hand-written subset refuses $ref
                rows.append([label, name, f"refused: {type(exc).__name__}", "-"])
                continue
            rows.append([label, name, stats["median_us"], stats["p99_us"]])
    return rows


async def tool_call_rows() -> list[list[Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = {"state": {"backend": "memory"}, "sessions": {"backend": "memory"}, "events": {"backend": "memory"},
                    "artifacts": {"backend": "memory"}}
        async with Kernel(settings, data_dir=tmp, env={}) as kernel:
            ctx = ExecutionContext()
            for label, schema, value in CASES[:2]:
                try:
                    tool = FunctionTool(name=f"noop_{label}", fn=lambda **kw: None, spec=schema)
                except Exception as exc:
                    rows.append([label, f"refused: {exc}", "-"])
                    continue
                stats = summarize(await time_async(
                    lambda t=tool, v=value: kernel.agents.invoke_tool(t, v, ctx), rounds=ROUNDS, inner=INNER))
                rows.append([label, stats["median_us"], stats["p99_us"]])
    return rows


async def main() -> None:
    print(table("Validating one call's arguments (microseconds)", ["schema", "validator", "median", "p99"],
                validation_rows()))
    print(table("One tool call through kernel.agents.invoke_tool, memory backends (microseconds)",
                ["schema", "median", "p99"], await tool_call_rows()))


if __name__ == "__main__":
    asyncio.run(main())
