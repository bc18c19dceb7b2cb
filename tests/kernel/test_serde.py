"""The one converter: strict structuring, JSON checks, tagged unions, schema versions."""

from __future__ import annotations

import enum
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from cattrs.errors import BaseValidationError

from llmspell import serde
from llmspell.errors import SchemaVersionError, SerializationError, ValidationError
from llmspell.plugins import _values


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
    _values.check_schema_version("session", 2, 2)
    with pytest.raises(SchemaVersionError, match="schema version 3, but this code reads up to version 2"):
        _values.check_schema_version("session", 3, 2)


# -- limits: cycles, depth, 64-bit integers ------------------------------------------


def _nested(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


def test_a_cyclic_value_is_refused_with_the_path_where_it_closes() -> None:
    loop: dict[str, Any] = {"a": {"b": [1, 2, 3]}}
    loop["a"]["b"].append(loop)
    for check in (serde.check_json, _values.dumps_data, serde.unstructure):
        with pytest.raises(SerializationError, match="cyclic") as info:
            check(loop)
        assert info.value.path == "$.a.b[3]"
    listed: list[Any] = []
    listed.append(listed)
    with pytest.raises(SerializationError, match="cyclic") as info:
        serde.check_json(listed)
    assert info.value.path == "$[0]"
    assert serde.is_json(loop) is False and serde.is_json(listed) is False


def test_a_shared_but_acyclic_value_is_fine() -> None:
    shared = [1, 2]
    serde.check_json({"a": shared, "b": shared, "c": [shared, shared]})


def test_depth_is_limited_and_named_never_a_recursion_error() -> None:
    serde.check_json(_nested(serde.MAX_DEPTH))
    assert serde.is_json(_nested(serde.MAX_DEPTH))
    for levels in (serde.MAX_DEPTH + 1, 300, 5000):
        value = {"top": _nested(levels)}
        assert serde.is_json(value) is False
        # a record (dumps_data, unstructure) holds values a few levels down: it allows a little more
        checks = [serde.check_json] if levels == serde.MAX_DEPTH + 1 else [
            serde.check_json, _values.dumps_data, serde.unstructure
        ]
        for check in checks:
            with pytest.raises(SerializationError, match="too deeply") as info:
                check(value)
            assert info.value.path.startswith("$.top[0][0]")


def test_a_mapping_of_values_allows_each_value_the_full_depth() -> None:
    assert _values.check_mapping({"v": _nested(serde.MAX_DEPTH)}, "metadata") == {"v": _nested(serde.MAX_DEPTH)}
    with pytest.raises(SerializationError) as info:
        _values.check_mapping({"v": _nested(serde.MAX_DEPTH + 1)}, "metadata")
    assert info.value.path.startswith("$.metadata.v[0]")
    for bad in ([1, 2], "text", 3, (("a", 1),)):
        with pytest.raises(ValidationError, match="metadata must be a mapping"):
            _values.check_mapping(bad, "metadata")
    assert _values.check_mapping(None, "metadata") == {}


@attrs.define
class Node:
    name: str
    child: Node | None = None


def test_a_cyclic_or_deep_attrs_value_names_its_path() -> None:
    a = Node("a")
    a.child = Node("b", a)
    with pytest.raises(SerializationError, match="cyclic") as info:
        serde.dumps(a)
    assert info.value.path == "$.child.child"
    deep = Node("leaf")
    for i in range(2000):
        deep = Node(str(i), deep)
    with pytest.raises(SerializationError) as info:
        serde.dumps(deep)
    assert info.value.path.startswith("$.child.child.child")


@attrs.frozen
class Counter:
    value: int


@pytest.mark.parametrize(
    ("number", "ok"),
    [
        (serde.JSON_INT_MAX, True),
        (serde.JSON_INT_MAX + 1, False),
        (serde.JSON_INT_MIN, True),
        (serde.JSON_INT_MIN - 1, False),
        (2**63 - 1, True),
        (2**63, True),
        (-(2**63) + 1, True),
        (2**200, False),
    ],
)
def test_64_bit_integer_bounds(number: int, ok: bool) -> None:
    assert serde.JSON_INT_MAX == 2**64 - 1 and serde.JSON_INT_MIN == -(2**63)
    assert serde.is_json({"n": [number]}) is ok
    if ok:
        serde.check_json({"n": [number]})
        assert serde.loads(_values.dumps_data({"n": number})) == {"n": number}
        assert serde.loads_as(serde.dumps(Counter(number)), Counter) == Counter(number)
        return
    for check in (serde.check_json, _values.dumps_data):
        with pytest.raises(SerializationError, match="does not fit in 64 bits") as info:
            check({"n": [number]})
        assert info.value.path == "$.n[0]"
    with pytest.raises(SerializationError, match="does not fit in 64 bits") as info:
        serde.dumps(Counter(number))
    assert info.value.path == "$.value"


@pytest.mark.parametrize("bad", [-1, _values.MAX_INT64 + 1, 2**64, "1", 1.0, True, None, [1]])
def test_check_int_names_the_argument(bad: Any) -> None:
    with pytest.raises(ValidationError, match="^version must be an integer from 0 to 9223372036854775807"):
        _values.check_int(bad, "version")
    assert _values.check_int(_values.MAX_INT64, "version") == _values.MAX_INT64
    assert _values.check_int(0, "version") == 0
