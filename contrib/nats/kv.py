"""The ``nats`` state backend on JetStream key-value.

Records live in the key-value bucket ``<prefix>_state`` (a stream ``KV_<prefix>_state``
keeping one message per key; the ``nats kv`` tools can read it). A state key
``scope/owner/rest`` is the KV key ``scope.owner.rest`` with each part token-encoded
(:mod:`.naming`), so a scan of one owner's keys reads only that owner's subjects. The
record's version is the message header ``Llmspell-Version``; the KV revision (the
message's stream sequence) is what writes are conditional on.

**Compare-and-set** publishes with ``Nats-Expected-Last-Subject-Sequence`` set to the
revision the expected version was read at: JetStream stores the write only if the key is
still at that revision, so concurrent writers in any number of processes never lose an
update. The backend remembers the last revision it saw per key, so a read followed by a
compare-and-set (``update``) is one round trip each; a stale memory costs one re-read.

**Batches: the honest guarantee.** JetStream 2.9 has no multi-subject transaction. A
batch reads every key, checks every expectation (failing with nothing written if one
does not hold, as the protocol asks), then publishes all writes at once, each
conditional on the revision it checked. If another writer changed one of the keys in
between, the writes that did land are undone by compensating writes (the old value back,
under a new version) and the batch reports the conflict. So: all-or-nothing against
other llmspell writers, but not isolated (a reader may see part of a batch for the
moment it takes), and a process that dies in the middle of a batch leaves the part it
wrote. This includes every ``kernel.state.write_many`` (agents' state deltas) and
``copy_owner``, which are one batch each and so all-or-nothing under SIGKILL on the other
persistent backends, but not here. Use the Redis or PostgreSQL backend where multi-key
atomicity matters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from llmspell.errors import BackendUnavailable, IntegrityError, ValidationError
from llmspell.plugins.state.backend import (
    BatchResult,
    CasResult,
    Delete,
    Put,
    Record,
    WriteOp,
    check_batch,
    check_expected,
    conflict,
    holds,
)

from ._client import NatsConnection
from ._jetstream import WRONG_LAST_SEQUENCE, JetStream, JetStreamError, Msg
from .config import NatsConfig
from .naming import kv_filter, kv_key_from_subject, kv_subject

__all__ = ["NatsKVStateBackend"]

_VERSION = "Llmspell-Version"
_OP = "KV-Operation"
_EXPECT = "Nats-Expected-Last-Subject-Sequence"
_CACHE_SIZE = 100_000
_MAX_RACES = 1_000


class NatsKVStateBackend:
    """A :class:`~llmspell.plugins.state.backend.StateBackend` on a JetStream key-value bucket."""

    name = "nats"
    persistent = True

    def __init__(self, config: NatsConfig, *, prefix: str | None = None) -> None:
        self.config = config
        self.bucket = f"{prefix or config.prefix}_state"
        self.kv_stream = f"KV_{self.bucket}"
        self.subject_prefix = f"$KV.{self.bucket}."
        self.conn = NatsConnection(config, "state")
        self.jetstream = JetStream(self.conn)
        self._seen: dict[str, tuple[int, int | None]] = {}
        """subject -> (revision, version or None when deleted), as last seen by this process."""

    def _subject(self, key: str) -> str:
        return kv_subject(self.subject_prefix, key)

    # -- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        await self.conn.open()
        from nats.js.api import KeyValueConfig, StorageType
        from nats.js.errors import NotFoundError

        try:
            await self.jetstream.info(self.kv_stream)
        except NotFoundError:
            storage = StorageType.MEMORY if self.config.storage == "memory" else StorageType.FILE
            config = KeyValueConfig(bucket=self.bucket, history=1, storage=storage, replicas=self.config.replicas,
                                    direct=True, description="llmspell state")
            try:
                await self.conn.call(lambda: self.conn.js.create_key_value(config), write=True)
            except Exception as exc:  # noqa: BLE001 - created meanwhile by another process
                if "already in use" not in str(exc):
                    raise

    async def close(self) -> None:
        self._seen.clear()
        await self.conn.close()

    async def health(self) -> list[str]:
        try:
            await self.jetstream.info(self.kv_stream)
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            return [f"state bucket {self.bucket!r} on {self.conn.where}: {type(exc).__name__}: {exc}"]
        return []

    async def drop(self) -> None:
        """Delete the bucket (tests and administration)."""
        await self.conn.call(lambda: self.conn.jsm.delete_stream(self.kv_stream), write=True)

    # -- reads -----------------------------------------------------------------------

    def _remember(self, subject: str, revision: int, version: int | None) -> None:
        if len(self._seen) >= _CACHE_SIZE:
            self._seen.clear()
        self._seen[subject] = (revision, version)

    def _record(self, key: str, msg: Msg) -> Record | None:
        """The record a KV message holds (None for a delete marker); remembers its revision."""
        subject = msg.subject
        if msg.headers.get(_OP) in ("DEL", "PURGE"):
            self._remember(subject, msg.seq, None)
            return None
        raw = msg.headers.get(_VERSION)
        if raw is None or not raw.isdigit():
            raise IntegrityError(f"state key {key!r} in bucket {self.bucket!r} has no {_VERSION} header: "
                                 "it was not written by llmspell")
        version = int(raw)
        self._remember(subject, msg.seq, version)
        return Record(key, msg.data, version)

    async def _read(self, key: str) -> tuple[int, Record | None]:
        """The key's revision (0: never written) and record, read from the server."""
        subject = self._subject(key)
        msg = await self.jetstream.last(self.kv_stream, subject)
        if msg is None:
            self._remember(subject, 0, None)
            return 0, None
        return msg.seq, self._record(key, msg)

    async def get(self, key: str) -> Record | None:
        return (await self._read(key))[1]

    async def get_many(self, keys: Sequence[str]) -> dict[str, Record]:
        found = await asyncio.gather(*(self._read(k) for k in keys))
        return {k: rec for k, (_, rec) in zip(keys, found, strict=True) if rec is not None}

    async def scan(self, prefix: str, *, after: str | None = None, limit: int = 500) -> list[Record]:
        if limit <= 0:
            return []
        messages = await self.jetstream.scan(self.kv_stream, kv_filter(self.subject_prefix, prefix), last_per_subject=True)
        records = []
        for msg in messages:
            key = kv_key_from_subject(self.subject_prefix, msg.subject)
            if not key.startswith(prefix) or (after is not None and key <= after):
                continue
            record = self._record(key, msg)
            if record is not None:
                records.append(record)
        records.sort(key=lambda r: r.key)
        return records[:limit]

    # -- writes ----------------------------------------------------------------------

    def _refused(self, key: str, error: JetStreamError) -> BackendUnavailable:
        return BackendUnavailable(f"JetStream refused the write of state key {key!r}: {error.description} "
                                  f"(error {error.err_code})")

    async def _write(self, key: str, data: bytes | None, expected: int | None) -> CasResult:
        """Compare-and-set (``data``) or delete (``None``), retrying only lost revision races."""
        check_expected(expected)
        subject = self._subject(key)
        known = self._seen.get(subject)
        current: Record | None = None
        for _ in range(_MAX_RACES):
            if known is None:
                revision, current = await self._read(key)
                known = (revision, None if current is None else current.version)
                cached = False
            else:
                cached = True
            revision, version = known
            if not holds(expected, version):
                if cached:
                    known = None  # what this process saw may be stale: look again
                    continue
                return conflict(current)
            if data is None and version is None:
                return CasResult(ok=True)  # deleting a missing key writes nothing
            headers = {_EXPECT: str(revision)}
            if data is None:
                headers[_OP] = "DEL"
            else:
                headers[_VERSION] = str((version or 0) + 1)
            (ack,) = await self.jetstream.publish_many([(subject, data or b"", headers)])
            if isinstance(ack, JetStreamError):
                if ack.err_code != WRONG_LAST_SEQUENCE:
                    raise self._refused(key, ack)
                known = None  # someone wrote since: read again
                continue
            if data is None:
                self._remember(subject, ack.seq, None)
                return CasResult(ok=True, previous_version=version)
            self._remember(subject, ack.seq, (version or 0) + 1)
            return CasResult(ok=True, version=(version or 0) + 1, previous_version=version)
        raise BackendUnavailable(f"state key {key!r} kept changing under this write ({_MAX_RACES} lost revision "
                                 "races in a row); too many concurrent writers on one key")

    async def compare_and_set(self, key: str, data: bytes, expected_version: int | None = None) -> CasResult:
        if type(data) is not bytes:
            raise ValidationError(f"state record {key!r} must be bytes, not {type(data).__name__}")
        return await self._write(key, data, expected_version)

    async def delete(self, key: str, expected_version: int | None = None) -> CasResult:
        return await self._write(key, None, expected_version)

    async def batch(self, ops: Sequence[WriteOp]) -> BatchResult:
        check_batch(ops)
        if not ops:
            return BatchResult(ok=True)
        reads = await asyncio.gather(*(self._read(op.key) for op in ops))
        for i, (op, (_, record)) in enumerate(zip(ops, reads, strict=True)):
            if not holds(op.expected_version, None if record is None else record.version):
                return BatchResult(ok=False, failed=i, conflict=conflict(record))
        writes: list[tuple[str, bytes, dict[str, str]]] = []
        where: list[int] = []
        results: list[CasResult] = []
        for i, (op, (revision, record)) in enumerate(zip(ops, reads, strict=True)):
            previous = None if record is None else record.version
            if isinstance(op, Put):
                version = op.version if op.version is not None else (previous or 0) + 1
                writes.append((self._subject(op.key), op.data, {_EXPECT: str(revision), _VERSION: str(version)}))
                results.append(CasResult(ok=True, version=version, previous_version=previous))
            else:
                assert isinstance(op, Delete)
                results.append(CasResult(ok=True, previous_version=previous))
                if record is None:
                    continue
                writes.append((self._subject(op.key), b"", {_EXPECT: str(revision), _OP: "DEL"}))
            where.append(i)
        acks = await self.jetstream.publish_many(writes)
        lost = [where[j] for j, ack in enumerate(acks) if isinstance(ack, JetStreamError)]
        for j, ack in enumerate(acks):
            if isinstance(ack, JetStreamError) and ack.err_code != WRONG_LAST_SEQUENCE:
                await self._undo(ops, reads, where, acks)
                raise self._refused(ops[where[j]].key, ack)
        if not lost:
            for j, ack in enumerate(acks):
                assert not isinstance(ack, JetStreamError)
                self._remember(writes[j][0], ack.seq, results[where[j]].version)
            return BatchResult(ok=True, results=tuple(results))
        await self._undo(ops, reads, where, acks)
        failed = min(lost)
        _, now = await self._read(ops[failed].key)
        return BatchResult(ok=False, failed=failed, conflict=conflict(now))

    async def _undo(self, ops: Sequence[WriteOp], reads: list[tuple[int, Record | None]], where: list[int],
                    acks: list[Any]) -> None:
        """Put back what the landed writes of a failed batch replaced (versions only move up)."""
        undo: list[tuple[str, bytes, dict[str, str]]] = []
        for j, ack in enumerate(acks):
            if isinstance(ack, JetStreamError):
                continue
            op, (_, record) = ops[where[j]], reads[where[j]]
            subject = self._subject(op.key)
            if record is None:
                undo.append((subject, b"", {_EXPECT: str(ack.seq), _OP: "DEL"}))
            else:
                landed = op.version if isinstance(op, Put) and op.version is not None else record.version + 1
                undo.append((subject, record.data, {_EXPECT: str(ack.seq), _VERSION: str(max(landed, record.version) + 1)}))
            self._seen.pop(subject, None)
        if undo:
            await self.jetstream.publish_many(undo)
