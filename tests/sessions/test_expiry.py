"""Expiry, cleanup hooks and retention, on a controllable clock (no sleeping)."""

from __future__ import annotations

from datetime import timedelta

from llmspell import hookimpl, serde
from llmspell.plugins.sessions import SweepReport, sweep
from llmspell.plugins.sessions.api import SessionStatus

S = SessionStatus


class Clock:
    def __init__(self) -> None:
        self.at = serde.utcnow()

    def __call__(self):
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


class Cleanup:
    def __init__(self) -> None:
        self.expired: list[str] = []
        self.cleanups: list[tuple[str, str]] = []

    @hookimpl
    def llmspell_session_expired(self, session):
        self.expired.append(session.id)

    @hookimpl
    def llmspell_session_cleanup(self, session, reason):
        self.cleanups.append((session.id, reason))


async def test_a_sweep_at_the_expiry_instant_expires_the_session(make_kernel):
    """A session is due at its expires_at: a sweep at exactly that time expires it, although
    the listing filter it uses, expires_before, is exclusive like every upper time bound."""
    async with make_kernel({"sessions": {"sweep_interval": 0}}) as kernel:
        sessions = kernel.sessions
        clock = Clock()
        sessions.now = clock
        session = await sessions.create(title="due", ttl=10)
        assert session.expires_at == clock.at + timedelta(seconds=10)
        assert (await sweep(sessions, now=session.expires_at - timedelta(microseconds=1))).expired == ()
        assert (await sweep(sessions, now=session.expires_at)).expired == (session.id,)


async def test_idle_sessions_expire_and_cleanup_runs_once(make_kernel):
    hooks = Cleanup()
    config = {"sessions": {"sweep_interval": 0, "default_ttl": 60}}
    async with make_kernel(config, plugins=[hooks]) as kernel:
        sessions = kernel.sessions
        clock = Clock()
        sessions.now = clock
        idle = await sessions.create(title="idle")
        busy = await sessions.create(title="busy")
        suspended = await sessions.create(title="suspended")
        await sessions.suspend(suspended.id)
        forever = await sessions.create(title="no ttl", ttl=None)
        await sessions.update(forever.id, ttl=None)
        short = await sessions.create(title="short", ttl=10)

        clock.advance(30)
        await sessions.touch(busy.id)
        report = await sweep(sessions)
        assert report.expired == (short.id,)

        clock.advance(31)  # 61 s since creation, 31 s since busy was touched
        report = await sweep(sessions)
        assert set(report.expired) == {idle.id, suspended.id}
        assert (await sessions.get(busy.id)).status is S.ACTIVE
        assert (await sessions.get(forever.id)).status is S.ACTIVE

        # sweeping again (or from another process) changes nothing and runs no hook again
        assert (await sweep(sessions)).expired == ()
        assert sorted(hooks.expired) == sorted([short.id, idle.id, suspended.id])
        assert sorted(hooks.cleanups) == sorted((sid, "expired") for sid in (short.id, idle.id, suspended.id))
        expired = await sessions.get(idle.id)
        assert expired.status is S.EXPIRED and expired.ended_at == clock.at
        assert expired.cleaned == ("expired",)

        # an expired session cannot be resumed, only archived
        import pytest

        from llmspell.errors import InvalidTransition

        with pytest.raises(InvalidTransition, match="allowed from 'expired': archived"):
            await sessions.resume(idle.id)


async def test_retention_archives_or_deletes_after_grace(make_kernel, tmp_path):
    for policy in ("archive", "delete"):
        hooks = Cleanup()
        config = {"sessions": {"sweep_interval": 0, "retention": policy, "retention_grace": 3600}}
        async with make_kernel(config, plugins=[hooks], data_dir=tmp_path / policy) as kernel:
            sessions = kernel.sessions
            clock = Clock()
            sessions.now = clock
            done = await sessions.create()
            await sessions.complete(done.id)
            still_open = await sessions.create()
            clock.advance(1800)
            assert await sweep(sessions) == SweepReport()
            clock.advance(1801)
            report = await sweep(sessions)
            if policy == "archive":
                assert report.archived == (done.id,)
                assert (await sessions.get(done.id)).status is S.ARCHIVED
                assert hooks.cleanups == [(done.id, "archived")]
            else:
                assert report.deleted == (done.id,)
                assert await sessions.find(done.id) is None
                assert hooks.cleanups == [(done.id, "deleted")]
            assert (await sessions.get(still_open.id)).status is S.ACTIVE


async def test_background_sweeper_runs_while_the_kernel_is_up(make_kernel):
    import asyncio

    async with make_kernel({"sessions": {"sweep_interval": 0.05, "default_ttl": 0.01}}) as kernel:
        session = await kernel.sessions.create()
        for _ in range(100):
            await asyncio.sleep(0.02)
            if (await kernel.sessions.get(session.id)).status is S.EXPIRED:
                break
        assert (await kernel.sessions.get(session.id)).status is S.EXPIRED
