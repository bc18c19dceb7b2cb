"""How the state service lays out keys and encodes records for its backend.

*Keys.* A backend sees flat keys ``"<scope>/<owner>/<key>"``; the owner has ``%`` and
``/`` percent-escaped, so one owner's prefix never matches another's (``u1/`` vs
``u10/``) and a key may contain anything but control characters.

*Records.* A stored record is the JSON envelope ``{"schema_version": n, "value": v}``,
serialized once by orjson; the key's version lives beside it in the backend (the
record never has to be re-encoded to bump it). Values are JSON data or attrs instances
(unstructured through the one converter); anything else is refused before a write,
with the path of the offending part.
"""

from __future__ import annotations

from typing import Any

import attrs
import orjson

from llmspell import serde
from llmspell.errors import IntegrityError, SerializationError, ValidationError

__all__ = [
    "owner_prefix",
    "split_key",
    "to_json",
    "from_json",
    "encode",
    "decode",
]


def _escape(owner: str) -> str:
    if "/" not in owner and "%" not in owner:
        return owner
    return owner.replace("%", "%25").replace("/", "%2F")


def _unescape(owner: str) -> str:
    if "%" not in owner:
        return owner
    return owner.replace("%2F", "/").replace("%25", "%")


def owner_prefix(scope: str, owner: str) -> str:
    """The backend key prefix of every key of ``owner`` in ``scope`` (ends with ``/``)."""
    return f"{scope}/{_escape(owner)}/"


def split_key(full: str) -> tuple[str, str, str]:
    """Invert the layout: ``"user/u1/theme"`` -> ``("user", "u1", "theme")``."""
    scope, sep1, rest = full.partition("/")
    owner, sep2, key = rest.partition("/")
    if not sep1 or not sep2:
        raise IntegrityError(f"stored key {full!r} is not <scope>/<owner>/<key>")
    return scope, _unescape(owner), key


def to_json(value: Any) -> Any:
    """``value`` as JSON data: attrs instances through the converter, data checked as is.

    Anything else raises :class:`~llmspell.errors.SerializationError` naming the path of
    the first offending part (``$.a.b[1]``), also for a cyclic value or one nested more
    than :data:`llmspell.serde.MAX_DEPTH` levels.
    """
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if attrs.has(kind):
        return serde.unstructure(value)
    if not serde.is_json(value):
        serde.check_json(value)  # raises, naming the path (a cycle, too deep, not JSON)
        raise SerializationError(f"{kind.__name__} value is not JSON data")
    return value


def from_json(data: Any, cls: Any) -> Any:
    """Structure stored JSON data as ``cls`` (``None`` keeps the plain data)."""
    if cls is None or data is None:
        return data
    try:
        return serde.structure(data, cls)
    except Exception as exc:
        lines = serde.describe_structure_error(exc)
        raise ValidationError(
            f"stored value cannot be read as {getattr(cls, '__name__', cls)}: {'; '.join(lines)}"
        ) from exc


def encode(value: Any, schema_version: int, max_bytes: int) -> bytes:
    """The stored bytes of JSON ``value`` at ``schema_version``; refuses oversized records."""
    try:
        data = orjson.dumps({"schema_version": schema_version, "value": value})
    except TypeError as exc:  # checked data never gets here; a hook's change might
        serde.check_json(value)
        raise SerializationError(str(exc)) from exc
    if len(data) > max_bytes:
        raise ValidationError(
            f"the value is {len(data)} bytes as JSON; the limit is {max_bytes} ([state] max_value_bytes)"
        )
    return data


def decode(data: bytes, key: str) -> tuple[Any, int]:
    """``(value, schema_version)`` of a stored record; a malformed one is an IntegrityError."""
    try:
        envelope = orjson.loads(data)
        value, schema_version = envelope["value"], envelope["schema_version"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise IntegrityError(f"stored state record {key!r} is not a valid record: {exc}") from None
    if type(schema_version) is not int or schema_version < 1:
        raise IntegrityError(f"stored state record {key!r} has a bad schema version {schema_version!r}")
    return value, schema_version
