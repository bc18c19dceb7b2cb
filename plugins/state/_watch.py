"""Watching keys: ``scope.watch("cart.", handler)`` calls ``handler(change)`` after writes.

When an event service is running, a watch is a subscription to ``state.changed`` events
filtered by scope, owner and key prefix, so it follows the bus: asynchronous delivery,
error isolation and, with a cross-process transport, writes made by other processes.
Without an event service, watches are called in this process right after each write.
Either way the handler receives a :class:`~llmspell.plugins.state.api.StateChange`; it may be sync
or async, and an exception it raises is logged, never passed to the writer.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

import attrs

from llmspell.plugins.state.api import StateChange

__all__ = ["StateWatch", "LocalWatchers", "subscribe"]

log = logging.getLogger("llmspell.state")

@attrs.define(eq=False)
class StateWatch:
    """A live watch; ``close()`` (or leaving a ``with`` block) stops it."""

    scope: str | None
    owner: str | None
    prefix: str
    handler: Callable[[StateChange], Any] = attrs.field(repr=False)
    active: bool = True
    _stop: Callable[[], None] | None = attrs.field(default=None, repr=False)

    def matches(self, change: StateChange) -> bool:
        return (
            self.active
            and (self.scope is None or change.scope == self.scope)
            and (self.owner is None or change.owner == self.owner)
            and change.key.startswith(self.prefix)
        )

    def close(self) -> None:
        if self.active:
            self.active = False
            if self._stop is not None:
                self._stop()

    def __enter__(self) -> StateWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalWatchers:
    """Watches served in this process (no event service)."""

    def __init__(self) -> None:
        self._watches: list[StateWatch] = []

    @property
    def active(self) -> bool:
        return bool(self._watches)

    def add(self, watch: StateWatch) -> None:
        self._watches.append(watch)

    def remove(self, watch: StateWatch) -> None:
        if watch in self._watches:
            self._watches.remove(watch)

    async def notify(self, change: StateChange) -> None:
        for watch in list(self._watches):
            if watch.matches(change):
                await _call(watch.handler, change)


async def _call(handler: Callable[[StateChange], Any], change: StateChange) -> None:
    try:
        result = handler(change)
        if inspect.isawaitable(result):
            await result
    except Exception:
        log.exception("state watch handler %r failed on %s/%s", handler, change.scope, change.key)


def _unsubscribe(events: Any, subscription: Any) -> None:
    for name in ("unsubscribe", "cancel", "close"):
        stop = getattr(subscription, name, None)
        if callable(stop):
            stop()
            return
    stop = getattr(events, "unsubscribe", None)
    if callable(stop):
        stop(subscription)


def subscribe(
    local: LocalWatchers,
    events: Any,
    scope: str | None,
    owner: str | None,
    prefix: str,
    handler: Callable[[StateChange], Any],
) -> StateWatch:
    """Start a watch on the event service when there is one, else in this process."""
    if not callable(handler):
        raise TypeError(f"a watch handler must be callable, got {handler!r}")
    watch = StateWatch(scope, owner, prefix, handler)
    if events is None:
        local.add(watch)
        watch._stop = lambda: local.remove(watch)
        return watch

    async def on_event(event: Any) -> None:
        change = StateChange.from_payload(event.payload)
        if watch.matches(change):
            await _call(handler, change)

    subscription = events.subscribe("state.changed", on_event)
    watch._stop = lambda: _unsubscribe(events, subscription)
    return watch
