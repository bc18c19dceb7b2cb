"""Garbage collection and key rotation.

Deleting a version removes its metadata at once; its blob stays until :meth:`gc` finds
that no version (and no save in flight, which holds a lease) refers to it any more:
mark-and-sweep, so a crash can never leave a wrong count behind.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

import attrs

from llmspell.errors import IntegrityError
from llmspell.plugins.artifacts.api import ArtifactId
from llmspell.plugins.artifacts.backend import BlobRecord

from ._base import ArtifactCore
from ._codecs import DecodeChain
from ._writes import UploadLease, upload_lease_key

__all__ = ["Maintenance", "GcReport", "RotationReport"]


@attrs.frozen
class GcReport:
    """What :meth:`gc` removed (or, with ``dry_run``, would remove)."""

    dry_run: bool
    blobs: tuple[str, ...] = ()
    uploads: tuple[str, ...] = ()
    bytes_freed: int = 0


@attrs.frozen
class RotationReport:
    """Blobs re-encrypted with the current key by :meth:`rotate_keys`."""

    key_id: str
    rotated: tuple[str, ...] = ()
    bytes: int = 0


class Maintenance:
    """gc and key rotation of one artifact service (see the module docstring)."""

    def __init__(self, core: ArtifactCore) -> None:
        self.core = core

    # -- gc ---------------------------------------------------------------------------

    async def gc(self, *, dry_run: bool = False, grace: float | None = None,
                 on_progress: Callable[[int, int], Any] | None = None, **where: Any) -> GcReport:
        """Remove blobs no version refers to and uploads left by crashes (an admin operation).

        Only what is older than ``grace`` seconds (default ``gc_grace_seconds``) is
        touched, so saves in flight are safe; an upload whose writer is still alive is
        never removed, whatever ``grace`` is (a save leases its upload in the index, or
        the store tells, as the filesystem store does with a lock). Returns
        what was (or would be) removed.
        ``on_progress(checked, total)`` is called as the candidate blobs are checked.
        """
        core = self.core
        who = core.who(where)
        if not who.is_admin:
            await core.deny(who, "delete", ArtifactId("app", core.config.app, "gc"))
        cutoff = time.time() - (core.config.gc_grace_seconds if grace is None else grace)
        store, index = core.store, core.index
        old = {info.key: info async for info in store.blobs() if info.modified <= cutoff}
        keys = sorted(old)
        blobs: list[str] = []
        freed = 0
        if on_progress is not None:
            on_progress(0, len(keys))
        for start in range(0, len(keys), 500):
            batch = keys[start : start + 500]
            used = await index.referenced(batch)
            for key in batch:
                if key in used:
                    continue
                current = await store.stat(key)
                if current is None or current.modified > cutoff:
                    continue  # touched by a save since we looked
                if not dry_run and await index.referenced([key]):
                    continue  # a save leased it since the batch was checked
                blobs.append(key)
                freed += current.size if dry_run else await store.delete(key)
            if not dry_run:
                await index.drop_blobs([k for k in blobs if k in batch])
            if on_progress is not None:
                on_progress(start + len(batch), len(keys))
        uploads: list[str] = []
        candidates = [upload async for upload in store.uploads() if upload.modified <= cutoff]
        leased = await index.referenced([upload_lease_key(u.key) for u in candidates]) if candidates else set()
        in_use = getattr(store, "upload_in_use", None)
        for upload in candidates:
            if upload_lease_key(upload.key) in leased or (in_use is not None and await in_use(upload.key)):
                continue  # a save is still writing it
            uploads.append(upload.key)
            freed += upload.size if dry_run else await store.abort_upload(upload.key)
        report = GcReport(dry_run, tuple(blobs), tuple(uploads), freed)
        if not dry_run:
            await core.kernel.emit("artifact.gc", {"blobs": len(blobs), "uploads": len(uploads), "bytes_freed": freed}, source="artifacts")
        return report

    # -- key rotation -----------------------------------------------------------------

    async def rotate_keys(self, *, batch: int = 100, **where: Any) -> RotationReport:
        """Re-encrypt every blob sealed with an older key under the current key (admin).

        Each blob is streamed through its codecs, verified against its sha-256 and
        written back under the same key atomically; readers never see a partial blob.
        """
        core = self.core
        who = core.who(where)
        if not who.is_admin:
            await core.deny(who, "write", ArtifactId("app", core.config.app, "keys"))
        keys = core.options.keys
        if keys is None:
            raise IntegrityError("no encryption keys are configured")
        rotated: list[str] = []
        total = 0
        after: str | None = None
        while True:
            records = await core.index.list_blobs(after=after, limit=batch)
            if not records:
                break
            after = records[-1].key
            for record in records:
                if record.key_id is None or record.key_id == keys.current:
                    continue
                if await core.store.stat(record.key) is None:
                    continue
                stored = await self._reseal(record)
                await core.index.put_blob(attrs.evolve(record, key_id=keys.current, stored_size=stored))
                rotated.append(record.key)
                total += stored
        return RotationReport(keys.current, tuple(rotated), total)

    async def _reseal(self, record: BlobRecord) -> int:
        core = self.core
        decoder = DecodeChain(core.codecs, core.options, identity=record.key)
        encoder = core.encoder([core.codec(n) for n in record.codecs])
        hasher = hashlib.sha256()
        writer = await core.store.writer()
        upload = UploadLease(core.index, core.store, writer, core.config.lease_seconds)
        try:
            await upload.take()
            await writer.write(encoder.header)
            async for stored in core.store.read(record.key, chunk_size=core.config.chunk_size):
                await upload.renew()
                for piece in decoder.update(stored):
                    hasher.update(piece)
                    for out in encoder.update(piece):
                        await writer.write(out)
            for piece in decoder.finish():
                hasher.update(piece)
                for out in encoder.update(piece):
                    await writer.write(out)
            encoder.bind(record.sha256)
            for out in encoder.finish():
                await writer.write(out)
            if hasher.hexdigest() != record.sha256:
                raise IntegrityError(f"blob {record.key} does not match its sha-256; not re-encrypted")
            return await writer.commit(record.key)
        except BaseException:
            await writer.abort()
            raise
        finally:
            await upload.release()
