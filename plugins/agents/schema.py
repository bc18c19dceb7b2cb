"""JSON Schema: validating tool arguments, and describing agent config classes.

The validator covers the subset of JSON Schema (draft 2020-12) that tool parameter
specs use: ``type`` (one or a list: object, array, string, integer, number, boolean,
null), ``properties``, ``required``, ``additionalProperties`` (boolean or schema),
``items``, ``enum``, ``const``, ``minimum``/``maximum``, ``exclusiveMinimum``/
``exclusiveMaximum``, ``minLength``/``maxLength``, ``pattern``, ``minItems``/``maxItems``,
``anyOf`` and ``oneOf``. A keyword outside this subset is refused when a tool is
declared, so a spec never silently means less than it says.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping
from typing import Any

import attrs

from llmspell.errors import ValidationError

__all__ = ["validate_arguments", "check_schema", "errors", "config_schema", "SUPPORTED"]

SUPPORTED = frozenset({
    "type", "properties", "required", "additionalProperties", "items", "enum", "const",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
    "pattern", "minItems", "maxItems", "anyOf", "oneOf", "description", "title", "default",
    "examples", "$schema",
})
_TYPES: dict[str, Any] = {
    "object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
}


def _is(value: Any, kind: str) -> bool:
    if kind == "integer":
        return type(value) is int or (type(value) is float and value.is_integer())
    if kind == "number":
        return type(value) in (int, float)
    expected = _TYPES.get(kind)
    return expected is not None and type(value) is expected


def check_schema(schema: Mapping[str, Any], path: str = "$") -> None:
    """Refuse a schema using keywords outside the supported subset."""
    unknown = set(schema) - SUPPORTED
    if unknown:
        raise ValidationError(f"tool schema at {path} uses unsupported keyword(s) {sorted(unknown)}; supported: {sorted(SUPPORTED)}")
    for name, sub in (schema.get("properties") or {}).items():
        check_schema(sub, f"{path}.properties.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), Mapping):
            check_schema(schema[key], f"{path}.{key}")
    for key in ("anyOf", "oneOf"):
        for i, sub in enumerate(schema.get(key) or ()):
            check_schema(sub, f"{path}.{key}[{i}]")


def errors(schema: Mapping[str, Any], value: Any, path: str = "$") -> list[str]:
    """Every way ``value`` breaks ``schema``, as ``path: problem`` lines."""
    out: list[str] = []
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        if not any(_is(value, k) for k in kinds):
            return [f"{path}: expected {' or '.join(kinds)}, got {type(value).__name__} {value!r}"]
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path}: {value!r} is not one of {schema['enum']!r}")
    if "const" in schema and value != schema["const"]:
        out.append(f"{path}: must be {schema['const']!r}")
    if type(value) in (int, float):
        for key, ok in (("minimum", lambda b: value >= b), ("maximum", lambda b: value <= b),
                        ("exclusiveMinimum", lambda b: value > b), ("exclusiveMaximum", lambda b: value < b)):
            if key in schema and not ok(schema[key]):
                out.append(f"{path}: {value} breaks {key} {schema[key]}")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            out.append(f"{path}: shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            out.append(f"{path}: longer than {schema['maxLength']} characters")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(f"{path}: does not match pattern {schema['pattern']!r}")
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            out.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            out.append(f"{path}: more than {schema['maxItems']} items")
        if isinstance(schema.get("items"), Mapping):
            for i, item in enumerate(value):
                out += errors(schema["items"], item, f"{path}[{i}]")
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for name in schema.get("required") or ():
            if name not in value:
                out.append(f"{path}.{name}: required but missing")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in props:
                out += errors(props[name], item, f"{path}.{name}")
            elif extra is False:
                out.append(f"{path}.{name}: unknown argument (allowed: {', '.join(sorted(props)) or 'none'})")
            elif isinstance(extra, Mapping):
                out += errors(extra, item, f"{path}.{name}")
    for key in ("anyOf", "oneOf"):
        if key in schema:
            matches = sum(not errors(sub, value, path) for sub in schema[key])
            if matches == 0 or (key == "oneOf" and matches > 1):
                out.append(f"{path}: matches {matches} of the {key} alternatives")
    return out


def validate_arguments(tool: str, schema: Mapping[str, Any], arguments: Any) -> None:
    """Raise :class:`ValidationError` listing every problem of a tool's arguments."""
    if not isinstance(arguments, dict):
        raise ValidationError(f"tool {tool!r} takes an object of arguments, got {type(arguments).__name__}")
    problems = errors(schema, arguments)
    if problems:
        raise ValidationError(f"invalid arguments for tool {tool!r}: " + "; ".join(problems))


# -- attrs config class -> JSON Schema ----------------------------------------------------------


def _type_schema(tp: Any) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        subs = [_type_schema(a) for a in args]
        return subs[0] if len(subs) == 1 else {"anyOf": subs}
    if tp is type(None):
        return {"type": "null"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return {"type": "string"}
    if origin in (list, tuple, set, frozenset) or tp in (list, tuple):
        return {"type": "array", "items": _type_schema(args[0])} if args else {"type": "array"}
    if origin in (dict, Mapping) or tp is dict:
        return {"type": "object", "additionalProperties": _type_schema(args[1])} if args else {"type": "object"}
    if typing.get_origin(tp) is typing.Literal:
        return {"enum": list(args)}
    if attrs.has(tp):
        return config_schema(tp)
    return {}


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of ``cls`` and its bases (``x: int = 1`` then ``\"\"\"...\"\"\"``)."""
    import ast
    import inspect
    import itertools
    import textwrap

    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in itertools.pairwise(body):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)):
                docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def config_schema(cls: type) -> dict[str, Any]:
    """The JSON Schema of an attrs config class (field docs become descriptions)."""
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    props: dict[str, Any] = {}
    required = []
    for field in attrs.fields(cls):
        if not field.init:
            continue
        schema = _type_schema(hints.get(field.name, Any))
        if field.name in docs:
            schema["description"] = docs[field.name]
        default: Any = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type,unused-ignore]
            default = None if default.takes_self else default.factory()
        if default is attrs.NOTHING:
            required.append(field.name)
        elif default is None or isinstance(default, str | int | float | bool | list | dict):
            schema["default"] = default
        props[field.name] = schema
    out: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "title": cls.__name__,
        "type": "object", "properties": props, "additionalProperties": False,
    }
    if cls.__doc__:
        out["description"] = cls.__doc__.strip().split("\n")[0]
    if required:
        out["required"] = required
    return out
