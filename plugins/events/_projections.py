"""Event sourcing: folding a stream into a state, snapshots, live projections.

``await kernel.events.project(stream, projection)`` starts from the projection's
latest snapshot of that stream (when its ``version`` matches), folds the events after
it in order and, when at least ``snapshot_every`` events were folded, saves a new
snapshot. Folding is deterministic, so the result is the same with or without the
snapshot, and the same every time (a test checks both).

:func:`state_projection` rebuilds state from ``state.changed`` events; the sessions
service uses it to rebuild a session's state from the session's stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from llmspell.plugins.events.api import Event, EventService, Projection, ProjectionResult, state_projection
from llmspell.plugins.events.backend import EventLog, Snapshot
from llmspell.serde import utcnow

if TYPE_CHECKING:
    from llmspell.plugins.events.api import Subscription

__all__ = ["fold", "Folding", "LiveProjection", "state_projection", "state_values"]

S = TypeVar("S")


class Folding(Protocol):
    """What :func:`fold` reads: the log (for snapshots) and its events in order."""

    @property
    def log(self) -> EventLog: ...

    def read(
        self, stream: str, from_seq: int = 1, to_seq: int | None = None, *,
        limit: int | None = None, malformed: str = "raise",
    ) -> AsyncIterator[Event]: ...


async def fold(
    service: Folding, stream: str, projection: Projection[S], *, to_seq: int | None = None,
    snapshot: bool = True, snapshot_every: int = 1000, malformed: str = "raise",
) -> ProjectionResult[S]:
    """Fold ``stream`` (up to ``to_seq``) into ``projection``; see the module docstring."""
    state: S | None = None
    seq = 0
    start = 0
    if snapshot:
        snap = await service.log.load_snapshot(stream, projection.name)
        if snap is not None and snap.version == projection.version and (to_seq is None or snap.seq <= to_seq):
            state, seq = projection.load(snap.state), snap.seq
            start = seq
    if state is None:
        state = projection.initial()
    match = projection.matches()
    apply = projection.apply
    applied = 0
    async for event in service.read(stream, seq + 1, to_seq, malformed=malformed):
        if match is None or match(event.type):
            state = apply(state, event)
            applied += 1
        if event.seq is not None:  # (a logged event always has one)
            seq = event.seq
    if snapshot and snapshot_every and seq - start >= snapshot_every:
        await service.log.save_snapshot(
            Snapshot(stream, projection.name, projection.version, seq, projection.dump(state), utcnow())
        )
    return ProjectionResult(state, seq, start, applied)


class LiveProjection(Generic[S]):
    """A projection of one stream kept current from the bus.

    It subscribes to the stream first, then folds the log, then applies each delivered
    event whose ``seq`` follows the one it holds; an event already folded is ignored,
    and a gap (events appended by another process, or dropped) is filled from the log
    first. So ``live.state`` equals ``(await project(stream, projection)).state`` once
    the bus is drained.
    """

    def __init__(self, service: EventService, stream: str, projection: Projection[S], *, snapshot: bool = True) -> None:
        self.service = service
        self.stream = stream
        self.projection = projection
        self.snapshot = snapshot
        self.state: S = projection.initial()
        self.seq = 0
        self._match = projection.matches()
        self._ready = asyncio.Event()
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._sub = self.service.subscribe(
            "**", self._on_event, stream=self.stream, policy="block", name=f"live:{self.projection.name}"
        )
        result = await self.service.project(self.stream, self.projection, snapshot=self.snapshot)
        self.state, self.seq = result.state, result.seq
        self._ready.set()

    async def _on_event(self, event: Event) -> None:
        if not self._ready.is_set():
            await self._ready.wait()
        seq = event.seq
        if seq is None or seq <= self.seq:
            return
        if seq > self.seq + 1:
            async for missed in self.service.read(self.stream, self.seq + 1, seq - 1):
                self._apply(missed)
        self._apply(event)

    def _apply(self, event: Event) -> None:
        if self._match is None or self._match(event.type):
            self.state = self.projection.apply(self.state, event)
        self.seq = event.seq or self.seq

    def close(self) -> None:
        if self._sub is not None:
            self._sub.unsubscribe()


# -- state.changed ----------------------------------------------------------------------
# The projection itself is part of the api (sessions use it); its state is read here.


def state_values(state: dict[str, Any]) -> dict[tuple[str, str, str], Any]:
    """``{(scope, owner, key): value}`` of a :func:`state_projection` state, deleted keys left out."""
    return {
        (scope, owner, key): entry.get("value")
        for scope, owners in state.items()
        for owner, keys in owners.items()
        for key, entry in keys.items()
        if not entry.get("deleted")
    }
