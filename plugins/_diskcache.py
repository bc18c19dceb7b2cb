"""diskcache without pickle, tuned for a store rather than a cache.

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

import concurrent.futures
import os
import sqlite3
from pathlib import Path
from typing import Any

import diskcache
from diskcache.core import MODE_PICKLE, MODE_RAW, UNKNOWN

from llmspell.errors import IntegrityError

__all__ = ["JSONDisk", "foreign_row", "open_cache", "STORE_SETTINGS", "WAL_PAGES", "Checkpointer", "finish_checkpoint"]

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
