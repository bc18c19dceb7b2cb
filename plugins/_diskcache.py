"""The embedded store that state, sessions and events share: diskcache without pickle,
tuned for a store rather than a cache, and :class:`DiskcacheStateBackend`, its versioned
key-value layer (the ``diskcache`` state backend, and the store of the session records).

:class:`JSONDisk` accepts only ``bytes``, ``str``, ``int`` and ``float`` keys and values
(the plugins store JSON bytes made by the one converter) and writes every value inline in
SQLite. It reads nothing else: a row stored in pickle mode, or one that points at a side
file (diskcache's binary and text modes), is an :class:`~llmspell.errors.IntegrityError`,
so a row planted by someone else is never unpickled, and its ``filename`` is never opened
and never removed.
:func:`open_cache` turns off what a store does not want: eviction, culling, statistics
and the tag index. :class:`Checkpointer` moves SQLite's WAL checkpoints off the writers'
path.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import diskcache
from diskcache.core import DBNAME, MODE_PICKLE, MODE_RAW, UNKNOWN

from llmspell.errors import BackendUnavailable, IntegrityError

__all__ = [
    "JSONDisk",
    "foreign_row",
    "open_cache",
    "STORE_SETTINGS",
    "WAL_PAGES",
    "Checkpointer",
    "finish_checkpoint",
    "DiskcacheStateBackend",
]

_ALLOWED = (bytes, str, int, float)

#: The bound on a store's write-ahead log, in pages (4 KiB each: 16 MiB): a commit that
#: leaves more in the WAL checkpoints it itself (SQLite's ``wal_autocheckpoint``, whose
#: default is 1000). A :class:`Checkpointer` normally gets there first.
WAL_PAGES = 4000

#: diskcache settings for a store: nothing is ever evicted or culled behind our back.
STORE_SETTINGS: dict[str, Any] = {
    "eviction_policy": "none",
    "cull_limit": 0,
    "statistics": False,
    "tag_index": False,
    "size_limit": 2**62,
    "sqlite_synchronous": 1,  # NORMAL: durable in WAL mode across process crashes
    "sqlite_journal_mode": "wal",
    "sqlite_wal_autocheckpoint": WAL_PAGES,  # diskcache applies it to every connection it opens
    "disk_min_file_size": 2**62,  # every value inline: llmspell never writes side files
}


def foreign_row(mode: Any, filename: Any, value: Any) -> str | None:
    """Why a ``Cache`` row was not written by llmspell (None: an inline value it wrote)."""
    if mode == MODE_PICKLE:
        return "it holds a pickle (refusing to unpickle it)"
    if mode != MODE_RAW or filename is not None:
        return f"it points at a file ({filename!r}) instead of holding its value inline"
    if type(value) not in _ALLOWED or type(value) is bool:
        return f"it holds a {type(value).__name__}"
    return None


class JSONDisk(diskcache.Disk):
    """A diskcache ``Disk`` that never pickles and never unpickles."""

    def put(self, key: Any) -> tuple[Any, bool]:
        if type(key) not in _ALLOWED or type(key) is bool:
            raise TypeError(f"store keys must be str, bytes, int or float, not {type(key).__name__}")
        return super().put(key)

    def get(self, key: Any, raw: bool) -> Any:
        if not raw:
            raise IntegrityError("refusing to unpickle a diskcache key: the store was written by something else")
        return super().get(key, raw)

    def store(self, value: Any, read: bool, key: Any = UNKNOWN) -> tuple[Any, ...]:
        if read or type(value) not in _ALLOWED or type(value) is bool:
            raise TypeError(
                f"store values must be bytes (JSON from the converter), not {type(value).__name__}"
            )
        if type(value) is bytes:
            return 0, MODE_RAW, None, sqlite3.Binary(value)
        return 0, MODE_RAW, None, value  # str, int, float: inline, whatever the size

    def fetch(self, mode: int, filename: str | None, value: Any, read: bool) -> Any:
        why = foreign_row(mode, filename, bytes(value) if type(value) is sqlite3.Binary else value)
        if why is not None:
            raise IntegrityError(f"refusing a value found in the store: {why}; it was not written by llmspell")
        return super().fetch(mode, filename, value, read)

    def remove(self, file_path: str) -> None:
        """Never remove a file: llmspell writes no side files, so any name is planted."""


def open_cache(directory: str | os.PathLike[str], *, timeout: float = 60, **settings: Any) -> diskcache.Cache:
    """A diskcache ``Cache`` on ``directory`` with :class:`JSONDisk` and store settings.

    ``timeout`` is how many seconds a write waits for another process's lock.
    """
    Path(directory).mkdir(parents=True, exist_ok=True)
    options = {**STORE_SETTINGS, **settings}
    try:
        return diskcache.Cache(str(directory), disk=JSONDisk, timeout=timeout, **options)
    except sqlite3.DatabaseError as exc:
        raise IntegrityError(f"cannot open the store at {directory}: {exc}") from exc


class Checkpointer:
    """Runs SQLite's WAL checkpoints on a thread of its own, off the writers' path.

    In WAL mode with ``synchronous=NORMAL`` a commit only appends pages to the WAL; the
    disk sees them when a checkpoint syncs the WAL and copies it into the database. SQLite
    checkpoints inside the commit that crosses ``wal_autocheckpoint`` pages, so that one
    commit pays for flushing everything written since the last checkpoint (about 10 ms
    per 1,000 pages on the reference machine): most of the *average* cost of a small
    write, and its tail latency.

    Writers call :meth:`wrote` after each commit. Every ``every`` pages it starts a
    PASSIVE checkpoint on its own thread and connection, which blocks neither writers nor
    readers (other processes included) and does the slow part: syncing what the WAL holds
    and copying it into the database. A checkpoint that runs while writes go on cannot
    finish, though, and SQLite only starts the WAL over from its beginning after one that
    did. So when writes came in meanwhile, the next :meth:`wrote` returns True and that
    writer checkpoints the short remainder itself, right after its commit (two small
    syncs), after which the WAL starts over: it stays near ``every`` pages and its file is
    reused. The writers' own ``wal_autocheckpoint`` at :data:`WAL_PAGES` remains the bound
    if this thread falls behind.
    """

    def __init__(self, database: str | os.PathLike[str], every: int = 2000) -> None:
        self.database = Path(database)
        self.every = every
        self.checkpoints = 0
        """How many checkpoints the thread ran (for tests and statistics)."""
        self._pages = 0
        self._commits = 0
        self._finish = False
        self._busy = False
        self._closed = False
        self._pid = os.getpid()
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._con: sqlite3.Connection | None = None

    def wrote(self, pages: int) -> bool:
        """Count a commit of about ``pages`` pages; True: checkpoint the rest now, on your connection."""
        self._commits += 1
        if self._finish:
            self._finish = False
            return True
        self._pages += pages
        if self._pages >= self.every and not self._busy:
            self._pages = 0
            self.start()
        return False

    def start(self) -> concurrent.futures.Future[None] | None:
        """Start a checkpoint on the thread now (unless one is running); returns its future."""
        if self._busy or self._closed:
            return None
        if self._pid != os.getpid():  # forked: the thread and connection stayed with the parent
            self._pid, self._executor, self._con = os.getpid(), None, None
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="llmspell-checkpoint")
        self._busy = True
        try:
            return self._executor.submit(self._checkpoint)
        except RuntimeError:  # shut down meanwhile
            self._busy = False
            return None

    def _checkpoint(self) -> None:
        try:
            if self._con is None:
                self._con = sqlite3.connect(self.database, timeout=0, isolation_level=None, check_same_thread=False)
            commits = self._commits
            busy, frames, copied = self._con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.checkpoints += 1
            if not busy and frames == copied and self._commits != commits:
                self._finish = True  # everything up to the start is copied; a writer does the rest
        except sqlite3.Error:
            pass  # busy, or the store went away: the writers' own checkpoint still bounds the WAL
        finally:
            self._busy = False

    def close(self) -> None:
        """Wait for a running checkpoint and release the thread and its connection."""
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is None:
            return
        if self._pid == os.getpid():
            executor.submit(self._release)
        executor.shutdown(wait=True)

    def _release(self) -> None:
        con, self._con = self._con, None
        if con is not None:
            con.close()


def finish_checkpoint(con: sqlite3.Connection) -> None:
    """The writer's part (see :class:`Checkpointer`): a PASSIVE checkpoint on its connection."""
    try:
        con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    except sqlite3.Error:
        pass  # busy: the next cycle (or SQLite's own checkpoint) does it


