"""The ``nats`` event-log backend on JetStream.

Layout (``p`` is ``[nats] prefix``; streams are created at open if missing)::

    stream p_log   subjects p.log.<stream>        one message per stream part of an append:
                                                 the events' envelopes as a JSON list, with
                                                 headers Llmspell-Seq (the first event's
                                                 seq) and Llmspell-Count
    stream p_ids   subjects p.ids.<event id>      one claim per event id (see _claims)
    stream p_snap  subjects p.snap.<stream>.<name>  the latest snapshot per projection

**Gapless sequence numbers.** An append reads the last message of the stream's subject
(or remembers it from its previous append), numbers its events after it and publishes
with ``Nats-Expected-Last-Subject-Sequence`` set to that message's stream sequence.
JetStream stores the message only if nothing was appended to the subject since, so two
writers can never take the same numbers; the loser re-reads and tries again.

**Idempotence.** Event ids are claimed before the events are stored (:mod:`._claims`),
so an event appended twice, at any time apart and from any process, is stored once.

**Atomicity.** The events of one append that go to one stream are one message: they are
stored together or not at all, and ``expected_last_seq`` is checked by the same
conditional publish. An append spanning several streams writes one message per stream,
in order: if the connection fails part-way, the first streams' events may be stored
without the rest (retrying the append is safe: stored ids are skipped). A batch larger
than the server's ``max_payload`` (1 MB by default) is refused; append it in parts.

Reading finds the message holding a sequence number by binary search over the subject
(``next_by_subj`` direct gets) and reads on with a short-lived consumer. Queries by type
and time scan the log: JetStream has no secondary index (use the Redis or PostgreSQL log
for query-heavy work).
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from llmspell import serde
from llmspell.errors import BackendUnavailable, ConflictError
from llmspell.plugins.events.api import Event, StreamInfo, check_stream
from llmspell.plugins.events.backend import AppendResult, EventCodec, Snapshot, prepare

from ._claims import Claim, Claims
from ._client import NatsConnection
from ._jetstream import WRONG_LAST_SEQUENCE, JetStream, JetStreamError
from ._logread import COUNT, SEQ, LogReader, span
from .config import NatsConfig
from .naming import token

__all__ = ["NatsEventLog"]


class NatsEventLog:
    """An :class:`~llmspell.plugins.events.backend.EventLog` on JetStream, shared by any number of processes.

    It appends and keeps snapshots itself; reading (:meth:`read`, :meth:`get`, :meth:`query`,
    :meth:`streams`) is its :class:`~llmspell.contrib.nats._logread.LogReader`'s.
    """

    def __init__(self, config: NatsConfig, codec: EventCodec | None = None, *, prefix: str | None = None) -> None:
        self.config = config
        self.codec = codec or EventCodec()
        p = self.prefix = prefix or config.prefix
        self.log_stream, self.ids_stream, self.snap_stream = f"{p}_log", f"{p}_ids", f"{p}_snap"
        self._snap_subject = f"{p}.snap."
        self.conn = NatsConnection(config, "events")
        self.jetstream = JetStream(self.conn)
        self.claims = Claims(self.jetstream, self.ids_stream, f"{p}.ids.")
        self.reader = LogReader(self.jetstream, self.claims, self.codec, self.log_stream, f"{p}.log.")
        self._positions: dict[str, tuple[int, int]] = {}
        """stream -> (stream sequence of its last message, its last event seq), as last seen here."""

    # -- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        await self.conn.open()
        p = self.prefix
        await self.jetstream.ensure_stream(name=self.log_stream, subjects=[f"{p}.log.>"], allow_direct=True,
                                           duplicate_window=self.config.duplicate_window)
        await self.jetstream.ensure_stream(name=self.ids_stream, subjects=[f"{p}.ids.>"], allow_direct=True,
                                           max_msgs_per_subject=1)
        await self.jetstream.ensure_stream(name=self.snap_stream, subjects=[f"{p}.snap.>"], allow_direct=True,
                                           max_msgs_per_subject=1)

    async def close(self) -> None:
        await self.conn.close()

    async def health(self) -> list[str]:
        try:
            await self.jetstream.info(self.log_stream)
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            return [f"event log on {self.conn.where}: {type(exc).__name__}: {exc}"]
        return []

    async def drop(self) -> None:
        """Delete the log's streams (tests and administration)."""
        for name in (self.log_stream, self.ids_stream, self.snap_stream):
            try:
                await self.conn.call(functools.partial(self.conn.jsm.delete_stream, name), write=True)
            except Exception:  # noqa: BLE001 - already gone
                pass

    # -- positions ---------------------------------------------------------------------

    async def _position(self, stream: str, *, fresh: bool = False) -> tuple[int, int]:
        if not fresh and stream in self._positions:
            return self._positions[stream]
        last = await self.jetstream.last(self.log_stream, self.reader.subject(stream))
        position = (0, 0) if last is None else (last.seq, span(last)[1])
        self._positions[stream] = position
        return position

    # -- appending -------------------------------------------------------------------

    async def append(self, events: Sequence[Event], *, expected_last_seq: int | None = None) -> AppendResult:
        prepared = prepare(self.codec, events, expected_last_seq)
        rows = prepared.rows
        if not rows:
            return AppendResult([])
        if prepared.stream is not None:
            _, last = await self._position(prepared.stream, fresh=True)
            prepared.check_last_seq(last)
        first: dict[str, int] = {}
        by_stream: dict[str, list[int]] = {}
        for i, (stream, event_id, *_) in enumerate(rows):
            if event_id not in first:
                first[event_id] = i
                by_stream.setdefault(stream, []).append(i)
        nonce = os.urandom(9).hex()
        claims: dict[int, Claim] = {}
        for stream, idxs in by_stream.items():
            _, last = await self._position(stream)
            for j, i in enumerate(idxs):
                claims[i] = Claim(stream, last + 1 + j, time.time(), nonce)
        revs = await self.claims.create([(rows[i][1], claims[i]) for i in claims])
        mine: dict[int, int] = {}
        stored: dict[int, Event] = {}
        for i, rev in zip(list(claims), revs, strict=True):
            if rev is not None:
                mine[i] = rev
            else:
                outcome = await self._resolve(rows[i][1], claims[i])
                if isinstance(outcome, Event):
                    stored[i] = outcome
                else:
                    mine[i] = outcome
        written: set[int] = set()
        try:
            for stream, idxs in by_stream.items():
                todo = [i for i in idxs if i in mine]
                if todo:
                    await self._write(stream, todo, rows, claims, mine, expected_last_seq)
                    written.update(todo)
        except BaseException:
            await asyncio.shield(self.claims.drop([rows[i][1] for i in mine if i not in written]))
            raise
        out: list[Event] = []
        duplicates: set[str] = set()
        for i, (event, (stream, event_id, *_)) in enumerate(zip(prepared.events, rows, strict=True)):
            at = first[event_id]
            if at in stored:
                duplicates.add(event_id)
                out.append(stored[at])
            elif at != i:
                duplicates.add(event_id)
                out.append(out[at])
            else:
                out.append(event.with_position(stream, claims[i].seq))
        return AppendResult(out, frozenset(duplicates))

    async def _resolve(self, event_id: str, wanted: Claim) -> Event | int:
        """An id someone claimed: its stored event (a duplicate), or our claim's revision."""
        delay = 0.005
        deadline = time.monotonic() + self.config.claim_timeout + 2 * self.config.timeout
        while time.monotonic() < deadline:
            claim = await self.claims.read(event_id)
            if claim is None:
                (rev,) = await self.claims.create([(event_id, wanted)])
                if rev is not None:
                    return rev
                continue
            stored = await self.reader.event_at(claim.stream, claim.seq)
            if stored is not None and stored.id == event_id:
                return stored
            if time.time() - claim.time > self.config.claim_timeout:  # its append died: take it over
                (rev,) = await self.claims.update([(event_id, wanted, claim.rev)])
                if rev is not None:
                    return rev
                continue
            await asyncio.sleep(delay)  # its append is still writing
            delay = min(delay * 2, 0.2)
        raise BackendUnavailable(
            f"event {event_id} is claimed by an append that neither finished nor expired within "
            f"{self.config.claim_timeout}s ([nats] claim_timeout)"
        )

    async def _write(self, stream: str, todo: list[int], rows: list[Any], claims: dict[int, Claim],
                     mine: dict[int, int], expected_last_seq: int | None) -> None:
        """Publish ``todo`` (row indexes) as one message after the stream's last, retrying races."""
        subject = self.reader.subject(stream)
        body = b"[" + b",".join(rows[i][4] for i in todo) + b"]"
        started = time.monotonic()
        attempt = 0
        fresh = False
        while True:
            js, last = await self._position(stream, fresh=fresh)
            if expected_last_seq is not None and last != expected_last_seq:
                raise ConflictError(f"stream {stream}", expected=expected_last_seq, current_version=last)
            if any(claims[i].seq != last + 1 + j for j, i in enumerate(todo)):  # the claims say where events go
                moved = [(rows[i][1], Claim(stream, last + 1 + j, time.time(), claims[i].nonce), mine[i])
                         for j, i in enumerate(todo)]
                revs = await self.claims.update(moved)
                if any(rev is None for rev in revs):
                    raise BackendUnavailable(f"an event-id claim of this append on stream {stream!r} was taken "
                                             "over while it waited; retry the append")
                for (_, claim, _), i, rev in zip(moved, todo, revs, strict=True):
                    claims[i], mine[i] = claim, rev  # type: ignore[assignment]
            headers = {SEQ: str(last + 1), COUNT: str(len(todo)), "Nats-Expected-Last-Subject-Sequence": str(js)}
            (ack,) = await self.jetstream.publish_many([(subject, body, headers)])
            if not isinstance(ack, JetStreamError):
                self._positions[stream] = (ack.seq, last + len(todo))
                return
            if ack.err_code != WRONG_LAST_SEQUENCE:
                raise BackendUnavailable(f"JetStream refused events for stream {stream!r}: {ack.description} "
                                         f"(error {ack.err_code})")
            fresh = True  # another writer appended first: read the new end, number again
            attempt += 1
            if time.monotonic() - started > self.config.claim_timeout / 2:
                raise BackendUnavailable(f"could not append to stream {stream!r} within "
                                         f"{self.config.claim_timeout / 2}s: too many concurrent writers")
            await asyncio.sleep(random.uniform(0, min(0.0005 * 2**attempt, 0.02)))

    async def last_seq(self, stream: str) -> int:
        check_stream(stream)
        return (await self._position(stream, fresh=True))[1]

    async def delete_stream(self, stream: str) -> int:
        check_stream(stream)
        subject = self.reader.subject(stream)
        last = await self.jetstream.last(self.log_stream, subject)
        count = 0 if last is None else span(last)[1]
        ids = []
        if last is not None:
            for msg in await self.jetstream.scan(self.log_stream, subject):
                ids += [e.id for e in self.reader.decode(msg, stream)]
            await self.jetstream.purge(self.log_stream, subject)
        await self.jetstream.purge(self.snap_stream, self._snap_subject + token(stream) + ".>")
        self._positions.pop(stream, None)
        await self.claims.drop(ids)
        return count

    # -- reading (the reader's) -------------------------------------------------------

    async def read(self, stream: str, from_seq: int = 1, to_seq: int | None = None, limit: int | None = None) -> list[Event]:
        return await self.reader.read(stream, from_seq, to_seq, limit)

    async def get(self, event_id: str) -> Event | None:
        return await self.reader.get(event_id)

    async def query(
        self,
        *,
        types: str | Sequence[str] | None = None,
        stream: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> list[Event]:
        return await self.reader.query(types=types, stream=stream, since=since, until=until, limit=limit,
                                       reverse=reverse)

    async def streams(self, prefix: str = "") -> list[StreamInfo]:
        return await self.reader.streams(prefix)

    # -- snapshots -------------------------------------------------------------------

    def _snapshot_subject(self, stream: str, name: str) -> str:
        return self._snap_subject + token(stream) + "." + token(name)

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        check_stream(snapshot.stream)
        await self.jetstream.publish(self._snapshot_subject(snapshot.stream, snapshot.name), serde.dumps(snapshot), {})

    async def load_snapshot(self, stream: str, name: str) -> Snapshot | None:
        msg = await self.jetstream.last(self.snap_stream, self._snapshot_subject(stream, name))
        return None if msg is None or not msg.data else serde.loads_as(msg.data, Snapshot)
