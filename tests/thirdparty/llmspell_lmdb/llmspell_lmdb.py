"""llmspell's state, sessions and event log on LMDB; ``distribution = "lmdb"`` selects all three.

One LMDB environment per capability under ``<data_dir>/lmdb``. LMDB lets one process write
at a time, so each write below is one transaction: it lands whole or not at all.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from datetime import datetime
from itertools import takewhile
from pathlib import Path
from typing import Any

import attrs
import lmdb
from llmspell import Distribution, hookimpl, serde
from llmspell.errors import ConflictError
from llmspell.plugins.events.backend import (
    AppendResult,
    Event,
    EventCodec,
    Snapshot,
    StreamInfo,
    check_expected,
    check_range,
    check_seq,
    check_stream,
    check_time,
    compile_patterns,
    from_us,
    prepare,
    time_us,
)
from llmspell.plugins.sessions.backend import Session, SessionPage, SessionQuery, decode_listed, decode_record, page
from llmspell.plugins.state.backend import BatchResult, CasResult, Delete, Put, Record, WriteOp, check_batch, conflict, holds


def lkey(text: str, size: int = 511) -> bytes:
    """An LMDB key holds 511 bytes at most: a longer text keeps ``size - 32`` bytes plus its SHA-256."""
    raw = text.encode()
    return raw if len(raw) <= size else raw[: size - 32] + hashlib.sha256(raw).digest()


def u64(n: int) -> bytes:
    return struct.pack(">Q", n)


class Env:
    """One LMDB environment: a directory that several processes may open at once."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def open(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.env = lmdb.open(str(self.path), map_size=1 << 30)  # the size it may grow to

    async def close(self) -> None:
        self.env.close()


class LmdbStateBackend(Env):
    """Each record at ``lkey(key)`` as ``version | key length | key | data``."""

    name, persistent = "lmdb", True

    def _get(self, txn: Any, key: bytes) -> Record | None:
        if (raw := txn.get(key)) is None:
            return None
        version, size = struct.unpack_from(">QI", raw)
        return Record(raw[12 : 12 + size].decode(), raw[12 + size :], version)

    async def get(self, key: str) -> Record | None:
        with self.env.begin() as txn:
            return self._get(txn, lkey(key))

    async def get_many(self, keys: Sequence[str]) -> dict[str, Record]:
        with self.env.begin() as txn:
            return {key: r for key in keys if (r := self._get(txn, lkey(key))) is not None}

    async def compare_and_set(self, key: str, data: bytes, expected_version: int | None = None) -> CasResult:
        done = await self.batch([Put(key, data, expected_version)])
        return done.conflict or done.results[0]

    async def delete(self, key: str, expected_version: int | None = None) -> CasResult:
        done = await self.batch([Delete(key, expected_version)])
        return done.conflict or done.results[0]

    async def scan(self, prefix: str, *, after: str | None = None, limit: int = 500) -> list[Record]:
        head, group, out = prefix.encode()[:479], b"", list[Record]()
        with self.env.begin() as txn:
            cursor = txn.cursor()
            found = cursor.set_range(max(prefix, after or "").encode()[:479])
            for key in cursor.iternext(values=False) if found else ():
                if not key.startswith(head) or (len(out) >= limit and key[:479] != group):
                    break  # long keys that share 479 bytes are out of order: take their whole group
                if (r := self._get(txn, key)) and r.key.startswith(prefix) and (after is None or r.key > after):
                    out.append(r)
                    group = key[:479]
        return sorted(out, key=lambda r: r.key)[:limit]

    async def batch(self, ops: Sequence[WriteOp]) -> BatchResult:
        check_batch(ops)  # a key twice, an expected version below 0, a forced version below 1
        with self.env.begin(write=True) as txn:
            now = [self._get(txn, lkey(op.key)) for op in ops]
            olds = [None if r is None else r.version for r in now]
            for i, op in enumerate(ops):
                if not holds(op.expected_version, olds[i]):
                    return BatchResult(False, failed=i, conflict=conflict(now[i]))
            results = []
            for op, old in zip(ops, olds, strict=True):
                if isinstance(op, Delete):
                    txn.delete(lkey(op.key))
                    results.append(CasResult(True, None, old))
                    continue
                new, key = op.version or (old or 0) + 1, op.key.encode()
                txn.put(lkey(op.key), struct.pack(">QI", new, len(key)) + key + op.data)
                results.append(CasResult(True, new, old))
        return BatchResult(True, tuple(results))


