"""The artifact service API over both backend pairs."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import pytest

from llmspell import Cancel, CancelledByHook, Kernel
from llmspell.errors import NotFoundError, SerializationError, ValidationError
from llmspell.plugins.artifacts.api import ArtifactRef, ArtifactScope, SaveRequest


async def test_save_load_versions(akernel: Kernel) -> None:
    arts = akernel.artifacts
    ref = await arts.save("report.md", b"# hi", session_id="s1", content_type="text/markdown")
    assert ref == ArtifactRef("session", "s1", "report.md", 1)
    assert str(ref) == "artifact:session/s1/report.md@1"
    assert ArtifactRef.parse(str(ref)) == ref
    assert await arts.load(ref) == b"# hi"
    ref2 = await arts.save("report.md", b"# hi again", session_id="s1", tags=["draft"], metadata={"by": "test"})
    assert ref2.version == 2
    assert await arts.load("report.md", session_id="s1") == b"# hi again"
    assert await arts.load("report.md", session_id="s1", version=1) == b"# hi"
    assert await arts.load(str(ref)) == b"# hi"
    meta = await arts.stat(ref2)
    assert meta.size == 10 and meta.content_type == "text/markdown" and meta.tags == ("draft",)
    assert meta.metadata == {"by": "test"} and meta.creator == "system:system" and len(meta.sha256) == 64
    assert [m.ref.version for m in await arts.versions("report.md", session_id="s1")] == [1, 2]


async def test_scopes(akernel: Kernel) -> None:
    arts = akernel.artifacts
    assert (await arts.save("a.txt", b"1", user_id="u1")).scope == "user"
    assert (await arts.save("a.txt", b"2")).owner == "app"
    assert (await arts.save("a.txt", b"3", scope=ArtifactScope.app("other"))).owner == "other"
    ctx = await akernel.context(session_id="s9", user_id="u9")
    ref = await arts.save("a.txt", b"4", ctx=ctx)
    assert (ref.scope, ref.owner) == ("session", "s9")
    assert await arts.load("a.txt", user_id="u1") == b"1"
    assert await arts.load("a.txt") == b"2"
    with pytest.raises(NotFoundError):
        await arts.load("a.txt", user_id="u2")


async def _agen(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


class _AsyncFile:
    def __init__(self, data: bytes) -> None:
        self._io = io.BytesIO(data)

    async def read(self, n: int) -> bytes:
        return self._io.read(n)


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "async-iter", "iter", "file", "async-file"])
async def test_save_sources(akernel: Kernel, kind: str) -> None:
    data = bytes(range(256)) * 5000
    source: Any = {
        "bytes": data,
        "bytearray": bytearray(data),
        "memoryview": memoryview(data),
        "async-iter": _agen([data[:1000], data[1000:700_000], data[700_000:]]),
        "iter": iter([data[:5], data[5:]]),
        "file": io.BytesIO(data),
        "async-file": _AsyncFile(data),
    }[kind]
    ref = await akernel.artifacts.save("blob.bin", source)
    assert await akernel.artifacts.load(ref) == data


async def test_open_streams_in_chunks(akernel: Kernel) -> None:
    data = bytes(range(256)) * 20_000
    ref = await akernel.artifacts.save("big.bin", data)
    reader = await akernel.artifacts.open(ref, chunk_size=65536)
    assert reader.meta.size == len(data)
    chunks = [c async for c in reader]
    assert all(len(c) <= 65536 for c in chunks) and b"".join(chunks) == data
    async with await akernel.artifacts.open(ref) as reader:
        assert await reader.read() == data


async def test_bad_input(akernel: Kernel) -> None:
    arts = akernel.artifacts
    with pytest.raises(ValidationError, match="not str"):
        await arts.save("a.txt", "text")
    with pytest.raises(ValidationError, match="cannot save"):
        await arts.save("a.txt", 42)
    with pytest.raises(ValidationError, match="must be bytes"):
        await arts.save("a.txt", [b"ok", 3])
    with pytest.raises(SerializationError):
        await arts.save("a.txt", b"x", metadata={"bad": object()})
    with pytest.raises(ValidationError, match="content type"):
        await arts.save("a.txt", b"x", content_type="text")
    with pytest.raises(TypeError, match="unexpected keyword"):
        await arts.load("a.txt", sesion_id="typo")
    with pytest.raises(ValidationError, match="unknown artifact codec"):
        await arts.save("a.txt", b"x", codecs=["rot13"])
    with pytest.raises(ValidationError, match="unknown artifact scope"):
        await arts.save("a.txt", b"x", scope="galaxy")
    assert [p async for p in _agen([])] == []
    page = await arts.list()
    assert page.items == ()


async def test_content_type_is_guessed(akernel: Kernel) -> None:
    meta = await akernel.artifacts.stat(await akernel.artifacts.save("pic.png", b"\x89PNG"))
    assert meta.content_type == "image/png"
    meta = await akernel.artifacts.stat(await akernel.artifacts.save("noext", b"?"))
    assert meta.content_type == "application/octet-stream"


async def test_max_size(start_kernel: Any) -> None:
    kernel = await start_kernel(backend="memory", metadata="memory", max_size=10)
    try:
        with pytest.raises(ValidationError, match="max_size"):
            await kernel.artifacts.save("a", b"x" * 11)
        with pytest.raises(ValidationError, match="max_size"):
            await kernel.artifacts.save("a", iter([b"x" * 6, b"x" * 6]))
        assert (await kernel.artifacts.list()).items == ()
    finally:
        await kernel.stop()


async def test_list_filters_and_pages(akernel: Kernel) -> None:
    arts = akernel.artifacts
    for i in range(5):
        await arts.save(f"docs/{i}.md", b"d%d" % i, user_id="u1", tags=["doc"] if i % 2 == 0 else [])
    await arts.save("img/a.png", b"png", user_id="u1")
    await arts.save("docs/0.md", b"d0 v2", user_id="u1")
    await arts.save("elsewhere.md", b"x", session_id="s1")
    names = [m.ref.name for m in (await arts.list(user_id="u1")).items]
    assert names == [f"docs/{i}.md" for i in range(5)] + ["img/a.png"]
    assert [m.ref.name for m in (await arts.list(prefix="img/")).items] == ["img/a.png"]
    assert [m.ref.name for m in (await arts.list(content_type="image/*")).items] == ["img/a.png"]
    assert [m.ref.name for m in (await arts.list(tag="doc", user_id="u1")).items] == ["docs/2.md", "docs/4.md"]
    assert [m.ref.version for m in (await arts.list(prefix="docs/0", all_versions=True)).items] == [1, 2]
    assert len((await arts.list()).items) == 7
    seen, cursor = [], None
    while True:
        page = await arts.list(user_id="u1", limit=4, cursor=cursor)
        seen += [m.ref.name for m in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == names
    with pytest.raises(ValidationError):
        await arts.list(cursor="garbage!")


async def test_delete_one_or_all(akernel: Kernel) -> None:
    arts = akernel.artifacts
    for i in range(3):
        await arts.save("x.txt", b"v%d" % i)
    assert await arts.delete(ArtifactRef("app", "app", "x.txt", 2)) == [ArtifactRef("app", "app", "x.txt", 2)]
    assert [m.ref.version for m in await arts.versions("x.txt")] == [1, 3]
    with pytest.raises(NotFoundError):
        await arts.load("x.txt", version=2)
    with pytest.raises(NotFoundError):
        await arts.delete("x.txt", version=2)
    assert [r.version for r in await arts.delete("x.txt")] == [1, 3]
    with pytest.raises(NotFoundError):
        await arts.load("x.txt")
    assert (await arts.save("x.txt", b"new")).version == 4  # versions are never reused


async def test_copy_shares_the_blob(akernel: Kernel) -> None:
    arts = akernel.artifacts
    src = await arts.save("a.txt", b"content", user_id="u1", tags=["t"])
    dst = await arts.copy(src, "b.txt", to=ArtifactScope.session("s1"))
    assert dst == ArtifactRef("session", "s1", "b.txt", 1)
    assert await arts.load(dst) == b"content"
    a, b = await arts.stat(src), await arts.stat(dst)
    assert a.blob == b.blob and b.tags == ("t",)
    same_scope = await arts.copy("a.txt", "c.txt", user_id="u1")
    assert same_scope.scope == "user" and await arts.load(same_scope) == b"content"


async def test_hook_points_on_the_default_kernel(kernel: Kernel, hook_recorder: Any) -> None:
    ref = await kernel.artifacts.save("h.txt", b"x", user_id="u1")
    await kernel.artifacts.load(ref)
    await kernel.artifacts.delete(ref)
    assert [c.kwargs["ref"] for c in hook_recorder.calls("artifact_saved")] == [ref]
    assert [c.kwargs["ref"] for c in hook_recorder.calls("artifact_loaded")] == [ref]
    assert [c.kwargs["ref"] for c in hook_recorder.calls("artifact_deleted")] == [ref]
    (before,) = hook_recorder.calls("artifact_before_save")
    assert before.kwargs["call"].request.name == "h.txt"


async def test_before_save_can_cancel_or_change(akernel: Kernel) -> None:
    import attrs

    seen: list[SaveRequest] = []

    def rules(call: Any) -> Any:
        seen.append(call.request)
        if call.request.name.endswith(".exe"):
            return Cancel("no executables")
        call.request = attrs.evolve(call.request, tags=(*call.request.tags, "checked"))
        return None

    akernel.hooks.register("artifact_before_save", rules)
    with pytest.raises(CancelledByHook, match="no executables"):
        await akernel.artifacts.save("setup.exe", b"MZ")
    assert (await akernel.artifacts.list()).items == ()
    ref = await akernel.artifacts.save("ok.txt", b"fine", user_id="u1")
    assert (await akernel.artifacts.stat(ref)).tags == ("checked",)
    assert seen[-1].scope == ArtifactScope.user("u1") and seen[-1].principal == "system:system"


async def test_saved_loaded_deleted_points(akernel: Kernel) -> None:
    calls: list[tuple[str, Any]] = []
    for point in ("artifact_saved", "artifact_loaded", "artifact_deleted"):
        akernel.callbacks.on(point, lambda call, p=point: calls.append((p, call.args["ref"])))
    ref = await akernel.artifacts.save("p.txt", b"x")
    await akernel.artifacts.load(ref)
    await akernel.artifacts.delete(ref)
    assert calls == [("artifact_saved", ref), ("artifact_loaded", ref), ("artifact_deleted", ref)]


async def test_events_are_published(akernel: Kernel, events: Any) -> None:
    ref = await akernel.artifacts.save("e.txt", b"x")
    await akernel.artifacts.delete(ref)
    assert [e.payload["ref"] for e in events.of("artifact.saved")] == [str(ref)]
    assert [e.payload["ref"] for e in events.of("artifact.deleted")] == [str(ref)]
    assert events.of("artifact.saved")[0].source == "artifacts"
