"""The llmspell ADK services beyond the in-memory reference: stale writers, crashes, TTL, names."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from google.adk.artifacts import InMemoryArtifactService, artifact_util  # noqa: E402
from google.adk.errors.already_exists_error import AlreadyExistsError  # noqa: E402
from google.adk.events import Event, EventActions  # noqa: E402
from google.adk.runners import Runner  # noqa: E402
from google.adk.sessions import InMemorySessionService  # noqa: E402
from google.genai import types  # noqa: E402

from llmspell import Kernel  # noqa: E402
from llmspell.contrib import KernelThread  # noqa: E402
from llmspell.contrib.adk import LlmspellArtifactService, LlmspellSessionService, StaleSessionError  # noqa: E402
from llmspell.contrib.adk.names import artifact_name, filename_of, session_id  # noqa: E402

from . import scenario  # noqa: E402


def note(text: str, **delta: Any) -> Event:
    return Event(invocation_id="inv", author="user", content=types.Content(role="user", parts=[types.Part(text=text)]),
                 actions=EventActions(state_delta=delta))


async def test_a_stale_session_cannot_append(kernel: Kernel) -> None:
    service = LlmspellSessionService(kernel)
    await service.create_session(app_name="a", user_id="u", session_id="s")
    first = await service.get_session(app_name="a", user_id="u", session_id="s")
    second = await service.get_session(app_name="a", user_id="u", session_id="s")
    await service.append_event(first, note("one", n=1))
    with pytest.raises(StaleSessionError):
        await service.append_event(second, note("two", n=2))
    fresh = await service.get_session(app_name="a", user_id="u", session_id="s")
    assert [e.content.parts[0].text for e in fresh.events] == ["one"] and fresh.state == {"n": 1}
    await service.append_event(fresh, note("two", n=2))
    assert (await service.get_session(app_name="a", user_id="u", session_id="s")).state == {"n": 2}


async def test_two_processes_racing_for_one_revision(make_kernel: Any) -> None:
    async with make_kernel() as one, make_kernel() as two:
        left, right = LlmspellSessionService(one), LlmspellSessionService(two)
        await left.create_session(app_name="a", user_id="u", session_id="s")
        a = await left.get_session(app_name="a", user_id="u", session_id="s")
        b = await right.get_session(app_name="a", user_id="u", session_id="s")
        results = await asyncio.gather(
            left.append_event(a, note("from one", who="one")), right.append_event(b, note("from two", who="two")),
            return_exceptions=True,
        )
        assert sorted(type(r).__name__ for r in results) == ["Event", "StaleSessionError"]
        final = await right.get_session(app_name="a", user_id="u", session_id="s")
        assert len(final.events) == 1 and final.state["who"] == final.events[0].actions.state_delta["who"]


async def test_a_stale_writer_gets_adks_wording_on_every_path(make_kernel: Any) -> None:
    """Loaded before the other write (checked on append) or racing it (the log stores one): ADK's text."""
    pytest.importorskip("sqlalchemy")
    from google.adk.sessions.database_session_service import _STALE_SESSION_ERROR_MESSAGE as adk_words

    async with make_kernel() as one, make_kernel() as two:
        left, right = LlmspellSessionService(one), LlmspellSessionService(two)
        await left.create_session(app_name="a", user_id="u", session_id="s")
        a = await left.get_session(app_name="a", user_id="u", session_id="s")
        b = await right.get_session(app_name="a", user_id="u", session_id="s")
        c = await right.get_session(app_name="a", user_id="u", session_id="s")
        read = right.revisions.current

        async def read_then_lose_the_race(record: Any) -> Any:
            seen = await read(record)  # the revision as it was before the other process wrote
            await left.append_event(a, note("from one", who="one"))
            return seen

        right.revisions.current = read_then_lose_the_race  # type: ignore[method-assign]
        with pytest.raises(StaleSessionError) as racing:
            await right.append_event(b, note("from two", who="two"))
        right.revisions.current = read  # type: ignore[method-assign]
        with pytest.raises(StaleSessionError) as stale:
            await right.append_event(c, note("late", who="late"))
        assert str(racing.value) == str(stale.value) == adk_words
        final = await right.get_session(app_name="a", user_id="u", session_id="s")
        assert [e.author for e in final.events] == ["user"] and final.state["who"] == "one"


async def test_an_event_delivered_twice_is_stored_once(kernel: Kernel) -> None:
    async def run(service: Any) -> Any:
        session = await service.create_session(app_name="a", user_id="u", session_id="s")
        event = note("once", n=1)
        await service.append_event(session, event)
        await service.append_event(session, event)
        got = await service.get_session(app_name="a", user_id="u", session_id="s")
        return [e.id == event.id for e in got.events], [e.id == event.id for e in session.events], got.state

    assert await run(LlmspellSessionService(kernel)) == await run(InMemorySessionService())


async def test_a_crash_after_the_event_is_repaired_on_the_next_read(kernel: Kernel, monkeypatch: Any) -> None:
    service = LlmspellSessionService(kernel)
    session = await service.create_session(app_name="a", user_id="u", session_id="s")

    async def crash(*args: Any) -> None:
        raise RuntimeError("process died")

    with monkeypatch.context() as patch:
        patch.setattr(service, "apply_delta", crash)
        with pytest.raises(RuntimeError):
            await service.append_event(session, note("lost?", **{"n": 1, "user:seen": True}))
    again = await LlmspellSessionService(kernel).get_session(app_name="a", user_id="u", session_id="s")
    assert [e.content.parts[0].text for e in again.events] == ["lost?"]
    assert again.state == {"n": 1, "user:seen": True}
    assert (await kernel.sessions.get(session_id("a", "u", "s"))).metadata["adk"]["revision"] == 1
    await service.append_event(again, note("next", n=2))


