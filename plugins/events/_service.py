"""The default event service (``kernel.events``): publish, subscribe, wait.

Publishing an event:

1. builds it (the registered class of its type; ``REQUIRED`` payload keys checked);
2. runs the ``event_before_publish`` hook point, only when something is attached to it
   (``Replace(event)`` swaps the event, ``Cancel`` raises to the publisher);
3. picks its stream: ``stream=``, else the event's ``stream``, else its ``session_id``,
   else, for a type matching ``[events] log_unscoped``, ``[events] system_stream``;
   with none the event is delivered but not logged;
4. appends it to the log when it has a stream, which sets ``seq``; an event whose id is
   already logged is returned as stored and not delivered again;
5. sends it through the transport, which brings it back to :class:`Router` and so to
   the subscribers' queues. ``publish`` returns once the event is queued everywhere
   (with ``block``, once there is room); handlers run in the subscribers' own tasks.

The service is built from parts it owns: an :class:`~.building.EventBuilder` (step 1,
and the hook of step 2), an :class:`~.reading.EventReader` (reading the log), the
:class:`~.router.Router` and the :class:`~.triggers.TriggerRegistry`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from llmspell.errors import DeadlineExceeded, ValidationError
from llmspell.ids import new_id
from llmspell.plugins._values import MAPPING_DEPTH
from llmspell.plugins.events.api import (
    Event,
    Handler,
    Projection,
    ProjectionResult,
    StreamInfo,
    compile_patterns,
)
from llmspell.plugins.events.backend import EventCodec, EventLog, EventTransport
from llmspell.serde import check_json, is_json
from llmspell.services import StashKey

from . import api
from ._building import EventBuilder, _as_dict
from ._bus import Subscription
from ._config import POLICIES, EventsConfig
from ._projections import LiveProjection
from ._reading import EventReader
from ._router import Router, Waiter
from ._transport import LocalTransport
from ._triggers import TriggerRegistry
from ._workflow import Workflow

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["BUS", "EventBus"]

#: The kernel's event service, in ``kernel.stash``.
BUS: StashKey[EventBus] = StashKey("events")

log = logging.getLogger("llmspell.events")
S = TypeVar("S")


_now = datetime.now


def _check_meta(**fields: Any) -> None:
    """The metadata arguments of ``publish``: ``source`` a string, the ids strings or None."""
    for name, value in fields.items():
        if name == "source" and type(value) is not str:
            raise ValidationError(f"source must be a string, got {type(value).__name__} {value!r:.60}")
        if name != "source" and value is not None and type(value) is not str:
            raise ValidationError(f"{name} must be a string or None, got {type(value).__name__} {value!r:.60}")


class EventBus:
    """The :class:`~llmspell.plugins.events.api.EventService` of the ``events`` plugin."""

    def __init__(self, kernel: Kernel, config: EventsConfig, *, log_backend: EventLog | None = None,
                 transport: EventTransport | None = None) -> None:
        self.kernel = kernel
        self.config = config
        self.codec = EventCodec.for_kernel(kernel)
        self.log: EventLog = log_backend or kernel.create_backend("event_backend", config.backend)
        self.transport: EventTransport = transport or kernel.create_backend("event_transport", config.transport)
        self.router = Router()
        self.malformed: list[str] = []
        self.builder = EventBuilder(config, kernel.registry("event_type"), self.codec.cls_for,
                                    kernel.hook.event_before_publish)
        self.reader = EventReader(self.log, config, self.malformed)
        self.triggers = TriggerRegistry(self, self.transport, kernel)
        self._publish_point = kernel.hook.event_before_publish
        self.started = False
        self.published = 0
        self.duplicates = 0

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Start delivery (the kernel has opened the log and closes it and the transport)."""
        await self.transport.start(self.router)
        self.started = True
        await self.triggers.join_all()

    async def close(self) -> None:
        """Let subscribers finish (up to ``[events] drain_timeout``), then stop delivering."""
        if self.started:
            try:
                await self.router.drain(self.config.drain_timeout)
            except TimeoutError:
                log.warning("event subscribers did not finish within %ss; pending events are dropped",
                            self.config.drain_timeout)
            self.started = False
            self.triggers.stop()
            self.router.close()

    # -- publishing ----------------------------------------------------------------------

    def wants(self, type_name: str, *, session_id: str | None = None, stream: str | None = None) -> bool:
        """Whether an event of this type could reach anything if it were published now.

        True when it would be logged, when a hook watches publishes, when the transport
        carries events to other processes, or when a local subscription, waiter or
        work-sharing group matches its type. A service that publishes on every write
        (``state.changed``) asks first and skips building events nobody can receive:
        an unlogged event is only ever seen live, so skipping it is not observable.
        """
        if stream is not None or session_id is not None or not isinstance(self.transport, LocalTransport):
            return True
        info = self.builder.type_info.get(type_name) or self.builder.describe(type_name)
        if info[1] is not None or self._publish_point:
            return True
        router = self.router
        if router.waiters or self.transport.wants(type_name):
            return True
        subs = router._routes.get(type_name)
        return bool(subs if subs is not None else router._route(type_name))

    async def publish(
        self,
        event: Event | str,
        payload: Any = None,
        *,
        source: str = "",
        session_id: str | None = None,
        user_id: str | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        stream: str | None = None,
        cause: Event | None = None,
    ) -> Event:
        """Publish one event; returns it as logged (``seq`` set when it has a stream).

        ``event`` is a type name (with ``payload``) or an :class:`Event`. ``cause``
        fills the causation id (``cause.id``), the correlation id (the cause's, or its
        id) and the session and user ids from an event this one is a reaction to.
        """
        if type(source) is not str or not (
            (session_id is None or type(session_id) is str) and (user_id is None or type(user_id) is str)
            and (correlation_id is None or type(correlation_id) is str)
            and (causation_id is None or type(causation_id) is str)
        ):
            _check_meta(source=source, session_id=session_id, user_id=user_id, correlation_id=correlation_id,
                        causation_id=causation_id)
        builder = self.builder
        if type(event) is str and cause is None:  # the hot path: build it here
            info = builder.type_info.get(event)
            if info is None or builder.type_count != len(builder.types):
                info = builder.describe(event)
            cls, unscoped, version, required = info
            if payload is None:
                payload = {}
            elif type(payload) is not dict:
                payload = _as_dict(payload)
            if not is_json(payload, MAPPING_DEPTH):
                check_json(payload, "$.payload", max_depth=MAPPING_DEPTH)
            if stream is None:
                stream = session_id if session_id is not None else unscoped
            built = cls(event, payload, new_id(), _now(UTC), source, session_id, user_id, correlation_id,
                        causation_id, stream, None, version)
            if required:
                built.check()
        else:
            built = builder.build(event, payload, {
                "source": source, "session_id": session_id, "user_id": user_id, "correlation_id": correlation_id,
                "causation_id": causation_id, "stream": stream, "cause": cause,
            })
        if self._publish_point:
            built = await builder.hook(built)
        self.published += 1
        if built.stream is not None:
            result = await self.log.append([built])
            if result.duplicates:
                self.duplicates += 1
                return result.events[0]
            built = result.events[0]
        await self.transport.publish(built)
        return built

    async def publish_many(self, events: Sequence[Event | tuple[str, Mapping[str, Any]]]) -> list[Event]:
        """Publish several events; those with a stream are appended in one atomic batch.

        Items are Events or ``(type, payload)`` pairs. Returns them in order, as logged;
        already-logged ids are returned as stored and not delivered again.
        """
        if type(events) is not list and (
            isinstance(events, str | bytes | Mapping) or not isinstance(events, Sequence | Iterable)
        ):
            raise ValidationError(f"publish_many takes a list of events or (type, payload) pairs, got {events!r:.60}")
        builder = self.builder
        built = []
        for item in events:
            if isinstance(item, tuple):
                if len(item) != 2:
                    raise ValidationError(f"publish_many takes (type, payload) pairs, got a tuple of {len(item)}")
                type_name, payload = item
                event = builder.build(type_name, payload, {})
            else:
                event = builder.build(item, None, {})
            if self._publish_point:
                event = await builder.hook(event)
            built.append(event)
        logged: dict[str, Event] = {}  # each id once, at its first place
        for event in built:
            if event.stream is not None:
                logged.setdefault(event.id, event)
        duplicates: frozenset[str] = frozenset()
        if logged:
            result = await self.log.append(list(logged.values()))
            duplicates = result.duplicates
            stored = {e.id: e for e in result.events}
            built = [stored[e.id] if e.stream is not None else e for e in built]
        self.published += len(built)
        self.duplicates += len(duplicates)
        sent: set[str] = set(duplicates)
        for event in built:
            if event.id not in sent:
                sent.add(event.id)
                await self.transport.publish(event)
        return built

    # -- subscribing -------------------------------------------------------------------

    def subscribe(
        self,
        pattern: str | Sequence[str],
        handler: Handler,
        *,
        policy: str | None = None,
        maxsize: int | None = None,
        name: str | None = None,
        stream: str | None = None,
        group: str | None = None,
    ) -> Subscription:
        """Call ``handler(event)`` (sync or async) for each event matching ``pattern``.

        ``policy`` (``block`` or ``drop_oldest``) and ``maxsize`` bound the queue
        (defaults from ``[events]``); ``stream`` keeps only events of one stream.
        ``group`` makes it a member of a work-sharing group (see triggers).
        """
        if not callable(handler):
            raise ValidationError(f"an event handler must be callable, got {handler!r}")
        policy = policy or self.config.policy
        if policy not in POLICIES:
            raise ValidationError(f"unknown backpressure policy {policy!r}; use one of {', '.join(POLICIES)}")
        size = self.config.queue_size if maxsize is None else maxsize
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValidationError(f"maxsize must be a positive integer, got {size!r}")
        sub = Subscription(self.router, compile_patterns(pattern), handler, policy=policy, maxsize=size,
                           name=name, stream=stream, group=group)
        self.router.add(sub)
        return sub

    def unsubscribe(self, subscription: api.Subscription) -> None:
        subscription.unsubscribe()

    async def wait_for(
        self,
        pattern: str | Sequence[str],
        predicate: Callable[[Event], bool] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the documented API takes a timeout
        *,
        stream: str | None = None,
    ) -> Event:
        """The next event matching ``pattern`` (and ``predicate``) delivered from now on.

        Raises :class:`~llmspell.errors.DeadlineExceeded` (a ``TimeoutError``) after
        ``timeout`` seconds. Events delivered before the call are not considered: to
        avoid a race, call it (``asyncio.ensure_future``) before causing the event, or
        look in the log.
        """
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout >= 0
        ):
            raise ValidationError(f"timeout must be a number of seconds >= 0 or None, got {timeout!r:.60}")
        if predicate is not None and not callable(predicate):
            raise ValidationError(f"predicate must be callable, got {predicate!r:.60}")
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self.router.waiters.append(Waiter(compile_patterns(pattern), predicate, future, stream))
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise DeadlineExceeded(f"no event matching {pattern!r} within {timeout}s") from None
        finally:
            if not future.done():
                future.cancel()

    async def flush(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 - the documented API takes a timeout
        """Wait until every subscriber has handled every event queued so far."""
        await self.router.drain(timeout)

    # -- reading the log (the reader does the work) ----------------------------------------

    def read(
        self, stream: str, from_seq: int = 1, to_seq: int | None = None, *,
        limit: int | None = None, malformed: str = "raise",
    ) -> AsyncIterator[Event]:
        """The events of ``stream`` in order (see :meth:`.EventReader.read`)."""
        return self.reader.read(stream, from_seq, to_seq, limit=limit, malformed=malformed)

    async def replay(
        self, stream: str, handler: Handler | api.Subscription, *, from_seq: int = 1, to_seq: int | None = None,
        types: str | Sequence[str] | None = None, malformed: str = "raise",
    ) -> int:
        """Give the stored events of ``stream`` to ``handler`` in order (see :meth:`.EventReader.replay`)."""
        return await self.reader.replay(stream, handler, from_seq=from_seq, to_seq=to_seq, types=types,
                                        malformed=malformed)

    def tail(
        self, stream: str | None = None, *, types: str | Sequence[str] | None = None, last: int = 10,
        follow: bool = False, poll_interval: float | None = None,
    ) -> AsyncIterator[Event]:
        """The last logged events, then new ones with ``follow`` (see :meth:`.EventReader.tail`)."""
        return self.reader.tail(stream, types=types, last=last, follow=follow, poll_interval=poll_interval)

    async def query(
        self, types: str | Sequence[str] | None = None, *, stream: str | None = None,
        since: datetime | None = None, until: datetime | None = None, limit: int | None = None,
        reverse: bool = False,
    ) -> list[Event]:
        """Logged events by type pattern and time range ``[since, until)``, by time."""
        return await self.reader.query(types, stream=stream, since=since, until=until, limit=limit, reverse=reverse)

    async def get(self, event_id: str) -> Event | None:
        return await self.reader.get(event_id)

    async def last_seq(self, stream: str) -> int:
        return await self.reader.last_seq(stream)

    async def streams(self, prefix: str = "") -> list[StreamInfo]:
        return await self.reader.streams(prefix)

    async def delete_stream(self, stream: str) -> int:
        """Delete a whole stream (a deleted session's history) with its snapshots."""
        return await self.reader.delete_stream(stream)

    async def project(
        self, stream: str, projection: Projection[S], *, to_seq: int | None = None,
        snapshot: bool = True, snapshot_every: int | None = None,
    ) -> ProjectionResult[S]:
        """Fold ``stream`` into ``projection``'s state (see :meth:`.EventReader.project`)."""
        return await self.reader.project(stream, projection, to_seq=to_seq, snapshot=snapshot,
                                         snapshot_every=snapshot_every)

    async def live(self, stream: str, projection: Projection[S], **options: Any) -> LiveProjection[S]:
        """A projection kept up to date from the bus (see :class:`LiveProjection`)."""
        live: LiveProjection[S] = LiveProjection(self, stream, projection, **options)
        await live.start()
        return live

    # -- helpers built on the service -------------------------------------------------------

    def workflow(self, name: str, **options: Any) -> Workflow:
        """A :class:`~llmspell.plugins.events._workflow.Workflow` run that emits its events here."""
        return Workflow(self, name, **options)

    def subscriptions(self) -> list[Subscription]:
        return self.router.all_subscriptions()

    def stats(self) -> dict[str, Any]:
        return {
            "published": self.published,
            "delivered": self.router.delivered,
            "duplicates": self.duplicates,
            "handler_errors": self.router.errors,
            "malformed": len(self.malformed),
            "subscriptions": [s.stats() for s in self.router.all_subscriptions()],
        }
