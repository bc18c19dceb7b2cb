"""The ``redis`` state backend: versioned JSON bytes in Redis hashes.

Layout (``P`` is ``{prefix:state}:``)::

    P r:<key>   hash  v = version, d = the record's JSON bytes, t = last write's token
    P keys      zset  every key at score 0, so ZRANGE BYLEX scans a prefix in key order
    P done:<t>  string, 5 minutes: the result of a delete or batch with token t

Compare-and-set, delete and batch are Lua scripts (:mod:`._scripts`): one round trip,
atomic on the server, so concurrent writers in any number of processes never lose an
update. ``scan`` reads a page of the key index and the records in one script. Redis
compares keys as bytes, and UTF-8 byte order is code-point order, so scans come back in
the order the protocol asks for.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from llmspell.errors import ValidationError
from llmspell.plugins.state.backend import (
    BatchResult,
    CasResult,
    Delete,
    Put,
    Record,
    WriteOp,
    check_batch,
    check_expected,
)

from . import _scripts
from ._client import RedisConnection, keyspace
from .config import RedisConfig

__all__ = ["RedisStateBackend"]


def _token() -> str:
    return os.urandom(12).hex()


def _bytes(value: Any) -> bytes:
    return value if type(value) is bytes else bytes(value)


def _lex_range(prefix: str, after: str | None) -> tuple[bytes, bytes]:
    """ZRANGE BYLEX bounds for keys starting with ``prefix`` and strictly after ``after``."""
    raw = prefix.encode()
    low = b"[" + raw
    if after is not None and after >= prefix:
        low = b"(" + after.encode()
    # UTF-8 never contains 0xFF: prefix + 0xFF is above every key that starts with prefix.
    high = b"(" + raw + b"\xff" if raw else b"+"
    if not raw and low == b"[":
        low = b"-"
    return low, high


class RedisStateBackend:
    """A :class:`~llmspell.plugins.state.backend.StateBackend` on Redis, shared by any number of processes."""

    name = "redis"
    persistent = True

    def __init__(self, config: RedisConfig, *, space: str | None = None) -> None:
        self.config = config
        self.space = space or keyspace(config, "state")
        self.conn = RedisConnection(config, "state")
        self._index = (self.space + "keys").encode()
        self._cas: Any = None
        self._delete: Any = None
        self._batch: Any = None
        self._scan: Any = None

    def _record_key(self, key: str) -> bytes:
        return (self.space + "r:" + key).encode()

    def _done_key(self, token: str) -> bytes:
        return (self.space + "done:" + token).encode()

    # -- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        client = await self.conn.open()
        self._cas = client.register_script(_scripts.CAS)
        self._delete = client.register_script(_scripts.DELETE)
        self._batch = client.register_script(_scripts.BATCH)
        self._scan = client.register_script(_scripts.SCAN)

    async def close(self) -> None:
        await self.conn.close()

    async def health(self) -> list[str]:
        return await self.conn.health()

    async def drop(self) -> int:
        """Delete every key of this backend's key space (tests, ``llmspell`` admin); returns the count."""
        return await drop_space(self.conn, self.space)

    # -- reads -----------------------------------------------------------------------

    async def get(self, key: str) -> Record | None:
        rkey = self._record_key(key)
        version, data = await self.conn.call(lambda c: c.hmget(rkey, "v", "d"))
        if version is None:
            return None
        return Record(key, _bytes(data), int(version))

    async def get_many(self, keys: Sequence[str]) -> dict[str, Record]:
        keys = list(keys)
        if not keys:
            return {}

        async def fetch(client: Any) -> list[Any]:
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.hmget(self._record_key(key), "v", "d")
            return list(await pipe.execute())

        rows = await self.conn.call(fetch)
        return {
            key: Record(key, _bytes(data), int(version))
            for key, (version, data) in zip(keys, rows, strict=True)
            if version is not None
        }

    async def scan(self, prefix: str, *, after: str | None = None, limit: int = 500) -> list[Record]:
        if limit <= 0:
            return []
        low, high = _lex_range(prefix, after)
        record_prefix = (self.space + "r:").encode()
        flat = await self.conn.call(
            lambda c: self._scan(keys=[self._index], args=[low, high, limit, record_prefix], client=c)
        )
        return [
            Record(flat[i].decode(), _bytes(flat[i + 2]), int(flat[i + 1])) for i in range(0, len(flat), 3)
        ]

    # -- writes ----------------------------------------------------------------------

    async def compare_and_set(self, key: str, data: bytes, expected_version: int | None = None) -> CasResult:
        check_expected(expected_version)
        if type(data) is not bytes:
            raise ValidationError(f"state record {key!r} must be bytes, not {type(data).__name__}")
        token = _token()
        expected = "" if expected_version is None else str(expected_version)
        args = [key.encode(), data, expected, token]
        keys = [self._record_key(key), self._index]
        reply = await self.conn.call(lambda c: self._cas(keys=keys, args=args, client=c), write=True)
        if reply[0] == 1:
            return CasResult(ok=True, version=int(reply[1]), previous_version=_int(reply[2]))
        return _conflict(key, reply[1], reply[2])

    async def delete(self, key: str, expected_version: int | None = None) -> CasResult:
        check_expected(expected_version)
        token = _token()
        expected = "" if expected_version is None else str(expected_version)
        keys = [self._record_key(key), self._index, self._done_key(token)]
        reply = await self.conn.call(
            lambda c: self._delete(keys=keys, args=[key.encode(), expected, token], client=c), write=True
        )
        if reply[0] == 1:
            return CasResult(ok=True, previous_version=_int(reply[1]))
        return _conflict(key, reply[1], reply[2])

    async def batch(self, ops: Sequence[WriteOp]) -> BatchResult:
        check_batch(ops)
        if not ops:
            return BatchResult(ok=True)
        token = _token()
        args: list[Any] = [len(ops)]
        keys: list[bytes] = [self._index, self._done_key(token)]
        for op in ops:
            keys.append(self._record_key(op.key))
            expected = "" if op.expected_version is None else str(op.expected_version)
            if isinstance(op, Put):
                forced = "" if op.version is None else str(op.version)
                args += ["p", op.key.encode(), op.data, expected, forced]
            else:
                assert isinstance(op, Delete)
                args += ["d", op.key.encode(), b"", expected, ""]
        reply = await self.conn.call(lambda c: self._batch(keys=keys, args=args, client=c), write=True)
        if reply[0] == 0:
            index = int(reply[1])
            return BatchResult(ok=False, failed=index, conflict=_conflict(ops[index].key, reply[2], reply[3]))
        results = []
        for i, op in enumerate(ops):
            version, previous = _int(reply[1 + 2 * i]), _int(reply[2 + 2 * i])
            if isinstance(op, Put):
                results.append(CasResult(ok=True, version=version, previous_version=previous))
            else:
                results.append(CasResult(ok=True, previous_version=previous))
        return BatchResult(ok=True, results=tuple(results))


def _int(value: Any) -> int | None:
    if value is None or value is False:
        return None
    return int(value)


def _conflict(key: str, version: Any, data: Any) -> CasResult:
    current = None if version is None else Record(key, _bytes(data), int(version))
    return CasResult(ok=False, previous_version=None if current is None else current.version, current=current)


async def drop_space(conn: RedisConnection, space: str) -> int:
    """Delete every key that starts with ``space`` (SCAN + UNLINK in pages)."""
    pattern = _glob_escape(space) + "*"

    async def drop(client: Any) -> int:
        count = 0
        async for found in _scan_iter(client, pattern):
            count += await client.unlink(*found)
        return count

    return await conn.call(drop, write=True)


async def _scan_iter(client: Any, pattern: str) -> Any:
    batch: list[bytes] = []
    async for key in client.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) >= 500:
            yield batch
            batch = []
    if batch:
        yield batch


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
