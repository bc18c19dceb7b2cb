"""The one converter: attrs records <-> JSON-safe data <-> JSON bytes.

Everything llmspell persists or reads from configuration goes through :data:`converter`.
The converter is strict: a string field only takes a string, an integer field only an
integer (``True`` is not ``1``), extra keys are rejected, datetimes are timezone-aware
ISO-8601 in UTC, bytes are base64, sets are lists, unions of records carry an explicit
tag (never a class name). JSON is produced by :func:`dumps` and read by :func:`loads`;
nothing is ever pickled.

Persisted records carry a ``schema_version`` field; a record written by newer code is
refused with a clear :class:`~llmspell.errors.SchemaVersionError`.

*Limits* shared by every value llmspell stores (state values, session and artifact
metadata, event payloads): integers fit in 64 bits, containers nest at most
:data:`MAX_DEPTH` levels (a cycle is refused with the path where it closes), and a
stored record is at most :data:`MAX_VALUE_BYTES` of JSON.
"""

from __future__ import annotations

import base64
import enum
import math
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Any, TypeVar

import attrs
import cattrs
import cattrs.strategies
import orjson
from cattrs.errors import BaseValidationError, ForbiddenExtraKeysError

from .errors import SerializationError

__all__ = [
    "MAX_DEPTH",
    "MAX_VALUE_BYTES",
    "JSON_INT_MIN",
    "JSON_INT_MAX",
    "RECORD_DEPTH",
    "converter",
    "unstructure",
    "structure",
    "dumps",
    "loads",
    "loads_as",
    "check_json",
    "is_json",
    "describe_structure_error",
    "register_tagged_union",
    "utcnow",
]

T = TypeVar("T")

MAX_DEPTH = 100
"""How many levels of lists and mappings a stored value may nest (a payload's values each)."""
MAX_VALUE_BYTES = 16 * 1024 * 1024
"""The largest stored value as JSON: state records (``[state] max_value_bytes``) and events."""
JSON_INT_MIN = -(2**63)
"""The smallest integer in stored data (signed 64 bits)."""
JSON_INT_MAX = 2**64 - 1
"""The largest integer in stored data (unsigned 64 bits, what JSON encoders write exactly)."""
RECORD_DEPTH = MAX_DEPTH + 8
"""The depth of a stored record: it wraps its values a few levels down (envelope, payload)."""

converter = cattrs.Converter(forbid_extra_keys=True)
"""The one cattrs converter used for persistence and configuration."""


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


# -- strict primitives -------------------------------------------------------------


def _expect(kind: type | tuple[type, ...], name: str) -> Callable[[Any, Any], Any]:
    def hook(value: Any, _: Any) -> Any:
        if isinstance(value, bool) and kind is not bool:
            raise TypeError(f"expected {name}, got a boolean ({value!r})")
        if not isinstance(value, kind):
            raise TypeError(f"expected {name}, got {type(value).__name__} {value!r}")
        return value

    return hook


converter.register_structure_hook(str, _expect(str, "a string"))
converter.register_structure_hook(int, _expect(int, "an integer"))
converter.register_structure_hook(bool, _expect(bool, "true or false"))


