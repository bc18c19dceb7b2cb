"""The checks of values and arguments that the capabilities share.

*Limits* shared by every value llmspell stores (state values, session and artifact
metadata, event payloads), besides those of :mod:`llmspell.serde` (64-bit integers,
:data:`~llmspell.serde.MAX_DEPTH` levels of nesting, :data:`~llmspell.serde.MAX_VALUE_BYTES`
of JSON): integer arguments that name a version, a sequence number or a count are checked
by :func:`check_int` against :data:`MAX_INT64`, the largest integer every backend can
store; a mapping of values (metadata, an event payload) nests :data:`MAPPING_DEPTH`
levels; user ids and app names follow :func:`check_user_id`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from llmspell.errors import SchemaVersionError, ValidationError
from llmspell.serde import MAX_DEPTH, RECORD_DEPTH, check_json

__all__ = [
    "MAX_INT64",
    "MAPPING_DEPTH",
    "MAX_USER_ID",
    "check_int",
    "check_mapping",
    "check_schema_version",
    "check_user_id",
    "dumps_data",
]

MAX_INT64 = 2**63 - 1
"""The largest version, sequence number or count an argument may give (signed 64 bits)."""
MAPPING_DEPTH = MAX_DEPTH + 1
"""The depth of a mapping of values (metadata, an event payload): each value nests MAX_DEPTH."""


def check_mapping(value: Any, name: str) -> dict[str, Any]:
    """``value`` (None: empty) as a new dict of JSON values: metadata, an event payload.

    A value that is not a mapping raises :class:`~llmspell.errors.ValidationError`
    naming ``name``; a value that is not JSON data raises
    :class:`~llmspell.errors.SerializationError` with its path (``$.metadata.a[2]``).
    Each value may nest :data:`~llmspell.serde.MAX_DEPTH` levels.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(
            f"{name} must be a mapping of string keys to JSON values, got {type(value).__name__} {value!r:.80}"
        )
    data = dict(value)
    check_json(value if type(value) is dict else data, f"$.{name}", max_depth=MAPPING_DEPTH)
    return data


def check_int(value: Any, name: str, *, minimum: int = 0, maximum: int = MAX_INT64) -> int:
    """``value`` if it is an integer (not a bool) from ``minimum`` to ``maximum``.

    Raises :class:`~llmspell.errors.ValidationError` naming the argument ``name``
    otherwise: the one check for versions, sequence numbers, limits and counts.
    """
    if type(value) is not int or not minimum <= value <= maximum:
        if isinstance(value, bool) or not isinstance(value, int):
            got = f"{type(value).__name__} {value!r}"
        else:
            got = repr(value) if abs(value) < 10**30 else f"an integer of {value.bit_length()} bits"
        raise ValidationError(f"{name} must be an integer from {minimum} to {maximum}, got {got}")
    return value


def dumps_data(data: Any) -> bytes:
    """Serialize already JSON-safe data (checked) to JSON bytes.

    ``data`` is a record: its values may sit a few levels below the top (an event's
    payload values, a state record's value), each nesting up to
    :data:`~llmspell.serde.MAX_DEPTH` levels.
    """
    check_json(data, max_depth=RECORD_DEPTH)
    return orjson.dumps(data)


def check_schema_version(kind: str, stored: int, current: int) -> None:
    """Refuse a record written by newer code instead of misreading it."""
    if stored > current:
        raise SchemaVersionError(
            f"{kind} record has schema version {stored}, but this code reads up to "
            f"version {current}; upgrade llmspell (or the plugin that owns it)"
        )


#: Longest user id or app name (and state owner id), in characters.
MAX_USER_ID = 256

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_user_id(value: object, what: str = "user id") -> str:
    """Return ``value`` if it is a valid user id (or app name), else raise :class:`ValidationError`."""
    if type(value) is not str or not value:
        raise ValidationError(f"a {what} must be a non-empty string, got {value!r}")
    if len(value) > MAX_USER_ID:
        raise ValidationError(f"{what} {value[:40]!r}... is {len(value)} characters long; the limit is {MAX_USER_ID}")
    if _CONTROL.search(value):
        raise ValidationError(f"{what} {value!r} contains a control character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(f"{what} {value!r} is not valid Unicode text (a lone surrogate)") from None
    return value
