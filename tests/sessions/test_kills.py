"""Fork, import and delete are all or nothing under SIGKILL, on every session backend.

Each test runs the operation in a real process once to time it, then again and again,
killing the process with SIGKILL after a delay spread over that time. After every kill
it checks what another process would see, before and after startup recovery: a
finished result is complete, an unfinished one cannot be found, listed or resumed, and
recovery removes it with every partial write (a delete cut short is finished).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from llmspell.errors import NotFoundError
from llmspell.ids import new_id
from llmspell.plugins.sessions.api import PENDING, SessionQuery, SessionStatus
from tests._kills import backend_config, delays, run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
__all__ = ["backend_config"]  # the fixture, used by name

KEYS = 600  # two state pages
ARTIFACTS = 12


async def fill(kernel: Any, session_id: str) -> None:
    await kernel.state.import_owner(
        "session", session_id, [{"key": f"k{i:05d}", "value": {"i": i}, "version": 1} for i in range(KEYS)]
    )
    for i in range(ARTIFACTS):
        await kernel.artifacts.save(f"a{i:03d}.txt", f"bytes {i}".encode(), session_id=session_id)
    await kernel.events.publish("note.added", {"text": "hi"}, session_id=session_id)
    await kernel.events.flush()


async def contents(kernel: Any, session_id: str) -> tuple[int, int, int]:
    """(state keys, events, artifact versions) stored under a session id."""
    keys = len(await kernel.state.export_owner("session", session_id))
    await kernel.events.flush()
    events = await kernel.events.last_seq(session_id)
    page = await kernel.artifacts.list(session_id=session_id, all_versions=True, limit=1000)
    return keys, events, len(page.items)


async def hidden(kernel: Any, session_id: str) -> None:
    """A pending record is not there for anyone but the process writing it."""
    with pytest.raises(NotFoundError):
        await kernel.sessions.get(session_id)
    with pytest.raises(NotFoundError):
        await kernel.sessions.resume(session_id)
    assert session_id not in [s.id for s in (await kernel.sessions.list(limit=1000)).items]


async def recover_and_check_gone(kernel: Any, pending: list[str]) -> None:
    removed = await kernel.sessions.pending.recover()
    assert sorted(removed) == sorted(pending)
    for sid in pending:
        assert await kernel.sessions.backend.get(sid) is None
        assert await contents(kernel, sid) == (0, 0, 0)


async def test_fork_killed_anywhere_leaves_a_whole_fork_or_none(make_kernel, backend_config, llmspell_env, tmp_path):
    data = tmp_path / "data"
    async with make_kernel(backend_config, data_dir=data) as kernel:
        parent = await kernel.sessions.create(user_id="u1")
        await fill(kernel, parent.id)
        await kernel.sessions.suspend(parent.id)
        duration = run(data, backend_config, llmspell_env, "fork", parent.id, None)
        assert duration is not None
        caught = 0
        for delay in delays(duration):
            run(data, backend_config, llmspell_env, "fork", parent.id, delay)
            raw = (await kernel.sessions.backend.list(SessionQuery(parent_id=parent.id, limit=1000))).items
            pending = [s.id for s in raw if s.status in PENDING]
            for sid in pending:
                await hidden(kernel, sid)
            for fork in (await kernel.sessions.list(parent_id=parent.id, limit=1000)).items:
                # a finished fork whose process was killed later is interrupted by the next start
                assert fork.status in (SessionStatus.ACTIVE, SessionStatus.INTERRUPTED)
                keys, _, artifacts = await contents(kernel, fork.id)
                assert (keys, artifacts) == (KEYS, ARTIFACTS)
            await recover_and_check_gone(kernel, pending)
            caught += len(pending)
        assert caught, "no kill landed inside a fork; the kill points do not cover it"


async def test_delete_killed_anywhere_is_finished_by_recovery(make_kernel, backend_config, llmspell_env, tmp_path):
    data = tmp_path / "data"
    async with make_kernel(backend_config, data_dir=data) as kernel:

        async def victim() -> str:
            session = await kernel.sessions.create(user_id="u1")
            await fill(kernel, session.id)
            await kernel.sessions.suspend(session.id)
            return session.id

        whole = await contents(kernel, sid := await victim())
        duration = run(data, backend_config, llmspell_env, "delete", sid, None)
        assert duration is not None and await contents(kernel, sid) == (0, 0, 0)
        caught = 0
        for delay in delays(duration):
            sid = await victim()
            run(data, backend_config, llmspell_env, "delete", sid, delay)
            record = await kernel.sessions.backend.get(sid)
            if record is None:
                assert await contents(kernel, sid) == (0, 0, 0)
            elif record.status in PENDING:
                assert record.status is SessionStatus.DELETING
                await hidden(kernel, sid)
                await recover_and_check_gone(kernel, [sid])
                caught += 1
            else:  # not started: untouched
                assert record.status is SessionStatus.SUSPENDED
                assert await contents(kernel, sid) == whole
                await kernel.sessions.delete(sid)
        assert caught, "no kill landed inside a delete; the kill points do not cover it"


async def test_import_killed_anywhere_leaves_a_whole_session_or_none(make_kernel, backend_config, llmspell_env, tmp_path):
    data = tmp_path / "data"
    async with make_kernel(backend_config, data_dir=data) as kernel:
        source = await kernel.sessions.create(user_id="u1")
        await fill(kernel, source.id)
        await kernel.sessions.suspend(source.id)
        docs = [orjson.loads(line) async for line in kernel.sessions.export(source.id)]
        whole = await contents(kernel, source.id)

        def export_as(sid: str) -> str:
            path = tmp_path / f"{sid}.jsonl"
            with path.open("wb") as out:
                for doc in docs:
                    if doc["kind"] == "header":
                        doc = {**doc, "session": {**doc["session"], "id": sid}}
                    elif doc["kind"] == "event":
                        doc = {**doc, "event": {**doc["event"], "id": new_id()}}
                    out.write(orjson.dumps(doc) + b"\n")
            return str(path)

        duration = run(data, backend_config, llmspell_env, "import", export_as("imported-0"), None)
        assert duration is not None and await contents(kernel, "imported-0") == whole
        caught = 0
        for number, delay in enumerate(delays(duration), 1):
            sid = f"imported-{number}"
            run(data, backend_config, llmspell_env, "import", export_as(sid), delay)
            record = await kernel.sessions.backend.get(sid)
            if record is None:
                assert await contents(kernel, sid) == (0, 0, 0)
            elif record.status in PENDING:
                assert record.status is SessionStatus.IMPORTING
                await hidden(kernel, sid)
                await recover_and_check_gone(kernel, [sid])
                caught += 1
            else:
                assert record.status is SessionStatus.SUSPENDED
                assert (await kernel.sessions.get(sid)).status is SessionStatus.SUSPENDED
                assert await contents(kernel, sid) == whole
        assert caught, "no kill landed inside an import; the kill points do not cover it"
