"""An import stays inside the session it imports, is checked whole, and is all or nothing."""

from __future__ import annotations

import orjson
import pytest

from llmspell.errors import NotFoundError, ValidationError
from llmspell.ids import new_id
from llmspell.plugins.sessions.api import PENDING, SessionStatus


@pytest.fixture
def kernel_config():
    return {"sessions": {"sweep_interval": 0}}


async def exported(kernel):
    """A session of u1 with state, events and two versions of an artifact, as export lines."""
    source = await kernel.sessions.create(user_id="u1", title="mine")
    await source.state.set("topic", "x")
    await kernel.events.publish("note.added", {"text": "one"}, session_id=source.id)
    await kernel.artifacts.save("notes.md", b"v1", session_id=source.id)
    await kernel.artifacts.save("notes.md", b"v2", session_id=source.id)
    await kernel.sessions.suspend(source.id)
    await kernel.events.flush()
    return source, [orjson.loads(line) async for line in kernel.sessions.export(source.id)]


def retarget(docs, session_id):
    """The export as another session (fresh event ids, so it can go into the same log)."""
    out = []
    for doc in docs:
        doc = orjson.loads(orjson.dumps(doc))
        if doc["kind"] == "header":
            doc["session"]["id"] = session_id
        elif doc["kind"] == "event":
            doc["event"]["id"] = new_id()
        out.append(doc)
    return out


def encode(docs):
    return [orjson.dumps(doc) + b"\n" for doc in docs]


async def snapshot(kernel, session_id):
    """Everything stored under a session id, to compare before and after."""
    state = [(i.key, i.value, i.version) for i in await kernel.state.export_owner("session", session_id)]
    events = [(e.id, e.seq) async for e in kernel.events.read(session_id)]
    page = await kernel.artifacts.list(session_id=session_id, all_versions=True, limit=1000)
    arts = [(m.ref, m.blob, m.codecs) for m in page.items]
    return state, events, arts


async def assert_nothing_under(kernel, session_id):
    assert await kernel.sessions.backend.get(session_id) is None
    with pytest.raises(NotFoundError):
        await kernel.sessions.get(session_id)
    assert await snapshot(kernel, session_id) == ([], [], [])


async def test_an_edited_export_cannot_write_into_other_sessions_or_users(make_kernel, kernel_config):
    async with make_kernel(kernel_config) as kernel:
        victim = await kernel.sessions.create(user_id="u2")
        await victim.state.set("mine", 1)
        await kernel.events.publish("note.added", {"text": "private"}, session_id=victim.id)
        await kernel.artifacts.save("secret.md", b"u2's", session_id=victim.id)
        await kernel.artifacts.save("profile.md", b"u2's profile", user_id="u2")
        await kernel.events.flush()
        before = await snapshot(kernel, victim.id)
        system_before = await kernel.events.last_seq("system")
        user_before = [m.ref for m in (await kernel.artifacts.list(user_id="u2", all_versions=True)).items]
        _, docs = await exported(kernel)
        docs = retarget(docs, "imported-1")
        docs[0]["session"]["cleaned"] = ["deleted", "archived"]  # would skip cleanup hooks here
        for doc in docs:
            if doc["kind"] == "event":
                doc["event"]["stream"], doc["event"]["session_id"] = victim.id, victim.id
            if doc["kind"] == "artifact":
                ref = doc["meta"]["ref"]
                if ref["version"] == 1:  # into the victim session, as a new version of its artifact
                    ref.update(scope="session", owner=victim.id, name="secret.md")
                else:  # into the victim user's own artifacts
                    ref.update(scope="user", owner="u2", name="profile.md", version=1)
                doc["acl"]["id"].update({k: ref[k] for k in ("scope", "owner", "name")})
        docs.append({**next(d for d in docs if d["kind"] == "event"), "event": {
            **next(d for d in docs if d["kind"] == "event")["event"], "id": new_id(), "stream": "system",
            "seq": len([d for d in docs if d["kind"] == "event"]) + 1}})
        imported = await kernel.sessions.import_lines(encode(docs))
        await kernel.events.flush()
        assert imported.id == "imported-1" and imported.cleaned == ()
        assert await snapshot(kernel, victim.id) == before
        assert await kernel.events.last_seq("system") == system_before
        assert [m.ref for m in (await kernel.artifacts.list(user_id="u2", all_versions=True)).items] == user_before
        assert await kernel.artifacts.load("secret.md", session_id=victim.id) == b"u2's"
        state, events, arts = await snapshot(kernel, "imported-1")
        assert state == [("topic", "x", 1)]
        assert [seq for _, seq in events] == list(range(1, len(events) + 1))
        assert {e.session_id async for e in kernel.events.read("imported-1")} == {"imported-1"}
        assert {(r.scope, r.owner, r.name, r.version) for r, _, _ in arts} == {
            ("session", "imported-1", "secret.md", 1), ("session", "imported-1", "profile.md", 1),
        }


