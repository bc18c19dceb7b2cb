"""The ``filesystem`` blob store (the default): blobs under the data directory.

Layout under the store's root::

    blobs/ab/cd/abcd...ef[-chain]   one file per blob, sharded by the first 4 hex digits
    uploads/<32 hex>.part           uploads in progress (left behind only by a crash)

Every path is derived from a validated hash (or a random upload id), never from a name,
so nothing a caller passes can reach outside the root. An upload is written to
``uploads/``, flushed and fsynced, then renamed into place (``os.replace`` is atomic), and
the shard directory is fsynced: a visible blob is always complete and durable.

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
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from llmspell.errors import NotFoundError, ValidationError
from llmspell.plugins.artifacts.backend import BlobInfo, StartAlias

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: uploads are protected by gc's grace period only
    fcntl = None  # type: ignore[assignment]

from .backend import check_blob_key

__all__ = ["FilesystemBlobStore"]

T = TypeVar("T")

INLINE = 256 * 1024
"""Writes below this size are done on the event loop (a thread hop costs more)."""
_UPLOAD = re.compile(r"[0-9a-f]{32}")


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
        self.path = store.root / "uploads" / f"{self.id}.part"
        fresh = self.path.with_suffix(".new")  # not listed as an upload until it is locked
        fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            _lock(fd, wait=True)
            os.rename(fresh, self.path)
        except BaseException:
            os.close(fd)
            fresh.unlink(missing_ok=True)
            raise
        self._file: BinaryIO | None = os.fdopen(fd, "wb")
        self.size = 0

    async def write(self, data: bytes) -> None:
        if self._file is None:
            raise ValidationError("this upload is already committed or aborted")
        self.size += len(data)
        if len(data) < INLINE:
            self._file.write(data)
        else:
            await self._store.run(self._file.write, data)

    def _commit(self, key: str) -> int:
        assert self._file is not None
        target = self._store.path(key)
        self._file.flush()
        if self._store.fsync:
            os.fsync(self._file.fileno())
        leaf, top = target.parent, target.parent.parent
        new_top = not top.is_dir()
        new_leaf = new_top or not leaf.is_dir()
        leaf.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(self.path, target)  # still locked: gc cannot take it meanwhile
        except FileNotFoundError:
            raise NotFoundError(
                f"upload {self.id} vanished before it was committed as blob {key} "
                "(removed by something other than llmspell's gc)"
            ) from None
        self._file.close()  # releases the lock: the upload is a blob now
        self._file = None
        if self._store.fsync:
            # each directory whose entries changed: the shard (the blob), and the parent of
            # each shard directory this commit created (a clean directory's fsync costs as
            # much as a dirty one's, so those are left out)
            _fsync_dir(leaf)
            if new_leaf:
                _fsync_dir(top)
            if new_top:
                _fsync_dir(top.parent)
        return self.size

    async def commit(self, key: str) -> int:
        check_blob_key(key)
        if self.size < INLINE and not self._store.fsync:
            return self._commit(key)
        return await self._store.run(self._commit, key)

    async def abort(self) -> None:
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

    def run(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run blocking file work on the store's own I/O thread.

        One thread (not the loop's shared pool) keeps the number of malloc arenas, and so
        the memory of large transfers, small.
        """
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="llmspell-blobs")
        return asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def open(self) -> None:
        for sub in ("blobs", "uploads"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def path(self, key: str) -> Path:
        key = check_blob_key(key)
        return self.root / "blobs" / key[:2] / key[2:4] / key

    async def writer(self) -> _Writer:
        return _Writer(self)

    async def read(self, key: str, *, offset: int = 0, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        path = self.path(key)
        whole: bytes | None = None
        try:
            size = path.stat().st_size
            if size - offset <= INLINE:  # small: one read on the loop beats two thread hops
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
        try:
            st = self.path(key).stat()
        except FileNotFoundError:
            return None
        return BlobInfo(key, st.st_size, st.st_mtime)

    async def touch(self, key: str) -> bool:
        try:
            os.utime(self.path(key))
        except FileNotFoundError:
            return False
        return True

    async def delete(self, key: str) -> int:
        path = self.path(key)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        return size

    async def blobs(self) -> AsyncIterator[BlobInfo]:
        base = self.root / "blobs"
        for shard in sorted(base.glob("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]")):
            for entry in sorted(os.scandir(shard), key=lambda e: e.name):
                if entry.is_file(follow_symlinks=False) and len(entry.name) >= 64:
                    try:
                        check_blob_key(entry.name)
                        st = entry.stat(follow_symlinks=False)
                    except (ValidationError, FileNotFoundError):
                        continue
                    yield BlobInfo(entry.name, st.st_size, st.st_mtime)
            await asyncio.sleep(0)

    async def uploads(self) -> AsyncIterator[BlobInfo]:
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


