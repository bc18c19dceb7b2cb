"""The router: which local subscriptions and waiters an event goes to.

It is the :class:`~llmspell.plugins.events.backend.TransportInbox` of the service: the transport hands
every event (its own process's and, with a cross-process transport, the others') to
:meth:`Router.deliver`, and each event of a work-sharing group to
:meth:`Router.deliver_group`. The subscriptions matching a type are computed once per
type and cached until a subscription is added or removed, so delivering costs a dict
lookup and one queue append per matching subscription.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

from llmspell.plugins.events.api import Event, TopicPattern

from ._bus import Subscription

__all__ = ["Router", "Waiter"]


class Waiter:
    """A one-shot wait for the next matching event (``wait_for``)."""

    __slots__ = ("future", "pattern", "predicate", "stream")

    def __init__(self, pattern: TopicPattern, predicate: Callable[[Event], bool] | None,
                 future: asyncio.Future[Event], stream: str | None) -> None:
        self.pattern = pattern
        self.predicate = predicate
        self.future = future
        self.stream = stream


class Router:
    """Routes events to subscriptions, group members and waiters."""

    def __init__(self) -> None:
        self.subscriptions: list[Subscription] = []
        self.groups: dict[str, list[Subscription]] = {}
        self.waiters: list[Waiter] = []
        self.delivered = 0
        self.errors = 0
        self._routes: dict[str, tuple[Subscription, ...]] = {}
        self._turns: dict[str, Any] = {}

    # -- membership --------------------------------------------------------------------

    def add(self, sub: Subscription) -> None:
        if sub.group is None:
            self.subscriptions.append(sub)
        else:
            self.groups.setdefault(sub.group, []).append(sub)
            self._turns.pop(sub.group, None)
        self._routes.clear()

    def remove(self, sub: Subscription) -> None:
        if sub in self.subscriptions:
            self.subscriptions.remove(sub)
        members = self.groups.get(sub.group or "")
        if members and sub in members:
            members.remove(sub)
            self._turns.pop(sub.group or "", None)
            if not members:
                del self.groups[sub.group or ""]
        self._routes.clear()

    def _route(self, type_name: str) -> tuple[Subscription, ...]:
        subs = tuple(s for s in self.subscriptions if s.pattern.match(type_name))
        if len(self._routes) > 10_000:
            self._routes.clear()
        self._routes[type_name] = subs
        return subs

    # -- the inbox -------------------------------------------------------------------------

    async def deliver(self, event: Event) -> None:
        """Queue ``event`` for every matching subscription, then settle matching waiters."""
        subs = self._routes.get(event.type)
        if subs is None:
            subs = self._route(event.type)
        for sub in subs:
            if sub.stream is not None and sub.stream != event.stream:
                continue
            queue = sub._queue
            if len(queue) < sub.maxsize:
                queue.append(event)
                sub._wake()
            else:
                await sub.put(event)
        self.delivered += 1
        if self.waiters:
            self._settle(event)

    async def deliver_group(self, group: str, event: Event) -> None:
        """Queue ``event`` for one local member of ``group`` whose pattern matches (in turn)."""
        members = [
            s for s in self.groups.get(group, ())
            if s.pattern.match(event.type) and (s.stream is None or s.stream == event.stream)
        ]
        if not members:
            return
        turns = self._turns.get(group)
        if turns is None:
            turns = self._turns[group] = itertools.count()
        await members[next(turns) % len(members)].put(event)

    async def drain_group(self, group: str) -> bool:
        """Wait until this process's members of ``group`` have handled every event queued to them.

        Work-sharing transports acknowledge events to their server only after this returns
        True, so an event whose member dies before handling it is redelivered to another
        process. False: there is no member, or one left meanwhile (its queue was
        discarded); leave those events unacknowledged.
        """
        members = list(self.groups.get(group, ()))
        if not members:
            return False
        await asyncio.gather(*(m.drain() for m in members))
        return all(m.active for m in members)

    def _settle(self, event: Event) -> None:
        keep = []
        for waiter in self.waiters:
            future = waiter.future
            if future.done():
                continue
            if waiter.pattern.match(event.type) and (waiter.stream is None or waiter.stream == event.stream):
                try:
                    hit = waiter.predicate is None or waiter.predicate(event)
                except Exception as exc:
                    future.set_exception(exc)
                    continue
                if hit:
                    future.set_result(event)
                    continue
            keep.append(waiter)
        self.waiters = keep

    # -- draining ----------------------------------------------------------------------

    def all_subscriptions(self) -> list[Subscription]:
        return [*self.subscriptions, *(s for members in self.groups.values() for s in members)]

    async def drain(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 - the documented API takes a timeout
        """Wait until every subscription has handled its queue (events published meanwhile too)."""

        async def settle() -> None:
            while True:
                subs = [s for s in self.all_subscriptions() if s.pending or s._busy]
                if not subs:
                    return
                await asyncio.gather(*(s.drain() for s in subs))

        await asyncio.wait_for(settle(), timeout)

    def close(self) -> None:
        for sub in self.all_subscriptions():
            sub.unsubscribe()
        for waiter in self.waiters:
            if not waiter.future.done():
                waiter.future.cancel()
        self.waiters = []