# -- the versioned key-value store: the state backend, also under the session records --

T = TypeVar("T")

_COLUMNS = "key, tag, mode, filename, value"
_SELECT = f"SELECT rowid, {_COLUMNS} FROM Cache WHERE key = ? AND raw = 1"
_UPDATE = (
    "UPDATE Cache SET store_time = ?, access_time = ?, tag = ?, size = 0, mode = ?,"
    " filename = NULL, value = ? WHERE rowid = ?"
)
_INSERT = (
    "INSERT INTO Cache(key, raw, store_time, expire_time, access_time, access_count,"
    " tag, size, mode, filename, value) VALUES (?, 1, ?, NULL, ?, 0, ?, 0, ?, NULL, ?)"
)
_DELETE = "DELETE FROM Cache WHERE rowid = ?"
# One-statement writes for the two common conditional cases (see _write_one).
_UPDATE_IF = (
    "UPDATE Cache SET store_time = ?, access_time = ?, tag = ?, size = 0, mode = ?, value = ?"
    " WHERE key = ? AND raw = 1 AND tag = ? AND mode = 1 AND filename IS NULL"
)
_INSERT_IF_ABSENT = _INSERT + " ON CONFLICT (key, raw) DO NOTHING"
# A write without an expected version: inserted at version 1, or the next version of a row
# this backend wrote (an integer version below the largest, inline, no side file), in one
# statement that says which. Any other row is left alone, and the general path explains it.
_UPSERT = (
    "INSERT INTO Cache(key, raw, store_time, expire_time, access_time, access_count,"
    " tag, size, mode, filename, value) VALUES (?, 1, ?, NULL, ?, 0, 1, 0, ?, NULL, ?)"
    " ON CONFLICT (key, raw) DO UPDATE SET store_time = excluded.store_time,"
    " access_time = excluded.access_time, tag = tag + 1, size = 0, mode = excluded.mode,"
    " value = excluded.value WHERE typeof(tag) = 'integer' AND tag >= 1"
    f" AND tag < {2**63 - 1} AND mode = 1 AND filename IS NULL RETURNING tag"
)
_NEEDED = {"rowid", "key", "raw", "store_time", "access_time", "tag", "size", "mode", "filename", "value"}
_IN_CHUNK = 500


