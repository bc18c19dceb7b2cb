"""Reading the log for the service: read, tail/follow, query, replay, project.

An :class:`EventReader` is built with the service's log and settings; the service hands
its reading methods to it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from llmspell.errors import ValidationError
from llmspell.plugins.events.api import (
    Event,
    Handler,
    MalformedEventError,
    Projection,
    ProjectionResult,
    StreamInfo,
    check_stream,
    compile_patterns,
)

from . import api
from ._bus import Subscription
from ._projections import fold
from .backend import LogQuery, check_seq

if TYPE_CHECKING:
    from llmspell.plugins.events.backend import EventLog

    from ._config import EventsConfig

__all__ = ["EventReader"]

log = logging.getLogger("llmspell.events")
S = TypeVar("S")
_MALFORMED = ("raise", "skip")


def _check_malformed(malformed: object) -> None:
    if malformed not in _MALFORMED:
        raise ValidationError(f"malformed must be 'raise' or 'skip', got {malformed!r:.60}")


def _check_types(types: object) -> None:
    """None, a type pattern, or a list of them."""
    if types is None or isinstance(types, str):
        return
    if not isinstance(types, Sequence) or not all(isinstance(t, str) for t in types):
        raise ValidationError(f"types must be a type pattern or a list of them, got {types!r:.60}")


def _check_flag(name: str, value: object) -> None:
    if type(value) is not bool:
        raise ValidationError(f"{name} must be True or False, got {value!r:.60}")


class EventReader:
    """Reads one event log: pages, malformed records, follow by polling, projections.

    ``malformed`` collects the records skipped with ``malformed="skip"`` (shared with the
    service's ``stats()``).
    """

    def __init__(self, log: EventLog, config: EventsConfig, malformed: list[str]) -> None:
        self.log = log
        self.config = config
        self.malformed = malformed

    async def read(
        self, stream: str, from_seq: int = 1, to_seq: int | None = None, *,
        limit: int | None = None, malformed: str = "raise",
    ) -> AsyncIterator[Event]:
        """The events of ``stream`` from ``from_seq`` (to ``to_seq``), in order, fetched in pages.

        A record that cannot be decoded raises :class:`~llmspell.plugins.events.api.MalformedEventError`
        (naming its stream and seq) once the events before it are yielded; with
        ``malformed="skip"`` it is logged, recorded in ``stats()["malformed"]`` and skipped.
        """
        _check_malformed(malformed)
        check_stream(stream)
        seq = check_seq("from_seq", from_seq, 1)
        if to_seq is not None:
            check_seq("to_seq", to_seq)
        remaining = None if limit is None else check_seq("limit", limit)
        page_size = self.config.read_batch
        while remaining is None or remaining > 0:
            size = page_size if remaining is None else min(page_size, remaining)
            try:
                page = await self.log.read(stream, seq, to_seq, size)
            except MalformedEventError as exc:
                if exc.seq is None or exc.seq < seq:
                    raise
                page = await self.log.read(stream, seq, exc.seq - 1, size) if exc.seq > seq else []
                for event in page:  # the good events before the bad one, in order
                    yield event
                if malformed == "raise":
                    raise
                self.report_malformed(exc)
                if remaining is not None:
                    remaining -= len(page) + 1
                seq = exc.seq + 1
                continue
            for event in page:
                yield event
            if len(page) < size:
                return
            seq = page[-1].seq + 1  # type: ignore[operator]
            if remaining is not None:
                remaining -= len(page)

    def report_malformed(self, exc: MalformedEventError) -> None:
        log.warning("skipping %s", exc)
        if len(self.malformed) < 1000:
            self.malformed.append(str(exc))

    async def replay(
        self, stream: str, handler: Handler | api.Subscription, *, from_seq: int = 1, to_seq: int | None = None,
        types: str | Sequence[str] | None = None, malformed: str = "raise",
    ) -> int:
        """Give the stored events of ``stream`` to ``handler`` in order; returns how many.

        ``handler`` is a function (sync or async; an exception stops the replay and
        propagates) or a :class:`Subscription` (events are queued under its policy).
        """
        if not (isinstance(handler, Subscription) or callable(handler)):
            raise ValidationError(f"replay needs a function or a Subscription, got {handler!r:.60}")
        match = None if types is None else compile_patterns(types).match
        count = 0
        put = handler.put if isinstance(handler, Subscription) else None
        async for event in self.read(stream, from_seq, to_seq, malformed=malformed):
            if match is not None and not match(event.type):
                continue
            if put is not None:
                await put(event)
            else:
                result = handler(event)  # type: ignore[operator]
                if result is not None and inspect.isawaitable(result):
                    await result
            count += 1
        return count

    async def tail(
        self, stream: str | None = None, *, types: str | Sequence[str] | None = None, last: int = 10,
        follow: bool = False, poll_interval: float | None = None,
    ) -> AsyncIterator[Event]:
        """The last ``last`` logged events (of one stream, or of all by time), then, with
        ``follow``, every event appended afterwards by any process (the log is polled)."""
        _check_types(types)
        check_seq("last", last)
        _check_flag("follow", follow)
        if poll_interval is not None and (
            isinstance(poll_interval, bool) or not isinstance(poll_interval, int | float)
            or not 0 < poll_interval < math.inf
        ):
            raise ValidationError(f"poll_interval must be a number of seconds above 0, got {poll_interval!r:.60}")
        if stream is not None:
            check_stream(stream)
        match = None if types is None else compile_patterns(types).match
        interval = poll_interval or self.config.poll_interval
        positions = {stream: await self.log.last_seq(stream)} if stream else {
            info.name: info.last_seq for info in await self.log.streams()
        }
        if last > 0:
            for event in await self._recent(stream, types, last, positions):
                yield event
        while follow:
            await asyncio.sleep(interval)
            infos = [StreamInfo(stream, await self.log.last_seq(stream))] if stream else await self.log.streams()
            fresh: list[Event] = []
            for info in infos:
                known = positions.get(info.name, 0)
                if info.last_seq < known:  # deleted and started again
                    known = 0
                if info.last_seq > known:
                    async for event in self.read(info.name, known + 1, info.last_seq, malformed="skip"):
                        if match is None or match(event.type):
                            fresh.append(event)
                positions[info.name] = info.last_seq
            fresh.sort(key=lambda e: (e.time, e.stream or "", e.seq or 0))
            for event in fresh:
                yield event

    async def _recent(
        self, stream: str | None, types: str | Sequence[str] | None, last: int, positions: dict[str, int]
    ) -> list[Event]:
        """The last ``last`` matching events at or before ``positions``, oldest first."""
        try:
            found = await self.log.query(types=types, stream=stream, limit=last + len(positions) + 10, reverse=True)
        except MalformedEventError:  # read stream by stream, skipping (and reporting) the bad records
            match = None if types is None else compile_patterns(types).match
            found = []
            for name, upto in positions.items():
                async for event in self.read(name, 1, upto, malformed="skip"):
                    if match is None or match(event.type):
                        found.append(event)
            found.sort(key=lambda e: (e.time, e.stream or "", e.seq or 0), reverse=True)
        found = [e for e in found if e.seq is not None and e.seq <= positions.get(e.stream or "", 0)]
        return list(reversed(found[:last]))

    async def query(
        self, types: str | Sequence[str] | None = None, *, stream: str | None = None,
        since: datetime | None = None, until: datetime | None = None, limit: int | None = None,
        reverse: bool = False,
    ) -> list[Event]:
        """Logged events by type pattern and time range ``[since, until)``, by time."""
        LogQuery.of(types=types, stream=stream, since=since, until=until, limit=limit, reverse=reverse)
        return await self.log.query(types=types, stream=stream, since=since, until=until, limit=limit, reverse=reverse)

    async def get(self, event_id: str) -> Event | None:
        return await self.log.get(event_id)

    async def last_seq(self, stream: str) -> int:
        return await self.log.last_seq(stream)

    async def streams(self, prefix: str = "") -> list[StreamInfo]:
        if type(prefix) is not str:
            raise ValidationError(f"prefix must be a string, got {type(prefix).__name__} {prefix!r:.60}")
        return await self.log.streams(prefix)

    async def delete_stream(self, stream: str) -> int:
        """Delete a whole stream (a deleted session's history) with its snapshots."""
        return await self.log.delete_stream(stream)

    async def project(
        self, stream: str, projection: Projection[S], *, to_seq: int | None = None,
        snapshot: bool = True, snapshot_every: int | None = None,
    ) -> ProjectionResult[S]:
        """Fold ``stream`` into ``projection``'s state (from its snapshot when there is one)."""
        check_stream(stream)
        if to_seq is not None:
            check_seq("to_seq", to_seq)
        if snapshot_every is not None:
            check_seq("snapshot_every", snapshot_every)
        _check_flag("snapshot", snapshot)
        if not isinstance(projection, Projection):
            raise ValidationError(f"projection must be a Projection, got {projection!r:.60}")
        every = self.config.snapshot_every if snapshot_every is None else snapshot_every
        return await fold(self, stream, projection, to_seq=to_seq, snapshot=snapshot, snapshot_every=every)
