"""De-duplication, retention, session cleanup and garbage collection."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from typing import Any

import attrs
import pytest

from llmspell import Kernel, Principal, serde
from llmspell.errors import NotFoundError, ValidationError
from tests.contrib.s3.s3server import s3_server  # noqa: F401 - a fixture

from .artifact_helpers import blob_files


async def test_same_content_is_stored_once(fskernel: Kernel) -> None:
    arts = fskernel.artifacts
    content = os.urandom(10 << 20)
    refs = [await arts.save(f"copies/{i}.bin", content) for i in range(100)]
    refs.append(await arts.save("copies/0.bin", content))  # another version
    refs.append(await arts.save("elsewhere.bin", content, session_id="s1"))  # another scope
    refs.append(await arts.save("streamed.bin", iter([content[:3 << 20], content[3 << 20 :]])))  # from a stream
    files = blob_files(fskernel)
    assert len(files) == 1 and files[0].stat().st_size == 10 << 20
    assert not any((fskernel.data_dir / "artifacts" / "store" / "uploads").iterdir())
    assert len({(await arts.stat(r)).blob for r in refs}) == 1
    assert await arts.load(refs[57]) == content


async def test_gc_removes_only_unreferenced_blobs(akernel: Kernel) -> None:
    arts = akernel.artifacts
    keep = await arts.save("keep.txt", b"keep me")
    shared = await arts.save("a.txt", b"shared content")
    await arts.save("b.txt", b"shared content")
    gone = await arts.save("gone.txt", b"x" * 1000)
    await arts.delete(gone)
    await arts.delete("a.txt")
    dry = await arts.gc(dry_run=True)
    assert dry.dry_run and len(dry.blobs) == 1 and dry.bytes_freed == 1000
    assert (await arts.gc(dry_run=True)).blobs == dry.blobs  # a dry run removes nothing
    report = await arts.gc()
    assert report.blobs == dry.blobs and report.bytes_freed == 1000
    assert (await arts.gc()).blobs == ()
    assert await arts.load(keep) == b"keep me"
    assert await arts.load("b.txt") == b"shared content"
    assert shared.name == "a.txt"
    assert await arts.index.get_blob(dry.blobs[0]) is None


async def test_gc_grace_and_leases_protect_saves_in_flight(start_kernel: Any) -> None:
    kernel = await start_kernel(gc_grace_seconds=3600)
    try:
        arts = kernel.artifacts
        ref = await arts.save("x.txt", b"young")
        await arts.delete(ref)
        assert (await arts.gc()).blobs == ()  # younger than the grace period
        key = hashlib_key(b"leased")
        writer = await arts.store.writer()
        await writer.write(b"leased")
        await writer.commit(key)
        await arts.index.lease(key, "in-flight", 60)
        report = await arts.gc(grace=0)
        assert key not in report.blobs and len(report.blobs) == 1
        await arts.index.release("in-flight")
        assert (await arts.gc(grace=0)).blobs == (key,)
    finally:
        await kernel.stop()


def hashlib_key(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


async def test_keep_last_on_save(start_kernel: Any, backend: dict[str, str]) -> None:
    kernel = await start_kernel(**backend, retention={"*": {"keep_last": 2}})
    try:
        for i in range(5):
            await kernel.artifacts.save("r.txt", b"v%d" % i)
        assert [m.ref.version for m in await kernel.artifacts.versions("r.txt")] == [4, 5]
    finally:
        await kernel.stop()


async def test_retention_sweep(start_kernel: Any, backend: dict[str, str]) -> None:
    kernel = await start_kernel(**backend, retention={"user": {"max_age_days": 30}, "app": {"keep_last": 1}})
    try:
        arts = kernel.artifacts
        old = await arts.save("old.txt", b"old", user_id="u1")
        fresh = await arts.save("fresh.txt", b"fresh", user_id="u1")
        for i in range(3):
            await arts.save("app.txt", b"a%d" % i)  # keep_last is applied on save too
        assert [m.ref.version for m in await arts.versions("app.txt")] == [3]
        # age the first artifact by rewriting its record, as if saved 40 days ago
        meta = await arts.index.get(old.id)
        await arts.index.delete(old.id)
        aged = attrs.evolve(meta, created=serde.utcnow() - timedelta(days=40))
        old = (await arts.index.commit(aged, acl=_acl(old), blob=await arts.index.get_blob(meta.blob))).ref
        dry = await arts.apply_retention(dry_run=True)
        assert dry.deleted == (old,) and await arts.load(old) == b"old"
        report = await arts.apply_retention()
        assert report.deleted == (old,)
        assert [m.ref.name for m in (await arts.list(user_id="u1")).items] == ["fresh.txt"]
        assert await arts.load(fresh) == b"fresh"
    finally:
        await kernel.stop()


def _acl(ref: Any) -> Any:
    from llmspell.plugins.artifacts.api import ArtifactAcl

    return ArtifactAcl(id=ref.id, owned_by=f"user:{ref.owner}")


@attrs.frozen
class FakeSession:
    id: str
    ended_at: Any = None


async def test_session_cleanup_hook_deletes_a_deleted_sessions_artifacts(akernel: Kernel) -> None:
    arts = akernel.artifacts
    await arts.save("a.txt", b"1", session_id="s1")
    await arts.save("b.txt", b"2", session_id="s1")
    await arts.save("b.txt", b"3", session_id="s1")
    await arts.save("c.txt", b"4", session_id="s2")
    await akernel.hook.session_cleanup(session=FakeSession("s1"), reason="deleted")
    assert (await arts.list(session_id="s1")).items == ()
    assert [m.ref.name for m in (await arts.list()).items] == ["c.txt"]
    assert (await arts.gc()).bytes_freed == 3
    assert await arts.delete_session("s2") == 1
    assert (await arts.list()).items == ()


async def test_session_artifacts_go_days_after_the_session_ends(start_kernel: Any, backend: dict[str, str]) -> None:
    kernel = await start_kernel(**backend, retention={"session": {"session_end_days": 7}})
    try:
        arts = kernel.artifacts
        await arts.save("a.txt", b"1", session_id="s-old")
        await arts.save("a.txt", b"2", session_id="s-recent")
        await arts.save("a.txt", b"3", session_id="s-live")
        now = serde.utcnow()
        old = FakeSession("s-old", ended_at=now - timedelta(days=8))
        await kernel.hook.session_cleanup(session=old, reason="expired")
        await kernel.hook.session_cleanup(session=FakeSession("s-recent"), reason="archived")
        assert len((await arts.list()).items) == 3  # nothing is deleted before the sweep
        report = await arts.apply_retention()
        assert [r.owner for r in report.deleted] == ["s-old"]
        assert sorted(m.ref.owner for m in (await arts.list()).items) == ["s-live", "s-recent"]
        later = await arts.apply_retention(now=now + timedelta(days=7, hours=1))
        assert [r.owner for r in later.deleted] == ["s-recent"]
    finally:
        await kernel.stop()


async def test_session_end_days_zero_deletes_at_once(start_kernel: Any) -> None:
    kernel = await start_kernel(retention={"session": {"session_end_days": 0}})
    try:
        await kernel.artifacts.save("a.txt", b"1", session_id="s1")
        await kernel.hook.session_cleanup(session=FakeSession("s1"), reason="expired")
        assert (await kernel.artifacts.list()).items == ()
    finally:
        await kernel.stop()


async def test_a_save_deduplicated_onto_a_lost_blob_file_heals(fskernel: Kernel) -> None:
    arts = fskernel.artifacts
    content = os.urandom(300_000)
    first = await arts.save("a.bin", content)
    for again in (content, iter([content[:100_000], content[100_000:]])):  # known up front, and streamed
        (path,) = blob_files(fskernel)
        path.unlink()  # the store lost the file; the index still knows the blob
        ref = await arts.save("b.bin", again)
        assert await arts.load(ref) == content
        assert await arts.load(first) == content  # healed for every version that shares it
        assert len(blob_files(fskernel)) == 1


@pytest.mark.parametrize("streamed", [False, True])
async def test_max_size_is_inclusive(start_kernel: Any, streamed: bool) -> None:
    kernel = await start_kernel(max_size=100_000, chunk_size=4096)
    try:
        arts = kernel.artifacts
        for size in (100_000, 100_001):
            data = os.urandom(size)
            source = iter([data[:50_000], data[50_000:]]) if streamed else data
            if size == 100_000:
                assert await arts.load(await arts.save("fits.bin", source)) == data
            else:
                with pytest.raises(ValidationError, match="max_size"):
                    await arts.save("too-big.bin", source)
        assert [m.ref.name for m in (await arts.list()).items] == ["fits.bin"]
        assert not any((kernel.data_dir / "artifacts" / "store" / "uploads").iterdir())
    finally:
        await kernel.stop()


@pytest.mark.parametrize("store", ["filesystem", "s3"])
async def test_gc_with_no_grace_leaves_a_save_in_progress_alone(
    make_kernel: Any, request: pytest.FixtureRequest, store: str
) -> None:
    config: dict[str, Any] = {"artifacts": {"gc_grace_seconds": 0}}
    if store == "s3":
        from tests.contrib.s3.s3server import s3_config

        config = {"artifacts": {"backend": "s3", "gc_grace_seconds": 0}, **s3_config(request.getfixturevalue("s3_server"), part_size=5 << 20)}
    kernel = await make_kernel(config).start()
    try:
        arts = kernel.artifacts
        started, go = asyncio.Event(), asyncio.Event()
        blocks = [bytes([i]) * (5 << 20) for i in range(3)]

        async def chunks() -> Any:
            for i, block in enumerate(blocks):
                yield block
                if i == 1:
                    started.set()
                    await go.wait()

        saving = asyncio.create_task(arts.save("slow.bin", chunks(), user_id="u1"))
        await started.wait()
        for _ in range(100):  # the upload becomes visible once its first part is on its way
            if [u async for u in arts.store.uploads()]:
                break
            await asyncio.sleep(0.05)
        assert [u async for u in arts.store.uploads()]
        report = await arts.gc(grace=0, principal=Principal.system())
        assert (report.uploads, report.bytes_freed) == ((), 0)
        go.set()
        ref = await saving
        assert await arts.load(ref, user_id="u1") == b"".join(blocks)
    finally:
        await kernel.stop()


async def test_gc_checks_a_blob_lease_again_just_before_deleting(start_kernel: Any) -> None:
    kernel = await start_kernel()
    try:
        arts = kernel.artifacts
        ref = await arts.save("x.bin", b"content a save is about to reuse")
        key = (await arts.stat(ref)).blob
        await arts.delete(ref)
        real_stat = arts.store.stat

        async def stat_while_a_save_leases(blob: str) -> Any:
            await arts.index.lease(blob, "a-save", 60)  # a save de-duplicating onto it, right now
            return await real_stat(blob)

        arts.store.stat = stat_while_a_save_leases
        report = await arts.gc(grace=0)
        arts.store.stat = real_stat
        assert report.blobs == () and await arts.store.stat(key) is not None
        await arts.index.release("a-save")
        assert (await arts.gc(grace=0)).blobs == (key,)
    finally:
        await kernel.stop()


async def test_a_save_whose_upload_is_removed_under_it_gets_a_named_error(start_kernel: Any) -> None:
    kernel = await start_kernel()
    try:
        arts = kernel.artifacts

        async def chunks() -> Any:
            for i in range(3):
                yield bytes([i]) * (1 << 20)
            for upload in [u async for u in arts.store.uploads()]:  # removed by something other than gc
                await arts.store.abort_upload(upload.key)

        with pytest.raises(NotFoundError, match="vanished"):
            await arts.save("lost.bin", chunks(), user_id="u1")
        assert [u async for u in arts.store.uploads()] == []
        assert (await arts.list(user_id="u1")).items == ()
    finally:
        await kernel.stop()
