"""Session lifecycle: every transition, hooks that veto, events, bad input."""

from __future__ import annotations

import itertools
from datetime import timedelta

import attrs
import pytest

from llmspell import Cancel, CancelledByHook, hookimpl
from llmspell.errors import ConfigError, InvalidTransition, NotFoundError, ValidationError
from llmspell.plugins.sessions.api import PENDING, TRANSITIONS, VISIBLE, SessionStatus

S = SessionStatus

LEGAL = {
    (S.ACTIVE, S.SUSPENDED), (S.ACTIVE, S.COMPLETED), (S.ACTIVE, S.FAILED), (S.ACTIVE, S.EXPIRED),
    (S.ACTIVE, S.INTERRUPTED),
    (S.SUSPENDED, S.ACTIVE), (S.SUSPENDED, S.COMPLETED), (S.SUSPENDED, S.FAILED),
    (S.SUSPENDED, S.EXPIRED), (S.SUSPENDED, S.ARCHIVED),
    (S.INTERRUPTED, S.ACTIVE), (S.INTERRUPTED, S.FAILED), (S.INTERRUPTED, S.EXPIRED),
    (S.INTERRUPTED, S.ARCHIVED),
    (S.COMPLETED, S.ARCHIVED), (S.FAILED, S.ARCHIVED), (S.EXPIRED, S.ARCHIVED),
}


def test_the_table_is_the_documented_one():
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == LEGAL


@pytest.fixture
def kernel_factory(make_kernel):
    def build(**config):
        return make_kernel({"sessions": {"backend": "memory", "sweep_interval": 0, **config}})

    return build


async def put_in_status(kernel, status):
    session = await kernel.sessions.create(user_id="u1")
    backend = kernel.sessions.backend
    stored = await backend.get(session.id)
    return await backend.put(attrs.evolve(stored, status=status), expected_version=stored.version)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(VISIBLE, S)))
async def test_every_transition(kernel_factory, current, target):
    async with kernel_factory() as kernel:
        session = await put_in_status(kernel, current)
        if (current, target) in LEGAL:
            updated = await kernel.sessions.transition(session.id, target, "because")
            assert updated.status is target
            assert updated.status_reason == "because"
            assert updated.version == session.version + 1
            assert (updated.lease is not None) == (target is S.ACTIVE)
            if target in (S.COMPLETED, S.FAILED, S.EXPIRED):
                assert updated.ended_at is not None
        else:
            with pytest.raises(InvalidTransition) as info:
                await kernel.sessions.transition(session.id, target)
            message = str(info.value)
            assert f"from {current.value!r} to {target.value!r}" in message
            allowed = sorted(t.value for t in TRANSITIONS[current]) or ["none"]
            assert message.endswith(", ".join(allowed))
            assert (await kernel.sessions.get(session.id)).status is current


@pytest.mark.parametrize("pending", sorted(PENDING, key=str))
async def test_a_pending_record_is_not_there_for_transitions(kernel_factory, pending):
    async with kernel_factory() as kernel:
        session = await put_in_status(kernel, pending)
        for target in S:
            with pytest.raises(NotFoundError):
                await kernel.sessions.transition(session.id, target)
        assert (await kernel.sessions.backend.get(session.id)).status is pending


async def test_named_operations(kernel_factory):
    async with kernel_factory() as kernel:
        sessions = kernel.sessions
        s = await sessions.create(user_id="u1", app="demo", title="chat", tags=["a", "a", "b"])
        assert (s.status, s.app, s.tags) == (S.ACTIVE, "demo", ("a", "b"))
        assert (await sessions.suspend(s.id, "lunch")).status is S.SUSPENDED
        assert (await sessions.resume(s.id)).status is S.ACTIVE
        assert (await sessions.complete(s.id)).status is S.COMPLETED
        assert (await sessions.archive(s.id)).status is S.ARCHIVED
        other = await sessions.create()
        assert (await sessions.fail(other.id, "tool crashed")).status_reason == "tool crashed"


async def test_transition_hook_can_veto_and_sees_old_and_new(kernel_factory, make_kernel):
    seen = []

    class Guard:
        @hookimpl
        def llmspell_session_transition(self, session, old, new):
            seen.append((old, new))
            if new == "completed" and not session.metadata.get("reviewed"):
                return Cancel("needs review first")

    kernel = make_kernel({"sessions": {"backend": "memory", "sweep_interval": 0}}, plugins=[Guard()])
    async with kernel:
        s = await kernel.sessions.create()
        with pytest.raises(CancelledByHook, match="needs review first"):
            await kernel.sessions.complete(s.id)
        assert (await kernel.sessions.get(s.id)).status is S.ACTIVE
        await kernel.sessions.update(s.id, metadata={"reviewed": True})
        await kernel.sessions.complete(s.id)
        assert seen == [("active", "completed"), ("active", "completed")]


