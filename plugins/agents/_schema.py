"""JSON Schema: validating tool arguments and structured answers; describing config classes.

Validation is done by `jsonschema-rs <https://pypi.org/project/jsonschema-rs/>`_, a
maintained implementation of drafts 4, 6, 7, 2019-09 and 2020-12 (the draft is read from
``$schema``; without one, 2020-12). A schema is compiled once, when the tool (or the
agent's ``output_schema``) is declared, by :func:`compile_schema`:

* a schema that is itself invalid is refused with the validator's reason and its path;
* local and recursive ``$ref`` s resolve; a ``$ref`` to anything outside the document
  (``https://...``, a file) is refused with :class:`SchemaReferenceError`: nothing is
  fetched;
* the common ``format`` s (``date-time``, ``email``, ``uri``, ``uuid`` ...) are checked,
  unknown formats are annotations.

:meth:`CompiledSchema.problems` lists every way a value breaks the schema, one
``path: problem`` line each (``$.items[2].name: 3 is not of type "string"``).
"""

from __future__ import annotations

import enum
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import jsonschema_rs

from llmspell.errors import ValidationError

__all__ = [
    "CompiledSchema",
    "SchemaReferenceError",
    "compile_schema",
    "config_schema",
    "json_path",
    "type_schema",
    "validate_arguments",
]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_REMOTE = re.compile(r"Resource '(.*?)' is not present in a registry")


class SchemaReferenceError(ValidationError):
    """A schema ``$ref`` points outside the schema document (remote references are never fetched)."""


def _refuse_remote(uri: str) -> Any:
    raise SchemaReferenceError(f"remote $ref {uri!r} is not followed")


def json_path(parts: Sequence[str | int]) -> str:
    """``["items", 2, "name"]`` -> ``$.items[2].name`` (odd keys quoted: ``$["a b"]``)."""
    out = ["$"]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENTIFIER.match(part):
            out.append(f".{part}")
        else:
            out.append(f"[{part!r}]")
    return "".join(out)


def _at(schema: Any, pointer: Sequence[str | int]) -> Any:
    node = schema
    for part in pointer:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


@attrs.frozen
class CompiledSchema:
    """A schema compiled once; :meth:`problems` checks a value against it."""

    schema: Mapping[str, Any]
    validator: Any = attrs.field(repr=False, eq=False)

    def is_valid(self, value: Any) -> bool:
        return bool(self.validator.is_valid(value))

    def problems(self, value: Any) -> list[str]:
        """Every way ``value`` breaks the schema, as ``path: problem`` lines (empty: valid)."""
        if self.validator.is_valid(value):
            return []
        return [self._describe(error) for error in self.validator.iter_errors(value)]

    def _describe(self, error: Any) -> str:
        path = list(error.instance_path)
        kind = error.kind
        if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
            return f"{json_path([*path, kind.property])}: required but missing"
        if isinstance(kind, jsonschema_rs.ValidationErrorKind.AdditionalProperties):
            owner = _at(self.schema, list(error.schema_path)[:-1])
            allowed = sorted((owner or {}).get("properties") or {}) if isinstance(owner, Mapping) else []
            listing = ", ".join(allowed) or "none"
            return "; ".join(
                f"{json_path([*path, name])}: unknown property (allowed: {listing})" for name in kind.unexpected
            )
        return f"{json_path(path)}: {error.message}"


def compile_schema(schema: Mapping[str, Any], *, what: str = "schema") -> CompiledSchema:
    """Check ``schema`` against its draft's meta-schema and compile it (see the module docstring).

    Raises :class:`ValidationError` naming ``what``, the place in the schema and the reason.
    """
    if not isinstance(schema, Mapping):
        raise ValidationError(f"{what} must be a JSON Schema object, got {type(schema).__name__}")
    document = dict(schema)
    try:
        jsonschema_rs.meta.validate(document)
    except jsonschema_rs.ValidationError as exc:
        raise ValidationError(f"{what} is not a valid JSON Schema: {json_path(list(exc.instance_path))}: {exc.message}")
    except jsonschema_rs.ReferencingError as exc:
        raise ValidationError(f"{what} is not a valid JSON Schema: {exc}")
    try:
        validator = jsonschema_rs.validator_for(document, validate_formats=True, retriever=_refuse_remote)
    except jsonschema_rs.ValidationError as exc:
        remote = _REMOTE.search(exc.message)
        if remote is not None:
            raise SchemaReferenceError(
                f"{what}: remote $ref {remote.group(1)!r} is not followed (only references inside the schema resolve)"
            )
        raise ValidationError(f"{what} cannot be compiled: {exc.message}")
    except (jsonschema_rs.ReferencingError, ValueError) as exc:
        raise ValidationError(f"{what} cannot be compiled: {exc}")
    return CompiledSchema(schema=document, validator=validator)


def validate_arguments(tool: str, compiled: CompiledSchema, arguments: Any) -> None:
    """Raise :class:`ValidationError` listing every problem of a tool's arguments."""
    if not isinstance(arguments, dict):
        raise ValidationError(f"tool {tool!r} takes an object of arguments, got {type(arguments).__name__}")
    problems = compiled.problems(arguments)
    if problems:
        raise ValidationError(f"invalid arguments for tool {tool!r}: " + "; ".join(problems))


# -- Python types and attrs config classes -> JSON Schema ----------------------------------------


def type_schema(tp: Any) -> dict[str, Any]:
    """The JSON Schema of a type hint (``{}``, anything, where a hint has no JSON form)."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return type_schema(typing.get_args(tp)[0])
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        subs = [type_schema(a) for a in args]
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
    if origin is tuple and args and args[-1] is not Ellipsis:
        return {"type": "array", "prefixItems": [type_schema(a) for a in args], "items": False}
    if origin in (list, tuple, set, frozenset) or tp in (list, tuple, set, frozenset):
        out: dict[str, Any] = {"type": "array"}
        if args:
            out["items"] = type_schema(args[0])
        if origin in (set, frozenset) or tp in (set, frozenset):
            out["uniqueItems"] = True
        return out
    if origin in (dict, Mapping) or tp is dict:
        return {"type": "object", "additionalProperties": type_schema(args[1])} if args else {"type": "object"}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [member.value for member in tp]}
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
        schema = type_schema(hints.get(field.name, Any))
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