class LmdbSessionBackend:
    """Session records as JSON on a state backend of their own: its versions are theirs."""

    def __init__(self, path: Path) -> None:
        self.store = LmdbStateBackend(path)
        self.open, self.close = self.store.open, self.store.close

    def _decode(self, r: Record | None) -> Session | None:
        return None if r is None else decode_record(r.data, r.version, f"{r.key!r} in {self.store.path}")

    async def get(self, session_id: str) -> Session | None:
        return self._decode(await self.store.get(session_id))

    async def put(self, session: Session, *, expected_version: int) -> Session:
        stored = session.replace(version=expected_version + 1)
        done = await self.store.compare_and_set(session.id, serde.dumps(stored), expected_version)
        if not done.ok:
            raise ConflictError(f"session:{session.id}", expected=expected_version,
                                current_version=done.previous_version, current_value=self._decode(done.current))
        return stored

    async def delete(self, session_id: str) -> bool:
        return (await self.store.delete(session_id)).previous_version is not None

    async def list(self, query: SessionQuery) -> SessionPage:
        skipped: list[tuple[str, str]] = []  # (id, reason) of records that cannot be read
        found = [decode_listed(r.data, r.version, f"{r.key!r} in {self.store.path}", r.key, skipped)
                 for r in await self.store.scan("", limit=2**62)]
        return attrs.evolve(page([s for s in found if s], query), skipped=tuple(skipped))


def sid(stream: str) -> bytes:
    return hashlib.sha256(check_stream(stream).encode()).digest()[:16]


def when(event: Event) -> bytes:
    return u64(time_us(event.time) + 2**63)  # microseconds, ordered as bytes (before 1970 too)


