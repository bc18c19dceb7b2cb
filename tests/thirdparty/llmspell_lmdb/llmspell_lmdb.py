"""State, sessions and the event log of llmspell on LMDB: ``distribution = "lmdb"``.

Each capability has its own LMDB environment under ``[lmdb] path`` (default
``<data_dir>/lmdb``). LMDB admits one writer at a time across processes, so every write
below is one write transaction: a batch lands whole or not at all, and sequence numbers
have no gaps. LMDB keys hold at most 511 bytes: a longer key is stored under its first
bytes plus its SHA-256, and the record keeps the full key.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
import lmdb

from llmspell import Distribution, hookimpl, serde
from llmspell.errors import ConflictError
from llmspell.events import AppendResult, Event, EventCodec, Snapshot, StreamInfo, check_stream, compile_patterns
from llmspell.plugins.events._logutil import check_expected, check_range, check_seq, check_time, from_us, prepare, time_us
from llmspell.plugins.sessions.backends import page
from llmspell.plugins.state.base import check_batch, conflict, holds
from llmspell.sessions import Session, SessionPage, SessionQuery, decode_listed, decode_record
from llmspell.state import BatchResult, CasResult, Delete, Put, Record, WriteOp

HEAD = 479  # a long key keeps this many bytes in front of its hash


def lkey(text: str, size: int = 511) -> bytes:
    raw = text.encode()
    return raw if len(raw) <= size else raw[: size - 32] + hashlib.sha256(raw).digest()


def u64(n: int) -> bytes:
    return struct.pack(">Q", n)


class Env:
    """One LMDB environment (a directory) with named databases."""

    DBS: tuple[bytes, ...] = (b"records",)

    def __init__(self, path: Path, map_size: int) -> None:
        self.path, self.map_size = path, map_size

    async def open(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.env = lmdb.open(str(self.path), map_size=self.map_size, max_dbs=len(self.DBS))
        self.db = [self.env.open_db(name) for name in self.DBS]

    async def close(self) -> None:
        self.env.close()


class LmdbStateBackend(Env):
    """Records as ``version | key length | key | data``."""

    name, persistent = "lmdb", True

    def _get(self, txn: Any, key: bytes) -> Record | None:
        if (raw := txn.get(key, db=self.db[0])) is None:
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
        head, out, last = prefix.encode()[:HEAD], [], b""
        with self.env.begin() as txn:
            cursor = txn.cursor(db=self.db[0])
            found = cursor.set_range(max(prefix, after or "").encode()[:HEAD])
            for key in cursor.iternext(values=False) if found else ():
                if not key.startswith(head) or (len(out) >= limit and key[:HEAD] != last):
                    break  # keys with one head may be out of order: finish that group first
                record = self._get(txn, key)
                if record and record.key.startswith(prefix) and (after is None or record.key > after):
                    out.append(record)
                    last = key[:HEAD]
        return sorted(out, key=lambda r: r.key)[:limit]

    async def batch(self, ops: Sequence[WriteOp]) -> BatchResult:
        check_batch(ops)  # refuses a key twice, a negative expected version, a version below 1
        with self.env.begin(write=True, db=self.db[0]) as txn:
            now = [self._get(txn, lkey(op.key)) for op in ops]
            olds = [None if record is None else record.version for record in now]
            for i, op in enumerate(ops):
                if not holds(op.expected_version, olds[i]):
                    return BatchResult(False, failed=i, conflict=conflict(now[i]))
            results = []
            for op, old in zip(ops, olds, strict=True):
                new = (op.version or (old or 0) + 1) if isinstance(op, Put) else None
                if isinstance(op, Put):
                    key = op.key.encode()
                    txn.put(lkey(op.key), struct.pack(">QI", new, len(key)) + key + op.data)
                else:
                    txn.delete(lkey(op.key))
                results.append(CasResult(True, new, old))
        return BatchResult(True, tuple(results))


class LmdbSessionBackend:
    """Session records as JSON on a state backend of their own (its versions are theirs)."""

    def __init__(self, path: Path, map_size: int) -> None:
        self.store = LmdbStateBackend(path, map_size)
        self.open, self.close = self.store.open, self.store.close

    def _decode(self, r: Record) -> Session:
        return decode_record(r.data, r.version, f"{r.key!r} in {self.store.path}")

    async def get(self, session_id: str) -> Session | None:
        record = await self.store.get(session_id)
        return None if record is None else self._decode(record)

    async def put(self, session: Session, *, expected_version: int) -> Session:
        stored = session.replace(version=expected_version + 1)
        done = await self.store.compare_and_set(session.id, serde.dumps(stored), expected_version)
        if not done.ok:
            current = done.current and self._decode(done.current)
            raise ConflictError(f"session:{session.id}", expected=expected_version,
                                current_version=done.previous_version, current_value=current)
        return stored

    async def delete(self, session_id: str) -> bool:
        return (await self.store.delete(session_id)).previous_version is not None

    async def list(self, query: SessionQuery) -> SessionPage:
        skipped: list[tuple[str, str]] = []
        found = [decode_listed(r.data, r.version, f"{r.key!r} in {self.store.path}", r.key, skipped)
                 for r in await self.store.scan("", limit=2**62)]
        return attrs.evolve(page([s for s in found if s], query), skipped=tuple(skipped))


def at(stream: str, tail: bytes = b"") -> bytes:
    """Where a stream's events (tail: seq) and snapshots (tail: name hash) are."""
    return lkey(stream, 494) + b"\0" + tail


