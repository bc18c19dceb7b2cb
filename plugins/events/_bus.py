"""In-process delivery: subscriptions with bounded queues, and the router that feeds them.

Each :class:`Subscription` owns a queue and one worker task that calls its handler
with one event at a time, in the order the events were delivered. A full queue
applies the subscription's policy:

* ``block``: the publisher waits until the worker makes room (nothing is lost; a slow
  subscriber slows publishers). A handler that publishes into its own full queue is
  not blocked (that would deadlock); the event is queued over the bound instead.
* ``drop_oldest``: the oldest queued event is discarded and ``dropped`` counts it (the
  publisher never waits).

A handler that raises is logged and counted in ``errors``; the worker goes on with the
next event, and other subscriptions and the publisher never see the exception.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from typing import Any

from llmspell.ids import new_id
from llmspell.plugins.events.api import Event, Handler, TopicPattern

__all__ = ["Subscription"]

log = logging.getLogger("llmspell.events")

#: A sync handler runs this many events before the worker lets other tasks run.
_YIELD_EVERY = 256


def _name_of(handler: Any) -> str:
    return f"{getattr(handler, '__module__', None) or '?'}:{getattr(handler, '__qualname__', repr(handler))}"


class Subscription:
    """A handler attached to the bus (see :meth:`EventBus.subscribe`)."""

    def __init__(
        self,
        router: Any,
        pattern: TopicPattern,
        handler: Handler,
        *,
        policy: str,
        maxsize: int,
        name: str | None = None,
        stream: str | None = None,
        group: str | None = None,
    ) -> None:
        self.id = new_id()
        self.name = name or _name_of(handler)
        self.pattern = pattern
        self.policy = policy
        self.maxsize = maxsize
        self.stream = stream
        self.group = group
        self.handler = handler
        self.delivered = 0
        self.dropped = 0
        self.errors = 0
        self.overflowed = 0
        self.last_error: str | None = None
        self._router = router
        self._queue: deque[Event] = deque()
        self._wakeup: asyncio.Future[None] | None = None
        self._space: asyncio.Future[None] | None = None
        self._idle: asyncio.Future[None] | None = None
        self._busy = False
        self._task: asyncio.Task[None] | None = None
        self._active = True

    def __repr__(self) -> str:
        return (
            f"<Subscription {self.name} {','.join(self.pattern.patterns)} policy={self.policy} "
            f"pending={len(self._queue)} delivered={self.delivered} dropped={self.dropped} errors={self.errors}>"
        )

    @property
    def pending(self) -> int:
        """Events queued and not yet handled."""
        return len(self._queue)

    @property
    def active(self) -> bool:
        return self._active

    def stats(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "patterns": list(self.pattern.patterns), "policy": self.policy,
            "maxsize": self.maxsize, "stream": self.stream, "group": self.group, "pending": len(self._queue),
            "delivered": self.delivered, "dropped": self.dropped, "errors": self.errors,
            "overflowed": self.overflowed, "last_error": self.last_error,
        }

    # -- the publisher side ------------------------------------------------------------

    async def put(self, event: Event) -> None:
        """Queue ``event`` under the subscription's policy (waits only with ``block``)."""
        queue = self._queue
        if len(queue) >= self.maxsize and self._active:
            if self.policy == "drop_oldest":
                queue.popleft()
                self.dropped += 1
            elif self._task is not None and asyncio.current_task() is self._task:
                self.overflowed += 1
            else:
                while len(queue) >= self.maxsize and self._active:
                    if self._space is None:
                        self._space = asyncio.get_running_loop().create_future()
                    await asyncio.shield(self._space)
        if not self._active:
            return
        queue.append(event)
        self._wake()

    def _wake(self) -> None:
        waiter = self._wakeup
        if waiter is not None:
            self._wakeup = None
            if not waiter.done():
                waiter.set_result(None)
        elif self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"llmspell-events:{self.name}")

    # -- the worker --------------------------------------------------------------------

    async def _run(self) -> None:
        queue = self._queue
        handler = self.handler
        loop = asyncio.get_running_loop()
        since_yield = 0
        while self._active:
            if not queue:
                self._busy = False
                self._release_space()
                idle = self._idle
                if idle is not None:
                    self._idle = None
                    if not idle.done():
                        idle.set_result(None)
                self._wakeup = loop.create_future()
                await self._wakeup
                since_yield = 0
                continue
            self._busy = True
            event = queue.popleft()
            if self._space is not None:
                self._release_space()
            try:
                result = handler(event)
                if result is not None and inspect.isawaitable(result):
                    await result
                    since_yield = 0
                self.delivered += 1
            except asyncio.CancelledError as exc:
                task = asyncio.current_task()
                if task is None or task.cancelling():
                    raise  # this worker is being stopped
                self._failed(event, exc)  # the handler's own business: the worker goes on
            except Exception as exc:
                self._failed(event, exc)
            since_yield += 1
            if since_yield >= _YIELD_EVERY:
                since_yield = 0
                await asyncio.sleep(0)

    def _release_space(self) -> None:
        space = self._space
        if space is not None:
            self._space = None
            if not space.done():
                space.set_result(None)

    def _failed(self, event: Event, exc: BaseException) -> None:
        self.errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        self._router.errors += 1
        # The first few failures carry a traceback; later ones a line, then every 1000th.
        if self.errors <= 3:
            log.warning("subscriber %s raised on %s (%s)", self.name, event.type, event.id, exc_info=exc)
        elif self.errors < 100 or self.errors % 1000 == 0:
            log.warning("subscriber %s raised on %s (%s): %s [%d errors]", self.name, event.type, event.id,
                        self.last_error, self.errors)

    # -- control -----------------------------------------------------------------------

    async def drain(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 - the documented API takes a timeout
        """Wait until every queued event has been handled (``TimeoutError`` after ``timeout``)."""

        async def wait() -> None:
            while self._active and (self._queue or self._busy):
                if self._idle is None:
                    self._idle = asyncio.get_running_loop().create_future()
                await asyncio.shield(self._idle)

        await asyncio.wait_for(wait(), timeout)

    def unsubscribe(self) -> None:
        """Stop: the handler is not called again and queued events are discarded."""
        if not self._active:
            return
        self._active = False
        self._router.remove(self)
        self._queue.clear()
        for future in (self._wakeup, self._space, self._idle):
            if future is not None and not future.done():
                future.set_result(None)
        task = self._task
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()

    close = unsubscribe