class _Failed(Exception):
    """An operation of a batch failed its expectation: the transaction is rolled back."""

    def __init__(self, result: BatchResult) -> None:
        super().__init__(result)
        self.result = result


class DiskcacheStateBackend:
    """Versioned JSON bytes in a diskcache directory shared by processes: the ``diskcache``
    state backend, the embedded default.

    One diskcache directory (SQLite in WAL mode, ``synchronous=NORMAL``) under the data
    directory. Records are stored inline in diskcache's ``Cache`` table as raw bytes
    (never pickled) with the key's version in the ``tag`` column, so a plain diskcache
    ``Cache.get`` sees the same bytes. Every write runs in one SQLite ``BEGIN IMMEDIATE``
    transaction (what ``Cache.transact()`` does): a write lock shared by every process that
    opens the directory, so compare-and-set is atomic across processes, and a process
    killed mid-write leaves the previous version in place (SQLite rolls the write back).

    Reads and writes use SQL on diskcache's own connection (which diskcache keeps per
    thread and re-opens after a fork) rather than ``Cache.get/set``: one ``SELECT`` and one
    ``UPDATE`` per write instead of three statements and two context-manager layers, which
    makes a versioned write cheaper than a bare diskcache ``set`` (see
    ``docs/performance.md``). A compare-and-set on a version is a single ``UPDATE ... WHERE
    tag = expected`` and a create-if-absent a single ``INSERT ... ON CONFLICT DO NOTHING``;
    only when that writes nothing does the backend read the row to report the conflict. A
    :class:`~llmspell.plugins._diskcache.Checkpointer` checkpoints the WAL off the loop. The
    table layout is checked when the store opens.

    Every value this backend writes is inline bytes with an integer version. A row that is
    anything else (a pickle, a diskcache side file named in ``filename``, a foreign version)
    was planted by another program or a restored backup: reading or overwriting it is an
    :class:`~llmspell.errors.IntegrityError`; an unconditional delete removes the row (never
    the file it names), so a bad record can always be deleted by key.
    """

    name = "diskcache"
    persistent = True

    def __init__(self, directory: str | Path, *, timeout: float = 60.0, threaded: bool = False) -> None:
        self.directory = Path(directory)
        self.timeout = timeout
        self.threaded = threaded
        self._cache: diskcache.Cache | None = None
        self._checkpointer: Checkpointer | None = None

    # -- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        if self._cache is not None:
            return
        # Values live inline in SQLite (never in side files), so a write is one transaction.
        cache = open_cache(self.directory, timeout=self.timeout, disk_min_file_size=2**30)
        columns = {row[1] for row in cache._sql("PRAGMA table_info(Cache)").fetchall()} | {"rowid"}
        if not _NEEDED <= columns:
            cache.close()
            raise IntegrityError(f"{self.directory} is not a diskcache store this version understands")
        self._cache = cache
        self._checkpointer = Checkpointer(self.directory / DBNAME)

    async def close(self) -> None:
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.close)
            self._checkpointer = None
        if self._cache is not None:
            self._cache.close()
            self._cache = None

    async def health(self) -> list[str]:
        """Problems reading the store (``llmspell doctor``); empty when fine."""
        try:
            await self.get("app/.health/probe")
        except Exception as exc:
            return [f"state backend {self.name!r}: {type(exc).__name__}: {exc}"]
        return []

    @property
    def cache(self) -> diskcache.Cache:
        if self._cache is None:
            raise BackendUnavailable(f"the diskcache state store at {self.directory} is not open")
        return self._cache

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            if self.threaded:
                return await asyncio.to_thread(fn, *args)
            return fn(*args)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise BackendUnavailable(
                    f"the state store at {self.directory} stayed locked by another process for "
                    f"more than {self.timeout}s ([state.diskcache] timeout): {exc}"
                ) from None
            raise
        except sqlite3.DatabaseError as exc:
            raise IntegrityError(f"the state store at {self.directory} is damaged: {exc}") from exc

    async def run_read(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(execute, *args)`` with ``execute`` running SQL on this store's connection
        (reads outside a transaction, as :meth:`get` does); errors mapped as for every read."""
        return await self._run(lambda: fn(self.cache._sql, *args))

    async def run_write(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(execute, *args)`` inside one write transaction (see :meth:`_transaction`)."""
        return await self._run(self._transaction, fn, *args)

    def record(self, key: str, tag: Any, mode: int, filename: str | None, value: Any) -> Record:
        """The record of a ``Cache`` row's ``key, tag, mode, filename, value``;
        :class:`IntegrityError` naming the key for a row llmspell did not write."""
        if mode == MODE_RAW and type(tag) is int and type(value) is bytes and filename is None:
            return Record(key, value, tag)
        return self._record(key, tag, mode, filename, value)

    def _record(self, key: str, tag: Any, mode: int, filename: str | None, value: Any) -> Record:
        why = foreign_row(mode, filename, value)  # never opens, never unpickles
        if why is not None:
            raise IntegrityError(f"state record {key!r} was not written by llmspell: {why}")
        if type(value) is not bytes:
            raise IntegrityError(f"state record {key!r} does not hold JSON bytes")
        if type(tag) is not int:
            raise IntegrityError(f"state record {key!r} has no version: it was not written by llmspell")
        return Record(key, value, tag)

    # -- reads -----------------------------------------------------------------------

    def _get(self, key: str) -> Record | None:
        rows = self.cache._sql(_SELECT, (key,)).fetchall()
        if not rows:
            return None
        return self._record(*rows[0][1:])

    async def get(self, key: str) -> Record | None:
        cache = self._cache
        if self.threaded or cache is None:
            return await self._run(self._get, key)
        try:  # inline: the hot path of every read
            rows = cache._sql(_SELECT, (key,)).fetchall()
        except sqlite3.DatabaseError:
            return await self._run(self._get, key)  # map the error the usual way
        if not rows:
            return None
        _, key, tag, mode, _, value = rows[0]
        if mode == MODE_RAW and type(tag) is int and type(value) is bytes:
            return Record(key, value, tag)
        return self._record(*rows[0][1:])

    def _get_many(self, keys: Sequence[str]) -> dict[str, Record]:
        out: dict[str, Record] = {}
        sql = self.cache._sql
        for start in range(0, len(keys), _IN_CHUNK):
            chunk = list(keys[start : start + _IN_CHUNK])
            marks = ", ".join("?" * len(chunk))
            query = f"SELECT {_COLUMNS} FROM Cache WHERE raw = 1 AND key IN ({marks})"
            for row in sql(query, chunk).fetchall():
                out[row[0]] = self._record(*row)
        return out

    async def get_many(self, keys: Sequence[str]) -> dict[str, Record]:
        return await self._run(self._get_many, keys)

    def _scan(
        self, prefix: str, after: str | None, limit: int, bad: list[tuple[str, str]] | None = None
    ) -> list[Record]:
        lower = prefix if after is None or after < prefix else after
        op = ">" if after is not None and after >= prefix else ">="
        query = f"SELECT {_COLUMNS} FROM Cache WHERE raw = 1 AND typeof(key) = 'text' AND key {op} ?"
        params: list[Any] = [lower]
        upper = prefix_upper_bound(prefix)
        if upper is not None:
            query += " AND key < ?"
            params.append(upper)
        query += " ORDER BY key LIMIT ?"
        params.append(limit)
        rows = self.cache._sql(query, params).fetchall()
        if bad is None:
            return [self._record(*row) for row in rows]
        out = []
        for row in rows:
            try:
                out.append(self._record(*row))
            except IntegrityError as exc:
                bad.append((row[0], str(exc)))
        return out

    async def scan(self, prefix: str, *, after: str | None = None, limit: int = 500) -> list[Record]:
        return await self._run(self._scan, prefix, after, limit)

    async def scan_skipping(
        self, prefix: str, *, after: str | None = None, limit: int = 500
    ) -> tuple[list[Record], list[tuple[str, str]]]:
        """Like :meth:`scan`, but rows not written by llmspell come back as ``(key, reason)``
        instead of failing the page. A page may then hold fewer than ``limit`` records;
        the last key seen is the last record's or the last bad row's, whichever is later."""
        bad: list[tuple[str, str]] = []
        records = await self._run(self._scan, prefix, after, limit, bad)
        return records, bad

    def _scan_prefixes(self, prefixes: Sequence[str]) -> list[tuple[list[Record], list[tuple[str, str]]]]:
        out: list[tuple[list[Record], list[tuple[str, str]]]] = [([], []) for _ in prefixes]
        ranges = []
        for i, prefix in enumerate(prefixes):
            # an owner's prefix ends with "/", whose successor is "0"
            upper = prefix[:-1] + "0" if prefix[-1:] == "/" else prefix_upper_bound(prefix)
            if upper is None:  # a prefix of only the highest code point: scanned on its own
                bad: list[tuple[str, str]] = []
                out[i] = (self._scan(prefix, None, 2**31, bad), bad)
            else:
                ranges.append((i, prefix, upper))
        sql = self.cache._sql
        for start in range(0, len(ranges), _IN_CHUNK):
            chunk = ranges[start : start + _IN_CHUNK]
            values = ", ".join("(?, ?, ?)" for _ in chunk)
            query = (
                f"WITH p(n, lo, hi) AS (VALUES {values}) SELECT p.n, {_COLUMNS} FROM p CROSS JOIN Cache INDEXED BY Cache_key_raw"
                " ON key >= p.lo AND key < p.hi WHERE raw = 1 AND typeof(key) = 'text' ORDER BY p.n, key"
            )
            for n, *row in sql(query, [x for r in chunk for x in r]).fetchall():
                records, bad = out[n]
                try:
                    records.append(self.record(*row))
                except IntegrityError as exc:
                    bad.append((row[0], str(exc)))
        return out

    async def scan_prefixes(self, prefixes: Sequence[str]) -> list[tuple[list[Record], list[tuple[str, str]]]]:
        """Every record of each prefix, in one call (the state service's
        :meth:`~llmspell.plugins.state.api.StateService.scan_owners`): for each prefix, in
        order, its records in key order and the rows not written by llmspell as
        ``(key, reason)``. One query per 500 prefixes, each a range of the key index."""
        return await self._run(self._scan_prefixes, prefixes)

    # -- writes ----------------------------------------------------------------------

    def _transaction(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(execute, *args)`` inside ``BEGIN IMMEDIATE`` ... ``COMMIT``.

        ``BEGIN IMMEDIATE`` takes SQLite's write lock, shared by every process on the
        directory (it is what ``Cache.transact()`` does, without its two context-manager
        layers); it waits up to ``timeout`` seconds for another writer. No side file is ever
        removed: this backend writes none, and any other row is refused or deleted as a
        row only.
        """
        con = self.cache._con
        execute = con.execute
        execute("BEGIN IMMEDIATE")
        try:
            result = fn(execute, *args)
            execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                execute("ROLLBACK")
            raise
        if self._checkpointer is not None and self._checkpointer.wrote(3):  # pages: table, Settings, index
            finish_checkpoint(con)
        return result

    def _current(self, execute: Any, key: str, op: WriteOp | None = None) -> tuple[Any, int | None]:
        found = execute(_SELECT, (key,)).fetchall()
        if not found:
            return None, None
        row = found[0]
        if type(row[2]) is not int or foreign_row(*row[3:]) is not None:
            if isinstance(op, Delete) and op.expected_version is None:
                return row, None  # a bad record is deleted as a row, without reading it
            self._record(*row[1:])  # raises the IntegrityError that explains it
        return row, row[2]

    def _apply(
        self, execute: Any, key: str, row: Any, op: WriteOp, now: float
    ) -> CasResult:
        """Write ``op`` for ``key`` whose current row is ``row``."""
        previous = None if row is None or type(row[2]) is not int else row[2]
        if isinstance(op, Delete):
            if row is None:
                return CasResult(ok=True)
            execute(_DELETE, (row[0],))
            return CasResult(ok=True, previous_version=previous)
        version = op.version if op.version is not None else (1 if previous is None else previous + 1)
        if row is None:
            execute(_INSERT, (key, now, now, version, MODE_RAW, op.data))
            return CasResult(ok=True, version=version)
        execute(_UPDATE, (now, now, version, MODE_RAW, op.data, row[0]))
        return CasResult(ok=True, version=version, previous_version=previous)

    def _write_one(self, execute: Any, op: WriteOp) -> CasResult:
        expected = op.expected_version
        if expected is not None and type(op) is Put and op.version is None:
            # A compare-and-set writes in one statement that holds only when the version
            # matches (and the row has no side file to remove); a key expected absent is
            # inserted unless it exists. Otherwise nothing was written: the general path
            # below finds out why.
            now = time.time()
            if expected:
                if execute(_UPDATE_IF, (now, now, expected + 1, MODE_RAW, op.data, op.key, expected)).rowcount:
                    return CasResult(ok=True, version=expected + 1, previous_version=expected)
            elif execute(_INSERT_IF_ABSENT, (op.key, now, now, 1, MODE_RAW, op.data)).rowcount:
                return CasResult(ok=True, version=1)
        elif expected is None and type(op) is Put and op.version is None:
            now = time.time()
            written = execute(_UPSERT, (op.key, now, now, MODE_RAW, op.data)).fetchall()
            if written:
                version = written[0][0]
                return CasResult(ok=True, version=version, previous_version=version - 1 if version > 1 else None)
        row, version = self._current(execute, op.key, op)
        if not holds(op.expected_version, version):
            return conflict(None if row is None else self._record(*row[1:]))
        return self._apply(execute, op.key, row, op, time.time())

    def _write_many(self, execute: Any, ops: Sequence[WriteOp]) -> BatchResult:
        """Each operation as :meth:`_write_one` writes it (one statement when it can); the
        first that fails raises :class:`_Failed`, which rolls the transaction back: all or
        nothing, and a conflict's current record is the one this batch found."""
        results = []
        for i, op in enumerate(ops):
            result = self._write_one(execute, op)
            if not result.ok:
                raise _Failed(BatchResult(ok=False, failed=i, conflict=result))
            results.append(result)
        return BatchResult(ok=True, results=tuple(results))

    async def compare_and_set(self, key: str, data: bytes, expected_version: int | None = None) -> CasResult:
        check_expected(expected_version)
        return await self._run(self._transaction, self._write_one, Put(key, data, expected_version))

    async def delete(self, key: str, expected_version: int | None = None) -> CasResult:
        check_expected(expected_version)
        return await self._run(self._transaction, self._write_one, Delete(key, expected_version))

    async def batch(self, ops: Sequence[WriteOp]) -> BatchResult:
        check_batch(ops)
        if not ops:
            return BatchResult(ok=True)
        if len(ops) == 1:  # one key: nothing to roll back
            done = await self._run(self._transaction, self._write_one, ops[0])
            return BatchResult(ok=True, results=(done,)) if done.ok else BatchResult(ok=False, failed=0, conflict=done)
        try:
            return await self._run(self._transaction, self._write_many, ops)
        except _Failed as failed:
            return failed.result


# Last: the state package's modules import this one (the embedded store) while they load,
# so the records it writes are bound once everything above exists.
from llmspell.plugins.state.backend import (  # noqa: E402
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
    prefix_upper_bound,
)