class LmdbEventLog(Env):
    """Events at ``(stream, seq)``; indexes by id and by time; streams; snapshots."""

    DBS = (b"events", b"ids", b"times", b"streams", b"snapshots")

    def __init__(self, path: Path, map_size: int, codec: EventCodec) -> None:
        super().__init__(path, map_size)
        self.codec = codec

    def _event(self, txn: Any, key: bytes) -> Event:
        raw = txn.get(key, db=self.db[0])
        size = int.from_bytes(raw[:2])
        return self.codec.decode(raw[2 + size :], raw[2 : 2 + size].decode(), int.from_bytes(key[-8:]))

    def _last(self, txn: Any, stream: str) -> int:
        info = txn.get(lkey(check_stream(stream)), db=self.db[3])
        return 0 if info is None else int.from_bytes(info[:8])

    async def append(self, events: Sequence[Event], *, expected_last_seq: int | None = None) -> AppendResult:
        prepared = prepare(self.codec, events, expected_last_seq)  # checks and encodes every event
        out, duplicates = [], set()
        with self.env.begin(write=True) as txn:
            if prepared.stream is not None:
                check_expected(prepared, self._last(txn, prepared.stream))
            for event, (stream, event_id, _, when, raw) in zip(prepared.events, prepared.rows, strict=True):
                if (known := txn.get(lkey(event_id), db=self.db[1])) is not None:
                    duplicates.add(event_id)
                    out.append(self._event(txn, known))
                    continue
                seq, name = self._last(txn, stream) + 1, stream.encode()
                key = at(stream, u64(seq))
                txn.put(key, len(name).to_bytes(2) + name + raw, db=self.db[0])
                txn.put(lkey(event_id), key, db=self.db[1])
                txn.put(u64(when + 2**63) + key, b"", db=self.db[2])
                txn.put(lkey(stream), u64(seq) + u64(when + 2**63) + name, db=self.db[3])
                out.append(event.with_position(stream, seq))
        return AppendResult(out, frozenset(duplicates))

    async def read(self, stream: str, from_seq: int = 1, to_seq: int | None = None, limit: int | None = None) -> list[Event]:
        check_range(stream, from_seq, to_seq, limit)
        with self.env.begin() as txn:
            stop = min(self._last(txn, stream), 2**63 if to_seq is None else to_seq, from_seq + (limit or 2**63) - 1)
            return [self._event(txn, at(stream, u64(seq))) for seq in range(max(from_seq, 1), stop + 1)]

    async def last_seq(self, stream: str) -> int:
        with self.env.begin() as txn:
            return self._last(txn, stream)

    async def get(self, event_id: str) -> Event | None:
        with self.env.begin() as txn:
            key = txn.get(lkey(event_id), db=self.db[1])
            return None if key is None else self._event(txn, key)

    async def query(self, *, types: str | Sequence[str] | None = None, stream: str | None = None,
                    since: datetime | None = None, until: datetime | None = None,
                    limit: int | None = None, reverse: bool = False) -> list[Event]:
        low = 0 if check_time("since", since) is None else time_us(since) + 2**63  # type: ignore[arg-type]
        high = 2**64 if check_time("until", until) is None else time_us(until) + 2**63  # type: ignore[arg-type]
        limit, match = limit and check_seq("limit", limit), compile_patterns(types or "**").match
        hits: list[Event] = []
        with self.env.begin() as txn:
            cursor = txn.cursor(db=self.db[2])
            found = cursor.set_range(u64(low))  # in (time, stream, seq) order; the newest last
            for key in cursor.iternext(values=False) if found else ():
                if int.from_bytes(key[:8]) >= high:
                    break
                event = self._event(txn, key[8:])
                if (stream is None or event.stream == stream) and match(event.type):
                    hits.append(event)
        return (hits[::-1] if reverse else hits)[:limit]

    async def streams(self, prefix: str = "") -> list[StreamInfo]:
        with self.env.begin() as txn:
            cursor = txn.cursor(db=self.db[3])
            found = cursor.set_range(prefix.encode()[:HEAD])
            infos = [(info[16:].decode(), int.from_bytes(info[:8]), from_us(int.from_bytes(info[8:16]) - 2**63))
                     for key, info in self._while(cursor.iternext() if found else (), prefix.encode()[:HEAD])]
        return [StreamInfo(*info) for info in sorted(infos) if info[0].startswith(prefix)]

    @staticmethod
    def _while(items: Iterable[tuple[bytes, bytes]], head: bytes) -> Iterable[tuple[bytes, bytes]]:
        for key, value in items:
            if not key.startswith(head):
                return
            yield key, value

    async def delete_stream(self, stream: str) -> int:
        with self.env.begin(write=True) as txn:
            last = self._last(txn, stream)
            for key in [at(stream, u64(seq)) for seq in range(1, last + 1)]:
                event = self._event(txn, key)
                txn.delete(lkey(event.id), db=self.db[1])
                txn.delete(u64(time_us(event.time) + 2**63) + key, db=self.db[2])
                txn.delete(key, db=self.db[0])
            txn.delete(lkey(stream), db=self.db[3])
            cursor = txn.cursor(db=self.db[4])
            for key, _ in list(self._while(cursor.iternext() if cursor.set_range(at(stream)) else (), at(stream))):
                txn.delete(key, db=self.db[4])
        return last

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        with self.env.begin(write=True) as txn:
            key = at(check_stream(snapshot.stream), hashlib.sha256(snapshot.name.encode()).digest())
            txn.put(key, serde.dumps(snapshot), db=self.db[4])

    async def load_snapshot(self, stream: str, name: str) -> Snapshot | None:
        with self.env.begin() as txn:
            raw = txn.get(at(stream, hashlib.sha256(name.encode()).digest()), db=self.db[4])
        return None if raw is None else serde.loads_as(raw, Snapshot)


