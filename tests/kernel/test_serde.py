"""The one converter: strict structuring, JSON checks, tagged unions, schema versions."""

from __future__ import annotations

import enum
import math
from datetime import UTC, datetime, timedelta, timezone

import attrs
import pytest
from cattrs.errors import BaseValidationError

from llmspell import serde
from llmspell.errors import SchemaVersionError, SerializationError


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@attrs.frozen
class Record:
    name: str
    when: datetime
    blob: bytes
    color: Color
    tags: frozenset[str] = frozenset()
    schema_version: int = 1


@attrs.frozen
class Circle:
    radius: float


@attrs.frozen
class Square:
    side: float


Shape = Circle | Square
serde.register_tagged_union(Shape, {"circle": Circle, "square": Square})


def test_round_trip_through_json():
    record = Record("r", datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))), b"\x00\xff", Color.BLUE, frozenset({"b", "a"}))
    raw = serde.dumps(record)
    assert b'"when":"2026-01-02T01:04:05+00:00"' in raw
    assert b'"tags":["a","b"]' in raw
    back = serde.loads_as(raw, Record)
    assert back == record
    assert back.when.tzinfo == UTC


def test_tagged_union_uses_explicit_tags():
    data = serde.unstructure([Circle(1.0), Square(2.0)], list[Shape])
    assert data == [{"radius": 1.0, "kind": "circle"}, {"side": 2.0, "kind": "square"}]
    assert serde.structure(data, list[Shape]) == [Circle(1.0), Square(2.0)]


@pytest.mark.parametrize(
    ("value", "path", "message"),
    [
        ({"a": [1, {"b": object()}]}, "$.a[1].b", "builtins.object is not JSON data"),
        ({"a": math.nan}, "$.a", "nan is not a finite number"),
        ({1: "x"}, "$", "mapping key 1 is int, keys must be strings"),
        ({"n": 2**70}, "$.n", "does not fit in 64 bits"),
        ({"s": {1, 2}}, "$.s", "builtins.set is not JSON data"),
    ],
)
def test_non_json_values_name_their_path(value, path, message):
    with pytest.raises(SerializationError) as info:
        serde.check_json(value)
    assert info.value.path == path
    assert message in str(info.value)


def test_naive_datetime_is_refused():
    with pytest.raises(SerializationError, match="naive datetime"):
        serde.unstructure(datetime(2026, 1, 1))


def test_strict_structuring_lists_every_problem():
    with pytest.raises(BaseValidationError) as info:
        serde.structure({"name": 1, "when": "yesterday", "blob": "%%", "color": "green", "extra": 1}, Record)
    lines = serde.describe_structure_error(info.value, "record")
    text = "\n".join(lines)
    assert "record.name: expected a string, got int 1" in text
    assert "record.when: expected an ISO-8601 time, got 'yesterday'" in text
    assert "record.blob: expected base64 text" in text
    assert "record.color: 'green' is not one of 'red', 'blue'" in text
    assert "record: unknown key(s) extra" in text


def test_schema_version_newer_than_code_is_refused():
    serde.check_schema_version("session", 2, 2)
    with pytest.raises(SchemaVersionError, match="schema version 3, but this code reads up to version 2"):
        serde.check_schema_version("session", 3, 2)
