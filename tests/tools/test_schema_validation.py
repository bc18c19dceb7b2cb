"""Tool schemas: full JSON Schema (drafts 7, 2019-09, 2020-12) compiled once, every problem named."""

from __future__ import annotations

import enum
from typing import Any, Literal

import pytest

from llmspell.errors import ConfigError, ValidationError
from llmspell.plugins.agents._schema import SchemaReferenceError, compile_schema, json_path
from llmspell.plugins.agents.api import ToolCall
from llmspell.plugins.tools import FunctionTool, tool

D2020 = "https://json-schema.org/draft/2020-12/schema"
D2019 = "https://json-schema.org/draft/2019-09/schema"
D7 = "http://json-schema.org/draft-07/schema#"

# keyword -> (schema, a valid value, an invalid value): each one the hand-written subset refused
KEYWORDS: dict[str, tuple[dict[str, Any], Any, Any]] = {
    "allOf": ({"allOf": [{"type": "integer"}, {"minimum": 3}]}, 4, 2),
    "format": ({"type": "string", "format": "date-time"}, "2026-12-07T10:00:00Z", "yesterday"),
    "uniqueItems": ({"type": "array", "uniqueItems": True}, [1, 2], [1, 1]),
    "prefixItems": ({"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "items": False},
                    ["a", 1], ["a", "b"]),
    "patternProperties": ({"type": "object", "patternProperties": {"^x_": {"type": "integer"}},
                           "additionalProperties": False}, {"x_a": 1}, {"x_a": "1"}),
    "minProperties": ({"type": "object", "minProperties": 1}, {"a": 1}, {}),
    "maxProperties": ({"type": "object", "maxProperties": 1}, {"a": 1}, {"a": 1, "b": 2}),
    "dependentRequired": ({"type": "object", "dependentRequired": {"card": ["cvv"]}}, {"card": 1, "cvv": 2},
                          {"card": 1}),
    "if/then/else": ({"if": {"type": "integer"}, "then": {"minimum": 0}, "else": {"type": "string"}}, "a", -1),
    "not": ({"not": {"type": "null"}}, 0, None),
    "const": ({"const": "x"}, "x", "y"),
    "multipleOf": ({"type": "integer", "multipleOf": 5}, 10, 11),
    "contains": ({"type": "array", "contains": {"const": 1}, "minContains": 2}, [1, 1], [1, 2]),
    "propertyNames": ({"type": "object", "propertyNames": {"maxLength": 2}}, {"ab": 1}, {"abc": 1}),
    "unevaluatedProperties": ({"type": "object", "properties": {"a": {}}, "unevaluatedProperties": False},
                              {"a": 1}, {"a": 1, "b": 2}),
    "recursive $ref": ({"$defs": {"node": {"type": "object", "properties": {
        "v": {"type": "integer"}, "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}},
        "$ref": "#/$defs/node"}, {"v": 1, "kids": [{"v": 2, "kids": []}]}, {"v": 1, "kids": [{"v": "2"}]}),
    "$ref with siblings": ({"$defs": {"n": {"type": "integer"}}, "$ref": "#/$defs/n", "maximum": 5}, 5, 6),
    "$dynamicRef": ({"$dynamicAnchor": "T", "type": ["object", "integer"],
                     "properties": {"x": {"$dynamicRef": "#T"}}}, {"x": {"x": 1}}, {"x": {"x": "s"}}),
}


@pytest.mark.parametrize("keyword", sorted(KEYWORDS))
def test_every_2020_12_keyword_is_validated(keyword: str) -> None:
    schema, good, bad = KEYWORDS[keyword]
    compiled = compile_schema({"$schema": D2020, **schema})
    assert compiled.problems(good) == []
    assert compiled.problems(bad), f"{keyword}: {bad!r} was accepted"


@pytest.mark.parametrize(
    ("draft", "schema", "bad"),
    [
        (D7, {"definitions": {"n": {"type": "integer"}}, "properties": {"a": {"$ref": "#/definitions/n"}},
              "dependencies": {"a": ["b"]}}, {"a": "x"}),
        (D7, {"items": [{"type": "string"}], "additionalItems": False}, ["a", "b"]),
        (D2019, {"$defs": {"n": {"type": "integer"}}, "properties": {"a": {"$ref": "#/$defs/n"}},
                 "dependentSchemas": {"a": {"required": ["b"]}}}, {"a": 1}),
        (D2019, {"$recursiveAnchor": True, "type": "object",
                 "additionalProperties": {"$recursiveRef": "#"}, "maxProperties": 1}, {"a": {"b": 1, "c": 2}}),
    ],
)
def test_older_drafts_that_servers_still_emit(draft: str, schema: dict[str, Any], bad: Any) -> None:
    assert compile_schema({"$schema": draft, **schema}).problems(bad)


def test_draft_7_items_array_means_tuple_validation() -> None:
    schema = {"$schema": D7, "items": [{"type": "string"}, {"type": "integer"}]}
    assert compile_schema(schema).problems(["a", 1]) == []
    assert compile_schema(schema).problems(["a", "b"]) == ['$[1]: "b" is not of type "integer"']


def test_problems_name_path_value_and_expectation_all_at_once() -> None:
    compiled = compile_schema({
        "type": "object", "required": ["name", "count"], "additionalProperties": False,
        "properties": {"name": {"type": "string", "minLength": 2}, "count": {"type": "integer", "minimum": 0},
                       "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2},
                       "odd key": {"type": "boolean"}},
    })
    assert compiled.problems({"name": "ok", "count": 1, "tags": ["a"]}) == []
    problems = compiled.problems({"name": "x", "count": -1.5, "tags": ["a", "c", "b"], "odd key": 1, "extra": 1})
    assert sorted(problems) == sorted([
        '$.name: "x" is shorter than 2 characters',
        '$.count: -1.5 is not of type "integer"',
        "$.count: -1.5 is less than the minimum of 0",
        '$.tags: ["a","c","b"] has more than 2 items',
        '$.tags[1]: "c" is not one of "a" or "b"',
        "$['odd key']: 1 is not of type \"boolean\"",
        "$.extra: unknown property (allowed: count, name, odd key, tags)",
    ])
    assert compiled.problems({}) == ["$.name: required but missing", "$.count: required but missing"]
    assert compile_schema({"type": "integer"}).problems(True) == ['$: true is not of type "integer"']


def test_json_path() -> None:
    assert json_path([]) == "$"
    assert json_path(["a", 0, "b-c", "d e", "é"]) == "$.a[0].b-c['d e']['é']"


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        ({"type": "bogus"}, r"\$\.type: .*bogus"),
        ({"properties": {"n": {"minLength": -1}}}, r"\$\.properties\.n\.minLength: -1 is less than the minimum of 0"),
        ({"required": "name"}, r"\$\.required: \"name\" is not of type \"array\""),
        ({"$ref": "#/$defs/missing"}, r"cannot be compiled: .*/\$defs/missing"),
        ({"$schema": "https://example.com/my-meta"}, "not a valid JSON Schema"),
    ],
)
def test_an_invalid_schema_is_refused_with_the_validators_reason(schema: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        compile_schema(schema)
    with pytest.raises(ValidationError, match=r"parameter schema of tool 'bad'"):
        FunctionTool(name="bad", fn=lambda: 1, spec={"type": "object", **schema})


@pytest.mark.parametrize("ref", ["https://example.com/schemas/person.json", "file:///etc/passwd", "other.json#/x"])
def test_remote_refs_are_refused_without_fetching(ref: str) -> None:
    with pytest.raises(SchemaReferenceError, match="remote \\$ref"):
        compile_schema({"type": "object", "properties": {"p": {"$ref": ref}}})


def test_the_schema_is_compiled_once_when_the_tool_is_declared() -> None:
    @tool(parameters={"type": "object", "properties": {"n": {"type": "integer"}}})
    def square(n: int) -> int:
        return n * n

    first = square.compiled
    assert first.problems({"n": "2"}) == ['$.n: "2" is not of type "integer"']
    assert square.compiled is first


async def test_a_bad_tool_call_goes_back_to_the_model_with_every_problem(make_kernel: Any) -> None:
    @tool(description="Book rooms.", parameters={
        "type": "object", "required": ["rooms"],
        "properties": {"rooms": {"type": "array", "uniqueItems": True, "items": {"type": "integer", "minimum": 1}},
                       "when": {"type": "string", "format": "date"}},
    })
    def book(rooms: list[int], when: str | None = None) -> str:
        return f"booked {rooms}"

    async with make_kernel() as kernel:
        provider = kernel.agents.provider()
        provider.script(ToolCall("book", {"rooms": [0, 2, 2], "when": "soon"}), "sorry")
        agent = kernel.agents.builder("tool", "booker").tools(book).build()
        assert (await kernel.run(agent, "book")).content == "sorry"
        result = [m for m in provider.requests[-1].messages if m.role == "tool"][-1].content
        assert result.startswith("error: invalid arguments for tool 'book': ")
        for problem in ("$.rooms[0]: 0 is less than the minimum of 1", "$.rooms: [0,2,2] has non-unique elements",
                        '$.when: "soon" is not a "date"'):
            assert problem in result
        with pytest.raises(ValidationError, match=r"\$\.rooms\[0\]: 0 is less than the minimum of 1"):
            await kernel.run(book, {"rooms": [0]})


async def test_output_schema_uses_the_same_validator(make_kernel: Any) -> None:
    schema = {"$defs": {"stop": {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"},
              "next": {"anyOf": [{"$ref": "#/$defs/stop"}, {"type": "null"}]}}}}, "$ref": "#/$defs/stop"}
    async with make_kernel() as kernel:
        agent = kernel.agents.create("tool", name="route", output_schema=schema)
        provider = kernel.agents.provider()
        provider.script('{"city": "Lyon", "next": {"city": 7}}', '{"city": "Lyon", "next": {"city": "Nice", "next": null}}')
        out = await kernel.run(agent, "plan")
        assert out.data == {"city": "Lyon", "next": {"city": "Nice", "next": None}}
        feedback = [m.content for m in provider.requests[-1].messages if m.role == "user"][-1]
        assert feedback.endswith('$.next: {"city":7} is not valid under any of the schemas listed in the \'anyOf\' keyword')
        with pytest.raises(ConfigError, match="output_schema is not a valid JSON Schema"):
            kernel.agents.create("tool", name="bad", output_schema={"type": 3})
        with pytest.raises(ConfigError, match="remote \\$ref"):
            kernel.agents.create("tool", name="bad2", output_schema={"$ref": "https://example.com/s.json"})


class Mode(enum.Enum):
    fast = "fast"
    safe = "safe"


def test_function_signatures_become_full_schemas() -> None:
    @tool
    def plan(steps: list[str], limits: dict[str, int], pair: tuple[int, str], tags: set[str],
             mode: Mode = Mode.safe, level: Literal[1, 2] = 1, note: str | None = None, anything=None) -> str:
        return "ok"

    props = plan.parameters["properties"]
    assert props["steps"] == {"type": "array", "items": {"type": "string"}}
    assert props["limits"] == {"type": "object", "additionalProperties": {"type": "integer"}}
    assert props["pair"] == {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "items": False}
    assert props["tags"] == {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
    assert props["mode"] == {"enum": ["fast", "safe"]}
    assert props["level"] == {"enum": [1, 2]}
    assert props["note"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert props["anything"] == {}
    assert plan.parameters["required"] == ["steps", "limits", "pair", "tags"]
    good = {"steps": ["a"], "limits": {"x": 1}, "pair": [1, "b"], "tags": ["t"], "note": None}
    assert plan.compiled.problems(good) == []
    assert plan.compiled.problems({**good, "pair": [1, 2], "mode": "slow", "tags": ["t", "t"]})