@attrs.frozen
class LmdbConfig:
    """``[lmdb]``: the directory of the environments ("": ``<data_dir>/lmdb``), their size limit."""

    path: str = ""
    map_size: int = 1 << 30


def where(kernel: Any, name: str) -> tuple[Path, int]:
    config: LmdbConfig = kernel.config.section("lmdb")
    return Path(config.path or kernel.data_dir / "lmdb") / name, config.map_size


@hookimpl
def llmspell_register_config(register: Any) -> None:
    register("lmdb", LmdbConfig, "LMDB environments of the lmdb backends (path, map_size)")


@hookimpl
def llmspell_register_state_backends(register: Any) -> None:
    register("lmdb", lambda kernel: LmdbStateBackend(*where(kernel, "state")), "LMDB")


@hookimpl
def llmspell_register_session_backends(register: Any) -> None:
    register("lmdb", lambda kernel: LmdbSessionBackend(*where(kernel, "sessions")), "LMDB")


@hookimpl
def llmspell_register_event_backends(register: Any) -> None:
    register("lmdb", lambda k: LmdbEventLog(*where(k, "events"), EventCodec.for_kernel(k)), "LMDB")


LMDB = Distribution(
    name="lmdb",
    plugins={"lmdb": "llmspell_lmdb"},
    config={"state": {"backend": "lmdb"}, "sessions": {"backend": "lmdb"}, "events": {"backend": "lmdb"}},
    description="llmspell's defaults with state, sessions and the event log on LMDB",
)
