"""The ``filesystem`` blob store (the default): blobs under the data directory.

Layout under the store's root::

    blobs/ab/cd/abcd...ef[-chain]   one file per blob, sharded by the first 4 hex digits
    uploads/<32 hex>.part           uploads in progress (left behind only by a crash)

Every path is derived from a validated hash (or a random upload id), never from a name,
so nothing a caller passes can reach outside the root. An upload is written to
``uploads/``, flushed and fsynced, then renamed into place (``os.replace`` is atomic), and
the shard directory is fsynced: a visible blob is always complete and durable.

Small blobs (up to :data:`SMALL` bytes, uncoded) can instead live in a table of the
artifact index's own SQLite database (:meth:`FilesystemBlobStore.share_index`; the
plugin does this when the index is the embedded ``sqlite`` one). Their commit is one
SQLite transaction and no fsync: the version that refers to a blob is committed after
it, to the same write-ahead log, and SQLite recovers a prefix of that log after a crash
or a power cut, so a surviving version always finds its blob, as the fsync before the
rename guarantees for a file. (A save given small bytes skips the writer: the index's
commit writes the row and the version in one transaction.) A save is then exactly as
durable as its index commit, which it already was (the index runs ``synchronous=NORMAL``).

A writer holds an exclusive ``flock`` on its upload file for as long as it is listed
under ``uploads/`` (it creates and locks ``<id>.new``, then renames it to ``<id>.part``)
until the file has been renamed into place or removed. gc asks
:meth:`FilesystemBlobStore.upload_in_use` and leaves a locked upload alone, whatever its
grace period, in this process or another; a writer that dies releases the lock with its
process, and gc then removes the upload at once.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from llmspell.errors import NotFoundError, ValidationError
from llmspell.plugins.artifacts.backend import BlobInfo, StartAlias

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: uploads are protected by gc's grace period only
    fcntl = None  # type: ignore[assignment]

from ._index_sqlite import SMALL_BLOBS_DDL, _use_wal
from .backend import check_blob_key

__all__ = ["FilesystemBlobStore"]

T = TypeVar("T")

INLINE = 256 * 1024
"""Writes below this size are done on the event loop (a thread hop costs more)."""
_UPLOAD = re.compile(r"[0-9a-f]{32}")
SMALL = 16 * 1024
"""Uncoded blobs up to this size live in the shared index database (see the module docstring)."""


class _SmallBlobs:
    """The ``store_small_blobs`` table of the index's SQLite database."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = path
        self._timeout = timeout
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False)
        _use_wal(db, self._timeout)
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(SMALL_BLOBS_DDL)  # the index creates it too (and marks its schema version 2)
        self._db = db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the blob store is not open")
        return self._db

    def put(self, key: str, data: bytes) -> None:
        with self._lock:
            self._conn().execute("INSERT OR REPLACE INTO store_small_blobs VALUES(?,?,?)", (key, data, time.time()))

    def get(self, key: str) -> bytes | None:
        with self._lock:
            row = self._conn().execute("SELECT data FROM store_small_blobs WHERE key=?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def stat(self, key: str) -> BlobInfo | None:
        with self._lock:
            row = self._conn().execute("SELECT length(data), modified FROM store_small_blobs WHERE key=?", (key,)).fetchone()
        return None if row is None else BlobInfo(key, row[0], row[1])

    def touch(self, key: str) -> bool:
        with self._lock:
            return self._conn().execute("UPDATE store_small_blobs SET modified=? WHERE key=?", (time.time(), key)).rowcount > 0

    def delete(self, key: str) -> int:
        with self._lock:
            row = self._conn().execute("DELETE FROM store_small_blobs WHERE key=? RETURNING length(data)", (key,)).fetchone()
        return 0 if row is None else int(row[0])

    def infos(self) -> list[BlobInfo]:
        with self._lock:
            rows = self._conn().execute("SELECT key, length(data), modified FROM store_small_blobs ORDER BY key").fetchall()
        return [BlobInfo(k, n, m) for k, n, m in rows]


def _open_binary(path: Path) -> BinaryIO:
    return path.open("rb")


def _read_from(path: Path, offset: int) -> bytes:
    """The content of ``path`` from ``offset`` to its end, whatever its size is by now."""
    with path.open("rb", buffering=0) as fh:
        if offset:
            fh.seek(offset)
        return fh.read()


def _lock(fd: int, wait: bool) -> bool:
    """Take the exclusive lock on an upload file; False when its writer holds it."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True



def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Writer:
    def __init__(self, store: FilesystemBlobStore) -> None:
        self._store = store
        self.id = uuid.uuid4().hex
        self._file: BinaryIO | None = None
        # with a small-blob table, the first SMALL bytes are kept here; an upload file is
        # made only when there are more (so a small blob never touches the filesystem)
        self._buffer: bytearray | None = bytearray() if store._small is not None else None
        self._done = False
        self._vanished = False
        self.started = time.time()
        if self._buffer is None:
            self._file = self._upload()
        else:
            store._buffered[self.id] = self  # listed by uploads() while it lives
        self.size = 0

    @property
    def path(self) -> Path:
        """The upload file (made only when the bytes do not stay in the buffer)."""
        return self._store.root / "uploads" / f"{self.id}.part"

    def _upload(self) -> BinaryIO:
        fresh = self.path.with_suffix(".new")  # not listed as an upload until it is locked
        fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            _lock(fd, wait=True)
            os.rename(fresh, self.path)
        except BaseException:
            os.close(fd)
            fresh.unlink(missing_ok=True)
            raise
        return os.fdopen(fd, "wb")

    def _to_file(self) -> None:
        """Move the buffered bytes to an upload file (it is listed from the file now)."""
        assert self._buffer is not None
        self._file = self._upload()
        self._file.write(self._buffer)
        self._buffer = None
        self._store._buffered.pop(self.id, None)

    def _gone(self) -> None:
        """``abort_upload`` (gc, or an operator) dropped this buffered upload."""
        self._vanished = True
        self._buffer = None

    async def write(self, data: bytes) -> None:
        if self._done:
            raise ValidationError("this upload is already committed or aborted")
        if self._vanished:
            raise NotFoundError(f"upload {self.id} was removed before it was committed")
        self.size += len(data)
        if self._buffer is not None:
            if self.size <= SMALL:
                self._buffer += data
                return
            self._to_file()
        assert self._file is not None
        if len(data) < INLINE:
            self._file.write(data)
        else:
            await self._store.run(self._file.write, data)

    def _commit(self, key: str) -> int:
        assert self._file is not None
        self._done = True
        store = self._store
        target = store.path(key)
        self._file.flush()
        leaf, top = target.parent, target.parent.parent
        new_top = not top.is_dir()
        new_leaf = new_top or not leaf.is_dir()

        def make_shard() -> None:
            leaf.mkdir(parents=True, exist_ok=True)
            if store.fsync:  # the parent of each directory made here (see below)
                if new_top:
                    _fsync_dir(top.parent)
                _fsync_dir(top)

        shard: Future[None] | None = None
        if new_leaf:
            if store.fsync:  # beside the data's fsync: the file system can commit both at once
                shard = store.dir_pool().submit(make_shard)
            else:
                make_shard()
        try:
            if store.fsync:
                os.fsync(self._file.fileno())  # the data is durable before its name exists
        finally:
            if shard is not None:
                shard.result()
        try:
            os.replace(self.path, target)  # still locked: gc cannot take it meanwhile
        except FileNotFoundError:
            raise NotFoundError(
                f"upload {self.id} vanished before it was committed as blob {key} "
                "(removed by something other than llmspell's gc)"
            ) from None
        self._file.close()  # releases the lock: the upload is a blob now
        self._file = None
        if self._store._small is not None and "-" not in key:
            self._store._small.delete(key)  # an older small copy of the key would shadow the file
        if store.fsync:
            # each directory whose entries changed is fsynced: the shard (the blob's name),
            # and before it the parent of each shard directory this commit made (a clean
            # directory's fsync costs as much as a dirty one's, so those are left out)
            _fsync_dir(leaf)
        return self.size

    async def commit(self, key: str) -> int:
        check_blob_key(key)
        if self._done:
            raise ValidationError("this upload is already committed or aborted")
        if self._vanished:
            raise NotFoundError(f"upload {self.id} was removed before it was committed as blob {key}")
        small = self._store._small
        if self._buffer is not None and small is not None and "-" not in key:
            self._done = True
            small.put(key, bytes(self._buffer))
            self._buffer = None
            self._store._buffered.pop(self.id, None)
            return self.size  # a file of the key (an older copy) is shadowed by the row; delete() removes both
        if self._file is None:  # a coded blob kept in the buffer: it goes to a file like any other
            self._to_file()
        if self.size < INLINE and not self._store.fsync:
            return self._commit(key)
        return await self._store.run(self._commit, key)

    async def abort(self) -> None:
        self._done = True
        self._buffer = None
        self._store._buffered.pop(self.id, None)
        if self._file is not None:
            self.path.unlink(missing_ok=True)  # while locked: never someone else's file
            self._file.close()
            self._file = None


class FilesystemBlobStore(StartAlias):
    """Blobs as files, sharded by hash, written atomically."""

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.root = Path(root).resolve()
        self.fsync = fsync
        self._pool: ThreadPoolExecutor | None = None
        self._small: _SmallBlobs | None = None
        self._dirs: ThreadPoolExecutor | None = None
        self._buffered: weakref.WeakValueDictionary[str, _Writer] = weakref.WeakValueDictionary()

    def share_index(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        """Keep small uncoded blobs in the SQLite database at ``path``, which must be the
        artifact index's own (see the module docstring); call before :meth:`open`."""
        self._small = _SmallBlobs(Path(path), timeout)

    def run(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run blocking file work on the store's own I/O thread.

        One thread (not the loop's shared pool) keeps the number of malloc arenas, and so
        the memory of large transfers, small.
        """
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="llmspell-blobs")
        return asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def dir_pool(self) -> ThreadPoolExecutor:
        """A second thread, for the directory fsyncs a commit runs beside its data's fsync."""
        if self._dirs is None:
            self._dirs = ThreadPoolExecutor(1, thread_name_prefix="llmspell-blob-dirs")
        return self._dirs

    async def open(self) -> None:
        for sub in ("blobs", "uploads"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        if self._small is not None:
            self._small.open()

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._dirs is not None:
            self._dirs.shutdown(wait=True)
            self._dirs = None
        if self._small is not None:
            self._small.close()

    def path(self, key: str) -> Path:
        key = check_blob_key(key)
        return self.root / "blobs" / key[:2] / key[2:4] / key

    def _row(self, key: str) -> bool:
        """Whether ``key`` (checked here) may be a small blob's row: uncoded, with a table."""
        check_blob_key(key)
        return self._small is not None and "-" not in key

    async def writer(self) -> _Writer:
        return _Writer(self)

    async def read(self, key: str, *, offset: int = 0, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        whole = self._small.get(key) if self._row(key) and self._small is not None else None
        path = self.path(key)
        if whole is not None:
            whole = whole[offset:] if offset else whole
        try:
            if whole is not None:
                pass
            elif (size := path.stat().st_size) - offset <= INLINE:  # small: one read on the loop beats two thread hops
                whole = _read_from(path, offset)
            elif size - offset <= chunk_size:  # one chunk: open, read and close in one hop
                whole = await self.run(_read_from, path, offset)
            else:
                fh = await self.run(_open_binary, path)
        except FileNotFoundError:
            raise NotFoundError(f"blob {key} is missing from the store") from None
        if whole is not None:
            if len(whole) <= chunk_size:
                yield whole  # no slice: a slice of the whole would copy it
                return
            for start in range(0, len(whole), chunk_size):
                yield whole[start : start + chunk_size]
            return
        pending: asyncio.Future[bytes] | None = None
        try:
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
            if offset:
                fh.seek(offset)
            pending = asyncio.ensure_future(self.run(fh.read, chunk_size))
            while True:
                chunk = await pending
                pending = None
                if not chunk:
                    break
                # read ahead while the consumer hashes and decodes this chunk
                pending = asyncio.ensure_future(self.run(fh.read, chunk_size))
                yield chunk
        finally:
            if pending is not None:
                await asyncio.wait([pending])
            fh.close()

    async def stat(self, key: str) -> BlobInfo | None:
        if self._row(key) and self._small is not None and (small := self._small.stat(key)) is not None:
            return small
        try:
            st = self.path(key).stat()
        except FileNotFoundError:
            return None
        return BlobInfo(key, st.st_size, st.st_mtime)

    async def touch(self, key: str) -> bool:
        if self._row(key) and self._small is not None and self._small.touch(key):
            return True
        try:
            os.utime(self.path(key))
        except FileNotFoundError:
            return False
        return True

    async def delete(self, key: str) -> int:
        freed = self._small.delete(key) if self._row(key) and self._small is not None else 0
        path = self.path(key)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return freed
        return freed + size

    async def blobs(self) -> AsyncIterator[BlobInfo]:
        small = [] if self._small is None else self._small.infos()
        for info in small:
            yield info
        shadowed = {info.key for info in small}
        base = self.root / "blobs"
        for shard in sorted(base.glob("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]")):
            for entry in sorted(os.scandir(shard), key=lambda e: e.name):
                if entry.name in shadowed:
                    continue
                if entry.is_file(follow_symlinks=False) and len(entry.name) >= 64:
                    try:
                        check_blob_key(entry.name)
                        st = entry.stat(follow_symlinks=False)
                    except (ValidationError, FileNotFoundError):
                        continue
                    yield BlobInfo(entry.name, st.st_size, st.st_mtime)
            await asyncio.sleep(0)

    async def uploads(self) -> AsyncIterator[BlobInfo]:
        for writer in sorted(self._buffered.values(), key=lambda w: w.id):
            yield BlobInfo(writer.id, writer.size, writer.started)
        for entry in sorted(os.scandir(self.root / "uploads"), key=lambda e: e.name):
            upload_id = entry.name.removesuffix(".part")
            if _UPLOAD.fullmatch(upload_id) and entry.is_file(follow_symlinks=False):
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                yield BlobInfo(upload_id, st.st_size, st.st_mtime)

    async def abort_upload(self, upload_id: str) -> int:
        if not isinstance(upload_id, str) or not _UPLOAD.fullmatch(upload_id):
            raise ValidationError(f"invalid upload id {upload_id!r}")
        buffered = self._buffered.pop(upload_id, None)
        if buffered is not None:
            buffered._gone()
            return buffered.size
        path = self.root / "uploads" / f"{upload_id}.part"
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        return size

    async def upload_in_use(self, upload_id: str) -> bool:
        """Whether a live writer (of any process) holds ``upload_id``; gc skips those."""
        if not isinstance(upload_id, str) or not _UPLOAD.fullmatch(upload_id):
            raise ValidationError(f"invalid upload id {upload_id!r}")
        if upload_id in self._buffered:
            return True  # a writer of this process, holding its bytes in memory
        try:
            fd = os.open(self.root / "uploads" / f"{upload_id}.part", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            return False
        try:
            return not _lock(fd, wait=False)
        finally:
            os.close(fd)  # releases the lock if it was taken

    async def health(self) -> list[str]:
        probe = self.root / "uploads" / ".probe"
        try:
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            return [f"blob directory {self.root} is not writable: {exc}"]
        return []

    def __repr__(self) -> str:
        return f"<FilesystemBlobStore root={str(self.root)!r}>"


