"""Runtime hooks and callbacks: functions attached to hook points while a kernel runs.

``kernel.hooks.register(point, fn, priority=...)`` attaches a runtime hook (it may answer
like a plugin hook); ``kernel.callbacks.on(point, fn)`` and ``agent.callbacks.on(point, fn)``
attach callbacks, which only observe (their return value is ignored).

*Order.* Every function has a priority, higher first: runtime hooks and callbacks the one
they were registered with (default 0), plugin hooks 0, ``TRYFIRST`` (1000) with
``tryfirst=True``, ``TRYLAST`` (-1000) with ``trylast=True``. Ties: plugin hooks first (in
pluggy's order: the later registered plugin first), then the kernel's runtime hooks and
callbacks, then the agent's own callbacks, each in registration order.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from llmspell.errors import HookError
from llmspell.hooks import POINTS, Entry, Extra, Step, current_point

from ._breakers import HookStats

__all__ = ["CallbackSet", "HookHandle", "merge", "sort_key"]

_seq = itertools.count()
_RANK = {"plugin": 0, "runtime": 1, "callback": 1, "agent": 2}


def sort_key(entry: Entry) -> tuple[int, int, int]:
    """The place of ``entry`` in the one total order of a point."""
    return (-entry.priority, _RANK[entry.origin], entry.seq)


def merge(plugin: list[Step], runtime: list[Step], extra: Extra | None, point: str) -> list[Step]:
    """Plugin steps (in pluggy's order) and runtime ones, by priority (plugin first on ties)."""
    agent = extra.entries(point) if extra is not None else ()
    if not agent and (not runtime or not plugin):
        return runtime or plugin
    return sorted([*plugin, *runtime, *(e.step for e in agent)], key=lambda s: sort_key(s.entry))


@attrs.define(eq=False)
class HookHandle:
    """Returned by a registration; ``remove()`` takes the function off its point."""

    point: str
    name: str
    _owner: CallbackSet = attrs.field(repr=False)
    _entry: Entry = attrs.field(repr=False)

    def remove(self) -> None:
        self._owner._remove(self.point, self._entry)


def _check(point: str, fn: Callable[..., Any], label: str, priority: Any) -> None:
    if point not in POINTS:
        raise HookError(f"unknown hook point {point!r}; hook points: {', '.join(sorted(POINTS))}")
    if not callable(fn):
        raise HookError(f"hook for {point!r} is not callable: {fn!r}")
    try:
        sig: inspect.Signature | None = inspect.signature(fn)
    except (TypeError, ValueError):  # no signature to read (some builtins): trust it
        sig = None
    try:
        if sig is not None:
            sig.bind(object())
    except TypeError:
        raise HookError(
            f"hook {label} for {point!r} must accept one argument (the HookCall); its signature is {sig}"
        ) from None
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise HookError(f"hook priority must be an integer, got {priority!r}")


def _name_of(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None) or "?"
    return f"{module}:{getattr(fn, '__qualname__', repr(fn))}"


class CallbackSet:
    """Runtime hooks or callbacks of one owner (the kernel, or one agent)."""

    def __init__(self, origin: str, *, observe: bool, on_change: Callable[[], None] | None = None) -> None:
        self._origin = origin
        self._observe = observe
        self._entries: dict[str, list[Entry]] = {}
        self._on_change = on_change

    def register(
        self, point: str, fn: Callable[..., Any], *, priority: int = 0, name: str | None = None
    ) -> HookHandle:
        """Attach ``fn(call)`` (sync or async) to ``point``; returns a removable handle."""
        point = current_point(point)
        label = name or (_name_of(fn) if callable(fn) else repr(fn))
        _check(point, fn, label, priority)
        stats = HookStats(label, point, self._origin, priority)
        entry = Entry(label, fn, priority, self._origin, seq=next(_seq), observe=self._observe, stats=stats)
        self._entries.setdefault(point, []).append(entry)
        if self._on_change:
            self._on_change()
        return HookHandle(point, label, self, entry)

    on = register

    def _remove(self, point: str, entry: Entry) -> None:
        entries = self._entries.get(point, [])
        if entry in entries:
            entries.remove(entry)
            if not entries:
                del self._entries[point]
            if self._on_change:
                self._on_change()

    def entries(self, point: str) -> list[Entry]:
        return self._entries.get(point, [])

    def __bool__(self) -> bool:
        return bool(self._entries)

    def points(self) -> list[str]:
        return list(self._entries)

    def all_entries(self) -> Iterable[Entry]:
        for entries in self._entries.values():
            yield from entries
