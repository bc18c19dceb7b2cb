"""What a session owns: state, event history and artifacts; fork, delete, export, import."""

from __future__ import annotations

import orjson
import pytest

from llmspell.errors import NotFoundError, ValidationError
from llmspell.plugins.sessions.api import SessionService, SessionStatus


async def fill(kernel, session):
    await session.state.set("topic", "llmspell")
    await session.state.update("turns", lambda n: (n or 0) + 1)
    await session.state.update("turns", lambda n: n + 1)
    await kernel.events.publish("note.added", {"text": "hello"}, session_id=session.id)
    ref = await kernel.artifacts.save("notes.md", b"# notes", session_id=session.id, content_type="text/markdown")
    await kernel.artifacts.save("notes.md", b"# notes v2", session_id=session.id, content_type="text/markdown")
    await kernel.events.flush()
    return ref


async def test_session_reaches_its_state_events_and_artifacts(kernel):
    session = await kernel.sessions.create(user_id="u1")
    await fill(kernel, session)
    assert await session.state.get("turns") == 2
    assert await kernel.state.scope("session", session.id).get("topic") == "llmspell"
    types = [e.type async for e in session.events()]
    assert types[0] == "session.created"
    assert "note.added" in types and types.count("state.changed") == 3
    seqs = [e.seq async for e in session.events()]
    assert seqs == list(range(1, len(seqs) + 1))
    assert await kernel.artifacts.load("notes.md", session_id=session.id) == b"# notes v2"
    ctx = await kernel.context(session_id=session.id, user_id="u1")
    assert await ctx.service(SessionService).get(session.id) == session


async def test_fork_copies_state_and_references_artifacts(kernel):
    parent = await kernel.sessions.create(user_id="u1", title="plan", tags=["x"])
    await fill(kernel, parent)
    fork = await kernel.sessions.fork(parent.id, title="alternative")
    assert (fork.parent_id, fork.title, fork.tags, fork.user_id) == (parent.id, "alternative", ("x",), "u1")
    assert [(i.key, i.value, i.version) async for i in fork.state.scan()] == [
        (i.key, i.value, i.version) async for i in parent.state.scan()
    ]
    await fork.state.set("topic", "changed in the fork")
    assert await parent.state.get("topic") == "llmspell"
    assert await kernel.artifacts.load("notes.md", session_id=fork.id) == b"# notes v2"
    forked = await kernel.artifacts.stat("notes.md", session_id=fork.id)
    original = await kernel.artifacts.stat("notes.md", session_id=parent.id)
    assert forked.blob == original.blob  # a reference: no bytes copied
    children = await kernel.sessions.list(parent_id=parent.id)
    assert [s.id for s in children.items] == [fork.id]


async def test_delete_removes_state_events_and_artifacts(kernel):
    session = await kernel.sessions.create(user_id="u1")
    await fill(kernel, session)
    other = await kernel.sessions.create(user_id="u1")
    await other.state.set("keep", True)
    await kernel.sessions.delete(session.id)
    assert await kernel.state.scope("session", session.id).list() == []
    assert [e async for e in kernel.events.read(session.id)] == []
    with pytest.raises(NotFoundError):
        await kernel.artifacts.load("notes.md", session_id=session.id)
    assert await other.state.get("keep") is True
    await kernel.events.flush()
    deleted = [e for e in await kernel.events.query("session.deleted") if e.payload["session_id"] == session.id]
    assert len(deleted) == 1


async def test_export_then_import_into_a_fresh_data_directory(make_kernel, tmp_path):
    async with make_kernel(data_dir=tmp_path / "one") as one:
        session = await one.sessions.create(user_id="u1", title="trip", metadata={"k": [1, 2]})
        await fill(one, session)
        await one.sessions.suspend(session.id)
        lines = [line async for line in one.sessions.export(session.id)]
        state = [(i.key, i.value, i.version) async for i in one.state.scope("session", session.id).scan()]
        events = [(e.id, e.type, e.seq, e.payload) async for e in one.events.read(session.id)]
        arts = [(m.ref, m.sha256, m.size, m.content_type) for m in await one.artifacts.versions("notes.md", session_id=session.id)]
        record = await one.sessions.get(session.id)
    # small blobs travel in the export (larger ones are references to a shared or copied store)
    assert all("data" in orjson.loads(line) for line in lines if orjson.loads(line)["kind"] == "artifact")
    async with make_kernel(data_dir=tmp_path / "two") as two:
        imported = await two.sessions.import_lines(lines)
        assert imported.id == session.id
        again = await two.sessions.get(session.id)
        assert (again.title, again.metadata, again.status, again.created_at) == (
            record.title, record.metadata, SessionStatus.SUSPENDED, record.created_at,
        )
        assert [(i.key, i.value, i.version) async for i in two.state.scope("session", session.id).scan()] == state
        assert [(e.id, e.type, e.seq, e.payload) async for e in two.events.read(session.id)] == events
        moved = [(m.ref, m.sha256, m.size, m.content_type) for m in await two.artifacts.versions("notes.md", session_id=session.id)]
        assert moved == arts
        with pytest.raises(ValidationError, match="already exists here"):
            await two.sessions.import_lines(lines)
        resumed = await two.sessions.resume(session.id)
        assert resumed.status is SessionStatus.ACTIVE


async def test_import_rejects_malformed_documents(kernel):
    with pytest.raises(ValidationError, match="has no header line"):
        await kernel.sessions.import_lines([])
    with pytest.raises(ValidationError, match="line 1: not a session export"):
        await kernel.sessions.import_lines([b'{"kind": "header", "format": "other"}'])
    with pytest.raises(ValidationError, match="line 2"):
        await kernel.sessions.import_lines([b'{"kind": "header", "format": "llmspell.session", "schema_version": 1, "session": {}}', b"{not json"])
    with pytest.raises(ValidationError, match="line 1: .*schema version 99"):
        await kernel.sessions.import_lines([b'{"kind": "header", "format": "llmspell.session", "schema_version": 99, "session": {}}'])


async def test_rebuild_restores_what_the_log_holds(kernel):
    session = await kernel.sessions.create()
    await session.state.set("a", 1)
    await session.state.set("b", {"x": 1})
    await session.state.set("c", 3)
    await session.state.delete("c")
    await kernel.events.flush()
    # the store loses keys behind the log's back (as a memory store does in a crash)
    await kernel.state.rebuild("session", session.id, [])
    assert await session.state.list() == []
    restored = await kernel.sessions.resources.rebuild_state(session)
    assert restored == 2  # a and b come back; c stays deleted
    assert {i.key: (i.value, i.version) async for i in session.state.scan()} == {"a": (1, 1), "b": ({"x": 1}, 1)}
    # a key the store holds newer than the log is kept
    await session.state.set("a", 2)
    assert await kernel.sessions.resources.rebuild_state(session) == 0
    assert await session.state.get("a") == 2
