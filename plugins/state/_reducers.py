"""The reducers shipped for the ``merge`` conflict policy.

A reducer is ``fn(current, incoming) -> merged`` on JSON data: ``current`` is the stored
value (``None`` for a new key), ``incoming`` the value being written. Under
``merge:<reducer>`` a ``set`` stores ``fn(current, incoming)`` with a compare-and-set and
retries when another writer got there first, so concurrent writers never lose each
other's contributions. Reducers must be pure: they may run more than once per write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from llmspell.errors import ValidationError

__all__ = ["BUILTIN", "counter_add", "list_append", "set_union", "deep_merge", "max_value", "min_value"]


def _number(value: Any, what: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"counter_add needs numbers; the {what} value is {value!r}")
    return value


def counter_add(current: Any, incoming: Any) -> Any:
    """Add ``incoming`` to the stored number (a missing key counts as 0)."""
    return (0 if current is None else _number(current, "stored")) + _number(incoming, "written")


def _as_list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    raise ValidationError(f"list reducers need lists; the {what} value is {value!r}")


def list_append(current: Any, incoming: Any) -> Any:
    """Append to the stored list: a list is appended item by item, anything else as one item."""
    items = _as_list(current, "stored")
    if isinstance(incoming, list | tuple):
        items.extend(incoming)
    else:
        items.append(incoming)
    return items


def set_union(current: Any, incoming: Any) -> Any:
    """Union of the stored and written lists, without duplicates, in first-seen order."""
    incoming_list = list(incoming) if isinstance(incoming, list | tuple) else [incoming]
    out: list[Any] = []
    seen: set[str] = set()
    for item in [*_as_list(current, "stored"), *incoming_list]:
        marker = orjson.dumps(item, option=orjson.OPT_SORT_KEYS).decode()
        if marker not in seen:
            seen.add(marker)
            out.append(item)
    return out


def deep_merge(current: Any, incoming: Any) -> Any:
    """Merge dicts recursively; where both sides are not dicts the written value wins."""
    if isinstance(current, dict) and isinstance(incoming, dict):
        merged = dict(current)
        for key, value in incoming.items():
            merged[key] = deep_merge(merged[key], value) if key in merged else value
        return merged
    return incoming


def max_value(current: Any, incoming: Any) -> Any:
    """Keep the larger of the stored and written values (numbers or strings)."""
    if current is None:
        return incoming
    try:
        return incoming if incoming > current else current
    except TypeError:
        raise ValidationError(f"max cannot compare {current!r} with {incoming!r}") from None


def min_value(current: Any, incoming: Any) -> Any:
    """Keep the smaller of the stored and written values (numbers or strings)."""
    if current is None:
        return incoming
    try:
        return incoming if incoming < current else current
    except TypeError:
        raise ValidationError(f"min cannot compare {current!r} with {incoming!r}") from None


#: name -> (reducer, description), registered by the state plugin.
BUILTIN: dict[str, tuple[Callable[[Any, Any], Any], str]] = {
    "counter_add": (counter_add, "add the written number to the stored one"),
    "list_append": (list_append, "append the written item(s) to the stored list"),
    "set_union": (set_union, "union of lists without duplicates"),
    "deep_merge": (deep_merge, "recursive dict merge, the written value wins on leaves"),
    "max": (max_value, "keep the larger value"),
    "min": (min_value, "keep the smaller value"),
}
