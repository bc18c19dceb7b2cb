"""The built-in reducers of the ``merge`` policy, on their own."""

from __future__ import annotations

import pytest

from llmspell.errors import ValidationError
from llmspell.plugins.state._reducers import (
    BUILTIN,
    counter_add,
    deep_merge,
    list_append,
    max_value,
    min_value,
    set_union,
)


def test_counter_add() -> None:
    assert counter_add(None, 2) == 2
    assert counter_add(1.5, 2) == 3.5
    for current, incoming in ((None, True), ("1", 1), (1, None)):
        with pytest.raises(ValidationError):
            counter_add(current, incoming)


def test_list_append_and_set_union() -> None:
    assert list_append(None, 1) == [1]
    assert list_append([1], [2, 3]) == [1, 2, 3]
    assert list_append([1], {"a": 1}) == [1, {"a": 1}]
    with pytest.raises(ValidationError):
        list_append("text", 1)
    assert set_union(None, ["b", "a", "b"]) == ["b", "a"]
    assert set_union([{"x": 1, "y": 2}], [{"y": 2, "x": 1}, 3]) == [{"x": 1, "y": 2}, 3]
    assert set_union([1], 2) == [1, 2]


def test_deep_merge() -> None:
    assert deep_merge(None, {"a": 1}) == {"a": 1}
    current = {"a": {"b": 1, "c": [1]}, "d": 1}
    merged = deep_merge(current, {"a": {"c": [2], "e": {"f": 1}}, "d": None})
    assert merged == {"a": {"b": 1, "c": [2], "e": {"f": 1}}, "d": None}
    assert current == {"a": {"b": 1, "c": [1]}, "d": 1}  # inputs are not changed
    assert deep_merge({"a": 1}, [1]) == [1]


def test_max_min() -> None:
    assert max_value(None, 3) == 3 and max_value(5, 3) == 5 and max_value("a", "b") == "b"
    assert min_value(None, 3) == 3 and min_value(5, 3) == 3
    with pytest.raises(ValidationError):
        max_value(1, "a")
    with pytest.raises(ValidationError):
        min_value([1], 1)


def test_builtin_names() -> None:
    assert sorted(BUILTIN) == ["counter_add", "deep_merge", "list_append", "max", "min", "set_union"]