async def test_a_bad_line_anywhere_writes_nothing(make_kernel, kernel_config):
    async with make_kernel(kernel_config) as kernel:
        _, docs = await exported(kernel)
        docs = retarget(docs, "imported-2")
        docs.append({"kind": "state", "key": "bad\nkey", "value": 1, "version": 1, "schema_version": 1})
        with pytest.raises(ValidationError, match="control character"):
            await kernel.sessions.import_lines(encode(docs))
        await assert_nothing_under(kernel, "imported-2")


async def test_an_artifact_whose_blob_is_missing_or_misdescribed_is_refused(make_kernel, kernel_config):
    async with make_kernel(kernel_config) as kernel:
        source, docs = await exported(kernel)
        cases = {
            "not in this kernel's blob store": lambda a: a["meta"].update(blob="0" * 64) or a["blob"].update(key="0" * 64)
            or a.pop("data"),
            "does not hash to its blob key": lambda a: a["meta"].update(blob="0" * 64) or a["blob"].update(key="0" * 64),
            "hash, size or codecs differ": lambda a: a["meta"].update(size=a["meta"]["size"] + 1),
            "data holds": lambda a: a["blob"].update(stored_size=a["blob"]["stored_size"] + 7),
            "blob holds": lambda a: a["blob"].update(stored_size=a["blob"]["stored_size"] + 7) or a.pop("data"),
            "differs from the one this kernel holds": lambda a: a["blob"].update(key_id="forged"),
            "invalid blob key": lambda a: a["meta"].update(blob="../../etc/passwd"),
        }
        for number, (message, edit) in enumerate(cases.items()):
            sid = f"imported-blob-{number}"
            edited = retarget(docs, sid)
            edit(next(d for d in edited if d["kind"] == "artifact"))
            with pytest.raises(ValidationError, match=message):
                await kernel.sessions.import_lines(encode(edited))
            await assert_nothing_under(kernel, sid)
        # the source's artifacts still load (no blob record was replaced)
        assert await kernel.artifacts.load("notes.md", session_id=source.id) == b"v2"


async def test_artifact_versions_are_kept_as_exported_or_refused(make_kernel, kernel_config):
    async with make_kernel(kernel_config) as kernel:
        _, docs = await exported(kernel)
        kept = retarget(docs, "imported-3")
        await kernel.sessions.import_lines(encode(kept))
        assert [m.ref.version for m in await kernel.artifacts.versions("notes.md", session_id="imported-3")] == [1, 2]
        gap = retarget([d for d in docs if not (d["kind"] == "artifact" and d["meta"]["ref"]["version"] == 1)],
                       "imported-4")
        with pytest.raises(ValidationError, match=r"versions \[2\]"):
            await kernel.sessions.import_lines(encode(gap))
        await assert_nothing_under(kernel, "imported-4")


async def test_event_ids_already_in_the_log_are_refused_and_nothing_is_left(make_kernel, kernel_config):
    async with make_kernel(kernel_config) as kernel:
        source, docs = await exported(kernel)
        edited = retarget(docs, "imported-5")
        taken = await anext(aiter(kernel.events.read(source.id)))
        next(d for d in edited if d["kind"] == "event")["event"]["id"] = taken.id
        with pytest.raises(ValidationError, match="already in this event log"):
            await kernel.sessions.import_lines(encode(edited))
        await assert_nothing_under(kernel, "imported-5")
        assert (await anext(aiter(kernel.events.read(source.id)))).id == taken.id


async def test_an_import_is_invisible_until_its_last_write(make_kernel, kernel_config):
    async with make_kernel(kernel_config) as kernel:
        _, docs = await exported(kernel)
        seen = []

        async def spy(stored_meta, **kwargs):
            sid = "imported-6"
            raw = await kernel.sessions.backend.get(sid)
            seen.append(raw.status)
            other = kernel.sessions
            other.pending.working.discard(sid)  # as another process sees it
            try:
                assert await other.find(sid) is None
                assert sid not in [s.id for s in (await other.list()).items]
                with pytest.raises(NotFoundError):
                    await other.resume(sid)
            finally:
                other.pending.working.add(sid)
            return await commit(stored_meta, **kwargs)

        commit = kernel.artifacts.index.commit
        kernel.artifacts.index.commit = spy
        try:
            imported = await kernel.sessions.import_lines(encode(retarget(docs, "imported-6")))
        finally:
            kernel.artifacts.index.commit = commit
        assert seen and all(status is SessionStatus.IMPORTING for status in seen)
        assert SessionStatus.IMPORTING in PENDING
        assert imported.status is SessionStatus.SUSPENDED
        assert (await kernel.sessions.get("imported-6")).status is SessionStatus.SUSPENDED