async def test_sessions_expire_after_their_ttl(kernel: Kernel) -> None:
    service = LlmspellSessionService(kernel, ttl=0.3)
    session = await service.create_session(app_name="a", user_id="u", session_id="s", state={"x": 1})
    await service.append_event(session, note("hi"))
    await asyncio.sleep(0.2)
    await service.append_event(session, note("still here"))  # activity pushes the expiry back
    await asyncio.sleep(0.2)
    assert await service.get_session(app_name="a", user_id="u", session_id="s") is not None
    await asyncio.sleep(0.35)
    assert await service.get_session(app_name="a", user_id="u", session_id="s") is None
    assert (await service.list_sessions(app_name="a")).sessions == []
    fresh = await service.create_session(app_name="a", user_id="u", session_id="s")
    assert fresh.state == {} and fresh.events == []


async def test_create_delete_and_ids_match_the_in_memory_service(kernel: Kernel) -> None:
    async def run(service: Any) -> list[Any]:
        out = []
        await service.create_session(app_name="a", user_id="u", session_id=" padded ")
        try:
            await service.create_session(app_name="a", user_id="u", session_id="padded")
        except AlreadyExistsError as exc:
            out.append(str(exc))
        await service.create_session(app_name="a", user_id="other", session_id="padded")
        out.append(sorted((s.user_id, s.id) for s in (await service.list_sessions(app_name="a")).sessions))
        await service.delete_session(app_name="a", user_id="u", session_id="padded")
        await service.delete_session(app_name="a", user_id="u", session_id="never")
        out.append(await service.get_session(app_name="a", user_id="u", session_id="padded"))
        out.append([s.id for s in (await service.list_sessions(app_name="a")).sessions])
        return out

    assert await run(LlmspellSessionService(kernel)) == await run(InMemorySessionService())


async def test_any_adk_filename_round_trips(kernel: Kernel) -> None:
    odd = ["report.md", "user:my notes (v2).txt", "a/b:c?d", "..", " edge ", "~7E", "naïve–ünïcode", "ｆｕｌｌ"]
    for name in odd:
        assert filename_of(artifact_name("app", name)) == name
    ours, reference = LlmspellArtifactService(kernel), InMemoryArtifactService()
    for service in (ours, reference):
        for name in odd:
            await service.save_artifact(app_name="app", user_id="u", session_id="s", filename=name,
                                        artifact=types.Part(text=name))
    keys = await ours.list_artifact_keys(app_name="app", user_id="u", session_id="s")
    assert keys == await reference.list_artifact_keys(app_name="app", user_id="u", session_id="s")
    for name in odd:
        where = {"app_name": "app", "user_id": "u", "session_id": "s", "filename": name}
        assert await ours.load_artifact(**where) == await reference.load_artifact(**where)
    for service in (ours, reference):
        await service.delete_artifact(app_name="app", user_id="u", session_id="s", filename="report.md")
        await service.save_artifact(app_name="app", user_id="u", session_id="s", filename="report.md",
                                    artifact=types.Part(text="again"))
    assert await ours.list_versions(app_name="app", user_id="u", session_id="s", filename="report.md") == [0]


def test_the_synchronous_runner_on_a_kernel_thread(tmp_path: Any, llmspell_env: dict[str, str]) -> None:
    logging.getLogger("google_adk").setLevel(logging.ERROR)
    with KernelThread(data_dir=tmp_path / "data", env=llmspell_env) as kernel:
        sessions = LlmspellSessionService(kernel)
        from google.adk.agents import LlmAgent

        agent = LlmAgent(name="scribe", model=scenario.ScriptedLlm(script=[{"text": "hello"}]), output_key="said")
        runner = Runner(app_name="sync", agent=agent, session_service=sessions,
                        artifact_service=LlmspellArtifactService(kernel), auto_create_session=True)
        message = types.Content(role="user", parts=[types.Part(text="hi")])
        events = list(runner.run(user_id="u", session_id="s", new_message=message))
        assert events[-1].content.parts[0].text == "hello"
        session = asyncio.run(sessions.get_session(app_name="sync", user_id="u", session_id="s"))
        assert session.state == {"said": "hello"} and len(session.events) == 2


@pytest.mark.parametrize(
    "part",
    [
        pytest.param(artifact_util._new_rewind_tombstone, id="tombstone"),
        pytest.param(lambda: types.Part.from_bytes(data=b"", mime_type="image/png"), id="empty-inline"),
        pytest.param(lambda: types.Part(text=""), id="empty-text"),
        pytest.param(lambda: types.Part.from_bytes(data=b"\x89PNG", mime_type="image/png"), id="inline"),
    ],
)
async def test_loading_empty_parts_and_the_rewind_tombstone_matches_adk(kernel: Kernel, part: Any) -> None:
    """load_artifact returns None for what ADK's own service treats as deleted (the rewind
    tombstone), and the part itself otherwise, as InMemoryArtifactService does."""
    where = {"app_name": "app", "user_id": "u1", "session_id": "s1", "filename": "f.bin"}
    ours, theirs = LlmspellArtifactService(kernel), InMemoryArtifactService()
    for service in (ours, theirs):
        await service.save_artifact(artifact=part(), **where)
    assert await ours.load_artifact(**where) == await theirs.load_artifact(**where)