async def test_before_delete_hook_can_veto(make_kernel):
    class Keeper:
        @hookimpl
        def llmspell_session_before_delete(self, session):
            if "keep" in session.tags:
                return Cancel("tagged keep")

    async with make_kernel({"sessions": {"backend": "memory", "sweep_interval": 0}}, plugins=[Keeper()]) as kernel:
        kept = await kernel.sessions.create(tags=["keep"])
        gone = await kernel.sessions.create()
        with pytest.raises(CancelledByHook, match="tagged keep"):
            await kernel.sessions.delete(kept.id)
        await kernel.sessions.delete(gone.id)
        assert await kernel.sessions.find(gone.id) is None
        assert await kernel.sessions.find(kept.id) is not None


async def test_bad_input(kernel_factory):
    async with kernel_factory() as kernel:
        sessions = kernel.sessions
        with pytest.raises(NotFoundError, match="session 'nope' does not exist"):
            await sessions.get("nope")
        with pytest.raises(NotFoundError):
            await sessions.suspend("nope")
        s = await sessions.create()
        await sessions.delete(s.id)
        for op in (sessions.get, sessions.suspend, sessions.resume, sessions.touch, sessions.delete, sessions.fork):
            with pytest.raises(NotFoundError, match=f"session '{s.id}' does not exist"):
                await op(s.id)
        for ttl in (-1, 0, "60", float("nan"), True):
            with pytest.raises(ValidationError, match="ttl must be a positive number of seconds"):
                await sessions.create(ttl=ttl)
        for bad in ("", "a/b", "x" * 200, "nul\x00", 7):
            with pytest.raises(ValidationError, match="session id"):
                await sessions.create(session_id=bad)
        taken = await sessions.create(session_id="taken")
        with pytest.raises(ValidationError, match="a session with id 'taken' already exists"):
            await sessions.create(session_id=taken.id)
        with pytest.raises(ValidationError, match="cannot update status"):
            await sessions.update(taken.id, status="completed")
        with pytest.raises(ValidationError, match="session filters are"):
            await sessions.list(owner="u1")
        for bad in ({"title": 3}, {"user_id": ["u"]}, {"app": 1.5}, {"tags": "abc"}, {"tags": [1]}):
            with pytest.raises(ValidationError, match="session (title|user_id|app|tags) must be"):
                await sessions.create(**bad)
        with pytest.raises(ValidationError, match="session title must be a string"):
            await sessions.update(taken.id, title=None)
        from llmspell.errors import SerializationError

        with pytest.raises(SerializationError, match=r"\$.metadata.f"):
            await sessions.create(metadata={"f": object()})


def test_bad_ttl_in_config(make_kernel):
    with pytest.raises(ConfigError, match="sessions: default_ttl must be a positive number of seconds, got -5.0"):
        make_kernel({"sessions": {"default_ttl": -5}})
    with pytest.raises(ConfigError, match="sessions: retention: 'forever' is not one of"):
        make_kernel({"sessions": {"retention": "forever"}})


def test_an_unknown_session_backend_fails_when_the_kernel_is_built(make_kernel):
    # like an unknown state or event backend: at build, not at start()
    with pytest.raises(ConfigError, match=r"sessions\.backend: unknown session backend 'mongo' \(registered: diskcache, memory"):
        make_kernel({"sessions": {"backend": "mongo"}})


async def test_touch_pushes_expiry(kernel_factory):
    async with kernel_factory() as kernel:
        sessions = kernel.sessions
        clock = FakeClock(sessions)
        s = await sessions.create(ttl=60)
        assert s.expires_at == clock.at + timedelta(seconds=60)
        clock.advance(30)
        touched = await sessions.touch(s.id)
        assert touched.last_active_at == clock.at
        assert touched.expires_at == clock.at + timedelta(seconds=60)
        await sessions.complete(s.id)
        with pytest.raises(ValidationError, match="only open sessions can be touched"):
            await sessions.touch(s.id)


class FakeClock:
    def __init__(self, sessions) -> None:
        from llmspell import serde

        self.at = serde.utcnow()
        sessions.now = lambda: self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


async def test_list_by_filters_and_pages(kernel_factory):
    async with kernel_factory() as kernel:
        sessions = kernel.sessions
        for i in range(7):
            await sessions.create(user_id=f"u{i % 2}", app="demo", tags=["even"] if i % 2 == 0 else [])
        page = await sessions.list(user_id="u0", limit=3)
        assert len(page.items) == 3 and page.next_cursor
        rest = await sessions.list(user_id="u0", limit=3, cursor=page.next_cursor)
        assert len(rest.items) == 1 and rest.next_cursor is None
        assert {s.user_id for s in page.items + rest.items} == {"u0"}
        assert len((await sessions.list(tags=["even"])).items) == 4
        assert len((await sessions.list(status="active", app="demo")).items) == 7
        assert len((await sessions.list(status=["suspended"])).items) == 0
