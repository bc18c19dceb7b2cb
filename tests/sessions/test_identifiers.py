"""One rule per identifier: a session id ``create`` accepts works everywhere; user ids are checked."""

from __future__ import annotations

import pytest

from llmspell.contrib._interop import session_id_for, valid_session_id
from llmspell.contrib.console.reading import check_session_id as console_check
from llmspell.errors import NotFoundError, ValidationError
from llmspell.plugins._values import check_user_id
from llmspell.plugins.artifacts.api import ArtifactScope
from llmspell.plugins.artifacts.backend import check_owner as artifact_scope_id
from llmspell.plugins.sessions.api import check_session_id, is_session_id

#: Ids that used to pass ``create`` and failed later (artifacts, console URLs, files).
REFUSED = ["a b", ".", "..", "ü", "tab\there", "a:b", "a/b", "a\\b", "nul\x00", "", "x" * 129, " padded", "*", "a>b"]
ACCEPTED = ["s1", "s-alice", "user@example.com", "a.b", "A_b+c=d", "x" * 128, "01939c2e-8f4a-7b6e-9d3c-2a1b0c9d8e7f"]


@pytest.fixture
def kernel_config():
    return {"sessions": {"sweep_interval": 0}}


@pytest.mark.parametrize("bad", REFUSED)
async def test_create_refuses_what_other_entry_points_would_refuse(make_kernel, kernel_config, bad):
    async with make_kernel(kernel_config) as kernel:
        with pytest.raises(ValidationError, match="session id"):
            await kernel.sessions.create(session_id=bad)
        with pytest.raises(ValidationError, match="session id"):
            await kernel.sessions.get(bad)
        assert (await kernel.sessions.list()).items == ()
    assert not is_session_id(bad) and not valid_session_id(bad)
    with pytest.raises(ValidationError):
        console_check(bad)


@pytest.mark.parametrize("good", ACCEPTED)
async def test_an_id_create_accepts_works_everywhere(make_kernel, kernel_config, good):
    async with make_kernel(kernel_config) as kernel:
        session = await kernel.sessions.create(session_id=good, user_id="u1")
        assert session.id == good
        await session.state.set("k", 1)
        await kernel.events.publish("note.added", {"text": "hi"}, session_id=good)
        await kernel.events.flush()
        assert [e.type async for e in session.events()][-1] == "note.added"
        ref = await kernel.artifacts.save("a.txt", b"x", session_id=good)
        assert ref.owner == good
        fork = await kernel.sessions.fork(good)
        assert await kernel.artifacts.load("a.txt", session_id=fork.id) == b"x"
        await kernel.sessions.suspend(good)
        await kernel.sessions.resume(good)
        await kernel.sessions.delete(good)
        with pytest.raises(NotFoundError):
            await kernel.sessions.get(good)
    assert check_session_id(good) == good
    assert console_check(good) == good
    assert artifact_scope_id(good, "session") == good
    assert str(ArtifactScope.session(good)) == f"session/{good}"
    assert session_id_for(good, prefix="t") == good  # adapters keep a valid id as it is


@pytest.mark.parametrize("bad", ["nul\x00user", "x" * 100_000, "line\nbreak", "", 7])
async def test_user_ids_are_refused_like_state_owners(make_kernel, kernel_config, bad):
    async with make_kernel(kernel_config) as kernel:
        with pytest.raises(ValidationError, match=r"user.id"):
            await kernel.sessions.create(user_id=bad)
        session = await kernel.sessions.create(user_id="u1")
        with pytest.raises(ValidationError, match=r"user.id"):
            await kernel.sessions.update(session.id, user_id=bad)
        with pytest.raises(ValidationError, match=r"user.id"):
            await kernel.sessions.fork(session.id, user_id=bad)
        assert [s.id for s in (await kernel.sessions.list()).items] == [session.id]
        if isinstance(bad, str) and bad:
            with pytest.raises(ValidationError):
                kernel.state.scope("user", bad)


async def test_free_text_user_ids_and_app_names_still_work(make_kernel, kernel_config):
    async with make_kernel(kernel_config) as kernel:
        session = await kernel.sessions.create(user_id="Jane Doe <jane@example.com>", app="my app")
        assert (session.user_id, session.app) == ("Jane Doe <jane@example.com>", "my app")
        with pytest.raises(ValidationError, match="app name"):
            await kernel.sessions.create(app="a\x00b")
    assert check_user_id("ü" * 256) == "ü" * 256
    with pytest.raises(ValidationError):
        check_user_id("ü" * 257)
