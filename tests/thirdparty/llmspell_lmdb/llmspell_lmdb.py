"""llmspell's state, sessions and event log on LMDB; ``distribution = "lmdb"`` selects all three.

One LMDB environment per capability under ``<data_dir>/lmdb``; each write is one transaction (whole or
not at all). The SPI helpers keep the rules (versions, conflicts, paging, time bounds); this module stores bytes.
"""

import hashlib
import struct
from collections.abc import Iterator, Sequence
from itertools import takewhile
from pathlib import Path
from typing import Any

import lmdb
from llmspell import Distribution, hookimpl, serde
from llmspell.plugins.events import backend as log  # the event log's SPI
from llmspell.plugins.sessions.backend import StateSessionBackend
from llmspell.plugins.state.backend import BatchResult, Put, Record, StateBackendBase, WriteOp, plan_batch


def lkey(text: str, size: int = 510) -> bytes:
    """Keys hold 511 bytes (one for a prefix below): a longer text keeps ``size - 32`` bytes and its SHA-256."""
    raw = text.encode()
    return raw if len(raw) <= size else raw[: size - 32] + hashlib.sha256(raw).digest()


def rows(txn: Any, head: bytes, start: bytes = b"", stop: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
    """The (key, value) pairs whose key starts with ``head``, in key order, from ``start``, before ``stop``."""
    cursor = txn.cursor()
    found = cursor.iternext() if cursor.set_range(max(head, start)) else ()  # set_range is False when no key follows
    return takewhile(lambda row: row[0].startswith(head) and (stop is None or row[0] < stop), found)


class Env:
    """One LMDB environment: a directory that several processes may open at once."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def open(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.env = lmdb.open(str(self.path), map_size=1 << 30)  # the size it may grow to

    async def close(self) -> None:
        self.env.close()


class LmdbStateBackend(Env, StateBackendBase):
    """Each record at ``lkey(key)``; ``get``, ``compare_and_set`` and ``delete`` are one-key calls."""

    name, persistent = "lmdb", True

    @staticmethod
    def record(raw: bytes) -> Record:
        """A record stored as ``version | key length | key | data`` (its LMDB key may be a hash)."""
        version, size = struct.unpack_from(">QI", raw)
        return Record(raw[12 : 12 + size].decode(), raw[12 + size :], version)

    async def get_many(self, keys: Sequence[str]) -> dict[str, Record]:
        with self.env.begin() as txn:
            return {key: self.record(raw) for key in keys if (raw := txn.get(lkey(key))) is not None}

    async def scan(self, prefix: str, *, after: str | None = None, limit: int = 500) -> list[Record]:
        found, group = list[Record](), b""
        with self.env.begin() as txn:
            for key, raw in rows(txn, prefix.encode()[:478], (after or "").encode()[:478]):
                if len(found) >= limit and key[:478] != group:
                    break  # keys over 510 bytes sort by their first 478 only: read such a group whole
                if (r := self.record(raw)).key.startswith(prefix) and (after is None or r.key > after):
                    found.append(r)
                    group = key[:478]
        return sorted(found, key=lambda r: r.key)[:limit]

    async def batch(self, ops: Sequence[WriteOp]) -> BatchResult:
        with self.env.begin(write=True) as txn:
            found = [txn.get(lkey(op.key)) for op in ops]
            done = plan_batch(ops, [None if raw is None else self.record(raw) for raw in found])  # checks ops, decides
            for op, result in zip(ops, done.results, strict=False):  # no results: a conflict, nothing written
                if isinstance(op, Put):
                    key = op.key.encode()
                    txn.put(lkey(op.key), struct.pack(">QI", result.version, len(key)) + key + op.data)
                else:
                    txn.delete(lkey(op.key))
        return done


def at(stream: str, seq: int | None = None) -> bytes:
    """Where a stream (16 bytes of its name's SHA-256) or one of its events (and its seq) is kept."""
    return hashlib.sha256(stream.encode()).digest()[:16] + (b"" if seq is None else seq.to_bytes(8))


class LmdbEventLog(Env):
    """Keys: e+at (an envelope with its position), i+id, t+time+at (time order), s+stream, n+at+name (snapshot)."""

    def __init__(self, path: Path, codec: log.EventCodec) -> None:
        super().__init__(path)
        self.codec = codec

    def _event(self, txn: Any, where: bytes) -> log.Event:
        return self.codec.decode(txn.get(b"e" + where))

    def _find(self, txn: Any, event_id: str) -> log.Event | None:
        return None if (where := txn.get(b"i" + lkey(event_id))) is None else self._event(txn, where)

    def _last(self, txn: Any, stream: str) -> int:
        info = txn.get(b"s" + lkey(log.check_stream(stream)))
        return 0 if info is None else serde.loads_as(info, log.StreamInfo).last_seq

    async def append(self, events: Sequence[log.Event], *, expected_last_seq: int | None = None) -> log.AppendResult:
        prepared = log.prepare(self.codec, events, expected_last_seq)  # checks and encodes every event first
        with self.env.begin(write=True) as txn:
            placed = prepared.place(lambda stream: self._last(txn, stream), lambda event_id: self._find(txn, event_id))
            for event, stream, seq, raw in placed.new:  # the events to store, numbered
                txn.put(b"e" + at(stream, seq), self.codec.at_position(raw, stream, seq))
                txn.put(b"i" + lkey(event.id), at(stream, seq))
                txn.put(b"t" + log.time_key(event.time) + at(stream, seq), at(stream, seq))
                txn.put(b"s" + lkey(stream), serde.dumps(log.StreamInfo(stream, seq, event.time)))
        return placed.result

    async def read(self, stream: str, from_seq: int = 1, to_seq: int | None = None,
                   limit: int | None = None) -> list[log.Event]:
        log.check_range(stream, from_seq, to_seq, limit)
        with self.env.begin() as txn:
            seqs = log.read_range(self._last(txn, stream), from_seq, to_seq, limit)
            return [self._event(txn, at(stream, seq)) for seq in seqs]

    async def last_seq(self, stream: str) -> int:
        with self.env.begin() as txn:
            return self._last(txn, stream)

    async def get(self, event_id: str) -> log.Event | None:
        with self.env.begin() as txn:
            return self._find(txn, event_id)

    async def query(self, **arguments: Any) -> list[log.Event]:
        query = log.LogQuery.of(**arguments)  # EventLog.query's arguments, checked
        with self.env.begin() as txn:  # the time index from `since` to `until`; LogQuery filters, orders, cuts
            found = rows(txn, b"t", b"t" + log.time_key(query.since), b"t" + log.time_key(query.until))
            return query.finish(self._event(txn, where) for _, where in found)

    async def streams(self, prefix: str = "") -> list[log.StreamInfo]:
        with self.env.begin() as txn:
            infos = [serde.loads_as(raw, log.StreamInfo) for _, raw in rows(txn, b"s" + prefix.encode()[:478])]
        return sorted((info for info in infos if info.name.startswith(prefix)), key=lambda info: info.name)

    async def delete_stream(self, stream: str) -> int:
        with self.env.begin(write=True) as txn:
            last = self._last(txn, stream)
            for seq in range(1, last + 1):
                event = self._event(txn, at(stream, seq))
                for key in (b"e" + at(stream, seq), b"i" + lkey(event.id), b"t" + log.time_key(event.time) + at(stream, seq)):
                    txn.delete(key)
            for key in [key for key, _ in rows(txn, b"n" + at(stream))] + [b"s" + lkey(stream)]:  # snapshots, listing
                txn.delete(key)
        return last

    async def save_snapshot(self, snapshot: log.Snapshot) -> None:
        with self.env.begin(write=True) as txn:
            txn.put(b"n" + at(snapshot.stream) + lkey(snapshot.name, 494), serde.dumps(snapshot))

    async def load_snapshot(self, stream: str, name: str) -> log.Snapshot | None:
        with self.env.begin() as txn:
            raw = txn.get(b"n" + at(stream) + lkey(name, 494))
        return None if raw is None else serde.loads_as(raw, log.Snapshot)


@hookimpl
def llmspell_register_state_backends(register: Any) -> None:
    register("lmdb", lambda kernel: LmdbStateBackend(kernel.data_dir / "lmdb/state"), "LMDB")


@hookimpl
def llmspell_register_session_backends(register: Any) -> None:  # session records on a state backend of their own
    register("lmdb", lambda kernel: StateSessionBackend(LmdbStateBackend(kernel.data_dir / "lmdb/sessions")), "LMDB")


@hookimpl
def llmspell_register_event_backends(register: Any) -> None:
    register("lmdb", lambda kernel: LmdbEventLog(kernel.data_dir / "lmdb/events", log.EventCodec.for_kernel(kernel)), "LMDB")


#: ``distribution = "lmdb"``: the default plugins plus this one, with all three backends selected.
LMDB = Distribution(name="lmdb", plugins={"lmdb": "llmspell_lmdb"},
                    config={section: {"backend": "lmdb"} for section in ("state", "sessions", "events")})
