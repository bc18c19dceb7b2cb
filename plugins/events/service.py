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
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from llmspell.errors import DeadlineExceeded, ValidationError
from llmspell.ids import new_id
from llmspell.plugins.events.api import Event, Handler, compile_patterns
from llmspell.plugins.events.backend import EventCodec, EventLog, EventTransport
from llmspell.serde import MAPPING_DEPTH, check_json, is_json

from .building import BuildingMixin, _as_dict
from .bus import Subscription
from .config import POLICIES, EventsConfig
from .reading import ReadingMixin
from .router import Router, Waiter
from .transport import LocalTransport
from .triggers import TriggerRegistry
from .workflow import Workflow

__all__ = ["EventBus"]

log = logging.getLogger("llmspell.events")


_now = datetime.now


def _check_meta(**fields: Any) -> None:
    """The metadata arguments of ``publish``: ``source`` a string, the ids strings or None."""
    for name, value in fields.items():
        if name == "source" and type(value) is not str:
            raise ValidationError(f"source must be a string, got {type(value).__name__} {value!r:.60}")
        if name != "source" and value is not None and type(value) is not str:
            raise ValidationError(f"{name} must be a string or None, got {type(value).__name__} {value!r:.60}")


class EventBus(BuildingMixin, ReadingMixin):
    """The :class:`~llmspell.plugins.events.api.EventService` of the ``events`` plugin."""

    def __init__(self, kernel: Any, config: EventsConfig, *, log_backend: EventLog | None = None,
                 transport: EventTransport | None = None) -> None:
        self.kernel = kernel
        self.config = config
        self.codec = EventCodec.for_kernel(kernel)
        self.log: EventLog = log_backend or kernel.create_backend("event backend", config.backend)
        self.transport: EventTransport = transport or kernel.create_backend("event transport", config.transport)
        self.router = Router()
        self.triggers = TriggerRegistry(self)
        self._cls_for = self.codec.cls_for
        self._publish_point = kernel.hook.event_before_publish
        self._unscoped = (
            compile_patterns(config.log_unscoped) if config.system_stream and config.log_unscoped else None
        )
        self._system_stream = config.system_stream or None
        self._type_registry = kernel.registry("event type")
        self._type_info: dict[str, tuple[type[Event], str | None, int, bool]] = {}
        self._type_count = -1
        self.started = False
        self._opened = False
        self.published = 0
        self.duplicates = 0
        self.malformed: list[str] = []

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        await self.log.open()
        self._opened = True
        await self.transport.start(self.router)
        self.started = True
        await self.triggers.join_all()

    async def close(self) -> None:
        """Let subscribers finish (up to ``[events] drain_timeout``), then close transport and log."""
        if self.started:
            try:
                await self.router.drain(self.config.drain_timeout)
            except TimeoutError:
                log.warning("event subscribers did not finish within %ss; pending events are dropped",
                            self.config.drain_timeout)
            self.started = False
            self.router.close()
            await self.transport.close()
        if self._opened:
            self._opened = False
            await self.log.close()

    async def health(self) -> list[str]:
        """Problems with the log backend and the transport (``llmspell doctor``); empty when fine."""
        problems: list[str] = []
        for part in (self.log, self.transport):
            check = getattr(part, "health", None)
            if check is not None:
                problems.extend(await check())
        return problems

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
        info = self._type_info.get(type_name) or self._describe(type_name)
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
        if type(event) is str and cause is None:  # the hot path: build it here
            info = self._type_info.get(event)
            if info is None or self._type_count != len(self._type_registry):
                info = self._describe(event)
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
            built = self._build(event, payload, {
                "source": source, "session_id": session_id, "user_id": user_id, "correlation_id": correlation_id,
                "causation_id": causation_id, "stream": stream, "cause": cause,
            })
        if self._publish_point:
            built = await self._hook(built)
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
        if isinstance(events, str | bytes | Mapping) or not isinstance(events, Sequence | Iterable):
            raise ValidationError(f"publish_many takes a list of events or (type, payload) pairs, got {events!r:.60}")
        built = []
        for item in events:
            if isinstance(item, tuple):
                if len(item) != 2:
                    raise ValidationError(f"publish_many takes (type, payload) pairs, got a tuple of {len(item)}")
                type_name, payload = item
                event = self._build(type_name, payload, {})
            else:
                event = self._build(item, None, {})
            if self._publish_point:
                event = await self._hook(event)
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

    def unsubscribe(self, subscription: Subscription) -> None:
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

    def workflow(self, name: str, **options: Any) -> Workflow:
        """A :class:`~llmspell.plugins.events.workflow.Workflow` run that emits its events here."""
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