def _structure_float(value: Any, _: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {type(value).__name__} {value!r}")
    return float(value)


converter.register_structure_hook(float, _structure_float)


# -- datetimes, bytes, uuids, paths, enums ------------------------------------------


def _unstructure_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        raise SerializationError("naive datetime cannot be stored; use a timezone-aware one")
    return value.astimezone(UTC).isoformat()


def _structure_datetime(value: Any, _: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"expected an ISO-8601 time, got {value!r}") from None
    else:
        raise TypeError(f"expected an ISO-8601 time string, got {type(value).__name__}")
    if parsed.tzinfo is None:
        raise ValueError(f"time {value!r} has no timezone; add one, e.g. 'Z' or '+00:00'")
    return parsed.astimezone(UTC)


converter.register_unstructure_hook(datetime, _unstructure_datetime)
converter.register_structure_hook(datetime, _structure_datetime)


def _structure_bytes(value: Any, _: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise TypeError(f"expected base64 text, got {type(value).__name__}")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise ValueError("expected base64 text") from None


converter.register_unstructure_hook(bytes, lambda v: base64.b64encode(v).decode("ascii"))
converter.register_structure_hook(bytes, _structure_bytes)
converter.register_unstructure_hook(uuid.UUID, str)
converter.register_structure_hook(uuid.UUID, lambda v, _: uuid.UUID(str(v)))
converter.register_unstructure_hook(PurePath, str)


def _structure_enum(value: Any, cls: type[enum.Enum]) -> enum.Enum:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in cls)
        raise ValueError(f"{value!r} is not one of {allowed}") from None


def _is_enum(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, enum.Enum)


converter.register_structure_hook_func(_is_enum, _structure_enum)
converter.register_unstructure_hook_func(_is_enum, lambda member: member.value)


def _unstructure_set(value: set[Any] | frozenset[Any]) -> list[Any]:
    items = [converter.unstructure(v) for v in value]
    try:
        return sorted(items)
    except TypeError:
        return items


def _is_set(tp: Any) -> bool:
    return tp in (set, frozenset) or getattr(tp, "__origin__", None) in (set, frozenset)


converter.register_unstructure_hook_func(_is_set, _unstructure_set)


# -- tagged unions -------------------------------------------------------------------


def register_tagged_union(
    union: Any, tags: Mapping[str, type], *, tag_name: str = "kind"
) -> None:
    """Make ``union`` round-trip through the converter with an explicit tag per class.

    ``tags`` maps a stable tag (written to storage) to a class; renaming a class never
    changes what is stored.
    """
    by_class = {cls: tag for tag, cls in tags.items()}

    def tag_for(cls: type) -> str:
        try:
            return by_class[cls]
        except KeyError:
            raise SerializationError(f"{cls.__name__} has no tag in {union}") from None

    cattrs.strategies.configure_tagged_union(
        union, converter, tag_generator=tag_for, tag_name=tag_name
    )


# -- JSON ----------------------------------------------------------------------------

_SCALARS = (str, int, float, bool, type(None))


def is_json(value: Any, max_depth: int = MAX_DEPTH) -> bool:
    """Whether ``value`` is JSON data as :func:`check_json` defines it (fast, no paths)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return JSON_INT_MIN <= value <= JSON_INT_MAX  # type: ignore[no-any-return]
    if kind is float:
        return bool(value - value == 0.0)  # false for inf and nan
    if kind is dict:
        items = value.values()
        for k in value:
            if type(k) is not str:
                return False
    elif kind is list or kind is tuple:
        items = value
    else:
        return False
    if max_depth < 1:
        return False  # too deep (or cyclic): check_json says which
    inner = max_depth - 1
    for v in items:
        kind = type(v)
        if kind is str or kind is bool or v is None:  # leaves inline: most values are text
            continue
        if kind is int and JSON_INT_MIN <= v <= JSON_INT_MAX:
            continue
        if not is_json(v, inner):
            return False
    return True


def check_json(value: Any, path: str = "$", *, max_depth: int = MAX_DEPTH) -> None:
    """Raise :class:`SerializationError` naming the first part of ``value`` that is not JSON.

    JSON here means: None, bool, int (64-bit), finite float, str, list/tuple of JSON,
    dict with string keys and JSON values, nested at most ``max_depth`` levels
    (:data:`MAX_DEPTH`); a value that contains itself is refused as cyclic. Never
    raises ``RecursionError``, however deep the value.
    """
    if is_json(value, max_depth):
        return
    _check_json(value, path, max_depth, {})


def _check_json(value: Any, path: str, depth: int, open_: dict[int, str]) -> None:
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return
    if kind is int:
        if not JSON_INT_MIN <= value <= JSON_INT_MAX:
            raise SerializationError(
                f"integer {value} does not fit in 64 bits ({JSON_INT_MIN} to {JSON_INT_MAX})", path=path
            )
        return
    if kind is float:
        if not math.isfinite(value):
            raise SerializationError(f"{value} is not a finite number", path=path)
        return
    if kind is dict or kind is list or kind is tuple:
        _check_nesting(value, path, depth, open_)
        open_[id(value)] = path
        try:
            if kind is dict:
                for k, v in value.items():
                    if type(k) is not str:
                        raise SerializationError(
                            f"mapping key {k!r} is {type(k).__name__}, keys must be strings", path=path
                        )
                    _check_json(v, f"{path}.{k}", depth - 1, open_)
            else:
                for i, v in enumerate(value):
                    _check_json(v, f"{path}[{i}]", depth - 1, open_)
        finally:
            del open_[id(value)]
        return
    raise SerializationError(
        f"{kind.__module__}.{kind.__qualname__} is not JSON data "
        "(use dicts, lists, strings, numbers, booleans, None, or an attrs class)",
        path=path,
    )


def _check_nesting(value: Any, path: str, depth: int, open_: dict[int, str]) -> None:
    """Refuse a container that is its own ancestor (a cycle) or that nests too deeply."""
    if id(value) in open_:
        raise SerializationError(
            f"the value is cyclic: it contains itself (first seen at {open_[id(value)]})", path=path
        )
    if depth < 1:
        raise SerializationError(
            f"the value nests lists and mappings too deeply (at most {MAX_DEPTH} levels)", path=path
        )


def _locate_recursion(obj: Any, path: str = "$") -> SerializationError:
    """The error for an object the converter could not walk: where it loops or gets too deep.

    Walks attrs instances (by field name), mappings and sequences without recursion.
    """
    stack: list[tuple[Any, str, int, tuple[int, ...]]] = [(obj, path, 0, ())]
    while stack:
        value, where, depth, ancestors = stack.pop()
        if attrs.has(type(value)):
            children = [(getattr(value, a.name), f"{where}.{a.name}") for a in attrs.fields(type(value))]
        elif isinstance(value, Mapping):
            children = [(v, f"{where}.{k}") for k, v in value.items()]
        elif isinstance(value, list | tuple | set | frozenset):
            children = [(v, f"{where}[{i}]") for i, v in enumerate(value)]
        else:
            continue
        if id(value) in ancestors:
            return SerializationError("the value is cyclic: it contains itself", path=where)
        if depth >= MAX_DEPTH:
            return SerializationError(f"the value nests too deeply (at most {MAX_DEPTH} levels)", path=where)
        inner = (*ancestors, id(value))
        stack.extend((v, p, depth + 1, inner) for v, p in reversed(children))
    return SerializationError(f"the value nests too deeply (at most {MAX_DEPTH} levels)", path=path)


def unstructure(obj: Any, as_type: Any = None) -> Any:
    """Turn ``obj`` (attrs instance or plain data) into JSON-safe data, checked.

    ``as_type`` unstructures through a declared type (needed for tagged unions).
    """
    try:
        data = converter.unstructure(obj, unstructure_as=as_type)
    except SerializationError:
        raise
    except RecursionError:
        raise _locate_recursion(obj) from None
    except Exception as exc:  # cattrs raises whatever a hook raises
        raise SerializationError(f"cannot convert {type(obj).__name__}: {exc}") from exc
    check_json(data, max_depth=RECORD_DEPTH)
    return data


def structure(data: Any, cls: type[T]) -> T:
    """Build a ``cls`` from JSON-safe data, strictly; errors list every bad path."""
    return converter.structure(data, cls)


def dumps(obj: Any, as_type: Any = None) -> bytes:
    """Serialize ``obj`` to JSON bytes through the converter."""
    return orjson.dumps(unstructure(obj, as_type))


def loads(raw: bytes | str) -> Any:
    """Parse JSON bytes into plain data."""
    return orjson.loads(raw)


def loads_as(raw: bytes | str, cls: type[T]) -> T:
    """Parse JSON bytes into a ``cls`` through the converter."""
    return converter.structure(orjson.loads(raw), cls)


def describe_structure_error(exc: BaseException, path: str = "$") -> list[str]:
    """Turn a cattrs validation error into readable lines ``path: problem``."""

    def fmt(err: BaseException, type_: type | None) -> str:
        if isinstance(err, ForbiddenExtraKeysError):
            extra = ", ".join(sorted(err.extra_fields))
            known = getattr(err.cl, "__attrs_attrs__", ())
            allowed = ", ".join(a.name for a in known) or "none"
            return f"unknown key(s) {extra} (allowed: {allowed})"
        if isinstance(err, KeyError):
            return "required but missing"
        message = str(err)
        if isinstance(err, TypeError | ValueError) and message:
            return message
        return cattrs.v.format_exception(err, type_)

    if not isinstance(exc, BaseValidationError):
        return [f"{path}: {exc}"]
    lines = []
    for line in cattrs.transform_error(exc, path=path or "$", format_exception=fmt):
        message, _, where = line.rpartition(" @ ")
        if not path:
            where = where.removeprefix("$").removeprefix(".") or "(top level)"
        lines.append(f"{where}: {message}" if where else line)
    return lines