class LmdbEventLog(Env):
    """Keys: e+stream+seq (an event), i+id, t+time+stream+seq (time index), s+stream, n+snapshot."""

    def __init__(self, path: Path, codec: EventCodec) -> None:
        super().__init__(path)
        self.codec = codec

    def _event(self, txn: Any, at: bytes) -> Event:
        raw = txn.get(b"e" + at)
        size = int.from_bytes(raw[:2])
        return self.codec.decode(raw[2 + size :], raw[2 : 2 + size].decode(), int.from_bytes(at[-8:]))

    def _last(self, txn: Any, stream: str) -> int:
        info = txn.get(b"s" + lkey(check_stream(stream), 510))
        return 0 if info is None else int.from_bytes(info[:8])

    async def append(self, events: Sequence[Event], *, expected_last_seq: int | None = None) -> AppendResult:
        prepared = prepare(self.codec, events, expected_last_seq)  # checks and encodes every event first
        out, duplicates = [], set()
        with self.env.begin(write=True) as txn:
            if prepared.stream is not None:
                check_expected(prepared, self._last(txn, prepared.stream))
            for event, (stream, event_id, _, _, raw) in zip(prepared.events, prepared.rows, strict=True):
                if known := txn.get(b"i" + lkey(event_id, 510)):
                    duplicates.add(event_id)
                    out.append(self._event(txn, known))
                    continue
                seq, name = self._last(txn, stream) + 1, stream.encode()
                at = sid(stream) + u64(seq)
                txn.put(b"e" + at, len(name).to_bytes(2) + name + raw)
                txn.put(b"i" + lkey(event_id, 510), at)
                txn.put(b"t" + when(event) + lkey(stream, 493) + b"\0" + u64(seq), at)
                txn.put(b"s" + lkey(stream, 510), u64(seq) + when(event) + name)
                out.append(event.with_position(stream, seq))
        return AppendResult(out, frozenset(duplicates))

    async def read(self, stream: str, from_seq: int = 1, to_seq: int | None = None, limit: int | None = None) -> list[Event]:
        check_range(stream, from_seq, to_seq, limit)
        with self.env.begin() as txn:
            stop = min(self._last(txn, stream), 2**63 if to_seq is None else to_seq, from_seq + (limit or 2**63) - 1)
            return [self._event(txn, sid(stream) + u64(seq)) for seq in range(max(from_seq, 1), stop + 1)]

    async def last_seq(self, stream: str) -> int:
        with self.env.begin() as txn:
            return self._last(txn, stream)

    async def get(self, event_id: str) -> Event | None:
        with self.env.begin() as txn:
            at = txn.get(b"i" + lkey(event_id, 510))
            return None if at is None else self._event(txn, at)

    async def query(self, *, types: str | Sequence[str] | None = None, stream: str | None = None,
                    since: datetime | None = None, until: datetime | None = None,
                    limit: int | None = None, reverse: bool = False) -> list[Event]:
        low, high = (t and u64(time_us(t) + 2**63) for t in (check_time("since", since), check_time("until", until)))
        limit, match, only, hits = limit and check_seq("limit", limit), compile_patterns(types or "**").match, None, []
        with self.env.begin() as txn:
            only, cursor = stream and sid(stream), txn.cursor()
            found = cursor.set_range(b"t" + (low or b""))  # in time order, then stream and seq
            for key, at in cursor.iternext() if found else ():
                if key[:1] != b"t" or (high and key[1:9] >= high):  # since <= time < until
                    break
                if only is None or at[:16] == only:
                    hits += [e for e in [self._event(txn, at)] if match(e.type)]
        return (hits[::-1] if reverse else hits)[:limit]

    async def streams(self, prefix: str = "") -> list[StreamInfo]:
        with self.env.begin() as txn:
            cursor, head = txn.cursor(), b"s" + prefix.encode()[:478]
            rows = takewhile(lambda kv: kv[0].startswith(head), cursor.iternext() if cursor.set_range(head) else ())
            infos = [(v[16:].decode(), int.from_bytes(v[:8]), from_us(int.from_bytes(v[8:16]) - 2**63)) for _, v in rows]
        return [StreamInfo(*info) for info in sorted(infos) if info[0].startswith(prefix)]

    async def delete_stream(self, stream: str) -> int:
        with self.env.begin(write=True) as txn:
            last, cursor, snapshots = self._last(txn, stream), txn.cursor(), b"n" + sid(stream)
            for seq in range(1, last + 1):
                event = self._event(txn, sid(stream) + u64(seq))
                txn.delete(b"i" + lkey(event.id, 510))
                txn.delete(b"t" + when(event) + lkey(stream, 493) + b"\0" + u64(seq))
                txn.delete(b"e" + sid(stream) + u64(seq))
            txn.delete(b"s" + lkey(stream, 510))
            while cursor.set_range(snapshots) and cursor.key().startswith(snapshots):
                cursor.delete()
        return last

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        with self.env.begin(write=True) as txn:
            txn.put(b"n" + sid(snapshot.stream) + hashlib.sha256(snapshot.name.encode()).digest(), serde.dumps(snapshot))

    async def load_snapshot(self, stream: str, name: str) -> Snapshot | None:
        with self.env.begin() as txn:
            raw = txn.get(b"n" + sid(stream) + hashlib.sha256(name.encode()).digest())
        return None if raw is None else serde.loads_as(raw, Snapshot)


@hookimpl
def llmspell_register_state_backends(register: Any) -> None:
    register("lmdb", lambda kernel: LmdbStateBackend(kernel.data_dir / "lmdb" / "state"), "LMDB")


@hookimpl
def llmspell_register_session_backends(register: Any) -> None:
    register("lmdb", lambda kernel: LmdbSessionBackend(kernel.data_dir / "lmdb" / "sessions"), "LMDB")


@hookimpl
def llmspell_register_event_backends(register: Any) -> None:
    register("lmdb", lambda kernel: LmdbEventLog(kernel.data_dir / "lmdb" / "events", EventCodec.for_kernel(kernel)), "LMDB")


#: ``distribution = "lmdb"``: the default plugins plus this one, with all three backends selected.
LMDB = Distribution(name="lmdb", plugins={"lmdb": "llmspell_lmdb"},
                    config={section: {"backend": "lmdb"} for section in ("state", "sessions", "events")})
