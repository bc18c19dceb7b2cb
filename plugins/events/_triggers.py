"""Event-driven triggers: run a handler or an agent when an event matches a pattern.

``kernel.events.triggers.add("order.paid", ship)`` runs ``ship(event)`` for each
``order.paid`` event, in its own subscription (ordered, isolated, ``block`` by default).
``triggers.agent("ticket.opened", "triage", reply="ticket.triaged")`` runs an agent with
the event's payload as input and publishes its output as a reply event caused by the
trigger event.

**Groups.** A trigger added with ``group="shipping"`` does not receive events through
the normal fan-out: its process *joins* the group at the transport
(:meth:`~llmspell.plugins.events.backend.EventTransport.join`) and receives the events the transport
assigns to it through ``deliver_group``. With ``local`` that is every matching event
(one process); with a consumer-group transport (Redis Streams groups, NATS queue
groups) each event goes to one process of the group, so several hosts share the work.
Within a process, several triggers of one group take turns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from llmspell import serde
from llmspell.errors import DuplicateNameError, NotFoundError
from llmspell.plugins.events.api import Event, EventService, Handler, Subscription, compile_patterns

from ._bus import _name_of

if TYPE_CHECKING:
    from llmspell import Kernel
    from llmspell.plugins.events.backend import EventTransport

__all__ = ["Trigger", "TriggerRegistry"]


@attrs.define(eq=False)
class Trigger:
    """A registered trigger; counters come from its subscription."""

    name: str
    patterns: tuple[str, ...]
    group: str | None
    subscription: Subscription = attrs.field(repr=False)

    @property
    def fired(self) -> int:
        return self.subscription.delivered

    @property
    def errors(self) -> int:
        return self.subscription.errors


def _jsonable(value: Any) -> Any:
    if serde.is_json(value):
        return value
    try:
        return serde.unstructure(value)
    except Exception:
        return str(value)


class TriggerRegistry:
    """Triggers by name (``kernel.events.triggers``).

    Built with the event service it subscribes to and publishes replies on, the
    transport whose work-sharing groups it joins, and the kernel that runs agents.
    Groups are joined when the service starts (:meth:`join_all`) and, once it has, as
    triggers are added; after :meth:`stop` they are no longer joined.
    """

    def __init__(self, events: EventService, transport: EventTransport, kernel: Kernel) -> None:
        self._events = events
        self._transport = transport
        self._kernel = kernel
        self._joined = False
        self._triggers: dict[str, Trigger] = {}
        self._groups: dict[str, set[str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def add(
        self,
        pattern: str | Sequence[str],
        handler: Handler,
        *,
        name: str | None = None,
        group: str | None = None,
        predicate: Callable[[Event], bool] | None = None,
        stream: str | None = None,
        policy: str | None = None,
        maxsize: int | None = None,
    ) -> Trigger:
        """Run ``handler(event)`` (sync or async) for matching events; returns the trigger."""
        name = name or _name_of(handler)
        if name in self._triggers:
            raise DuplicateNameError("trigger", name, "an earlier add()", "this add()")
        patterns = compile_patterns(pattern).patterns
        target = handler
        if predicate is not None:

            def target(event: Event) -> Any:
                return handler(event) if predicate(event) else None

        sub = self._events.subscribe(patterns, target, policy=policy, maxsize=maxsize, name=f"trigger:{name}",
                                      stream=stream, group=group)
        trigger = Trigger(name, patterns, group, sub)
        self._triggers[name] = trigger
        if group is not None:
            self._groups.setdefault(group, set()).update(patterns)
            if self._joined:
                self._spawn(self._transport.join(group, patterns))
        return trigger

    def on(self, pattern: str | Sequence[str], **options: Any) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`add`."""

        def decorate(handler: Handler) -> Handler:
            self.add(pattern, handler, **options)
            return handler

        return decorate

    def agent(
        self,
        pattern: str | Sequence[str],
        agent: Any,
        *,
        input: Callable[[Event], Any] | None = None,
        options: Mapping[str, Any] | Callable[[Event], Mapping[str, Any]] | None = None,
        reply: str | None = None,
        name: str | None = None,
        **trigger_options: Any,
    ) -> Trigger:
        """Run ``agent`` (an instance or a registered name) with ``kernel.run`` for matching events.

        ``input(event)`` makes the agent's input (default: the payload); ``options`` are
        passed to ``kernel.run``. With ``reply``, the output is published as a ``reply``
        event ``{"output", "agent", "trigger"}`` caused by the trigger event.
        """
        label = agent if isinstance(agent, str) else getattr(agent, "name", None) or type(agent).__name__
        trigger_name = name or f"agent:{label}:{'|'.join(compile_patterns(pattern).patterns)}"
        events, kernel = self._events, self._kernel

        async def run(event: Event) -> None:
            value = input(event) if input is not None else event.payload
            opts = options(event) if callable(options) else dict(options or {})
            output = await kernel.run(agent, value, **opts)
            if reply is not None:
                await events.publish(reply, {"output": _jsonable(output), "agent": label, "trigger": trigger_name},
                                      cause=event, source="triggers")

        return self.add(pattern, run, name=trigger_name, **trigger_options)

    def remove(self, name: str) -> None:
        """Remove a trigger by name (its queued events are discarded)."""
        trigger = self._triggers.pop(name, None)
        if trigger is None:
            raise NotFoundError(f"no trigger named {name!r}; triggers: {', '.join(self._triggers) or 'none'}")
        trigger.subscription.unsubscribe()
        group = trigger.group
        if group is not None and not any(t.group == group for t in self._triggers.values()):
            self._groups.pop(group, None)
            if self._joined:
                self._spawn(self._transport.leave(group))

    def get(self, name: str) -> Trigger:
        try:
            return self._triggers[name]
        except KeyError:
            raise NotFoundError(f"no trigger named {name!r}") from None

    def __iter__(self) -> Iterator[Trigger]:
        return iter(list(self._triggers.values()))

    def __len__(self) -> int:
        return len(self._triggers)

    def __contains__(self, name: object) -> bool:
        return name in self._triggers

    async def join_all(self) -> None:
        """Join every group at the transport (the service calls this when it starts)."""
        self._joined = True
        for group, patterns in self._groups.items():
            await self._transport.join(group, sorted(patterns))
        if self._tasks:
            await asyncio.gather(*self._tasks)

    def stop(self) -> None:
        """The service stopped: groups are no longer joined as triggers come and go."""
        self._joined = False

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
