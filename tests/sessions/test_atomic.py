"""Pending records in one process: fork and delete hidden until done, failures undone,
recovery of a dead process's leftovers, cleanup hooks exactly once, resume takes the lease."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from llmspell import hookimpl
from llmspell.errors import NotFoundError, ValidationError
from llmspell.plugins.sessions.api import Lease, SessionQuery, SessionStatus

S = SessionStatus


@pytest.fixture
def config():
    return {"sessions": {"sweep_interval": 0}}


class Cleanups:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    @hookimpl
    def llmspell_session_cleanup(self, session, reason):
        self.calls.append((session.id, reason))


async def filled(kernel, keys=5):
    parent = await kernel.sessions.create(user_id="u1", title="plan")
    for i in range(keys):
        await parent.state.set(f"k{i}", i)
    await kernel.artifacts.save("a.txt", b"a", session_id=parent.id)
    await kernel.artifacts.save("b.txt", b"b", session_id=parent.id)
    return parent


async def leftovers(kernel, session_id):
    await kernel.events.flush()
    return (
        len(await kernel.state.export_owner("session", session_id)),
        await kernel.events.last_seq(session_id),
        len((await kernel.artifacts.list(session_id=session_id, all_versions=True)).items),
    )


async def test_a_fork_is_invisible_while_it_copies(make_kernel, config):
    async with make_kernel(config) as kernel:
        parent = await filled(kernel)
        seen = []
        copy = kernel.sessions.resources.copy

        async def watching(source, fork):
            await copy(source, fork)
            raw = await kernel.sessions.backend.get(fork.id)
            seen.append(raw.status)
            kernel.sessions.pending.working.discard(fork.id)  # as any other process sees it
            try:
                with pytest.raises(NotFoundError):
                    await kernel.sessions.get(fork.id)
                with pytest.raises(NotFoundError):
                    await kernel.sessions.resume(fork.id)
                assert fork.id not in [s.id for s in (await kernel.sessions.list()).items]
                assert (await kernel.sessions.list(status="forking")).items == ()
                assert (await kernel.sessions.list(parent_id=parent.id)).items == ()
            finally:
                kernel.sessions.pending.working.add(fork.id)

        kernel.sessions.resources.copy = watching
        fork = await kernel.sessions.fork(parent.id)
        assert seen == [S.FORKING]
        assert fork.status is S.ACTIVE and fork.lease.owner == kernel.sessions.leases.owner
        assert fork.id in kernel.sessions.leases.held
        assert [s.id for s in (await kernel.sessions.list(parent_id=parent.id)).items] == [fork.id]
        types = [e.type async for e in kernel.events.read(fork.id)]
        assert "session.created" in types


async def test_a_fork_that_fails_half_way_leaves_nothing(make_kernel, config):
    async with make_kernel(config) as kernel:
        parent = await filled(kernel)
        artifacts = kernel.artifacts
        real_copy = artifacts.copy
        made = []

        async def failing(ref, name, **options):
            made.append(options["to"].id)
            if len(made) == 2:
                raise RuntimeError("disk full")
            return await real_copy(ref, name, **options)

        artifacts.copy = failing
        with pytest.raises(RuntimeError, match="disk full"):
            await kernel.sessions.fork(parent.id)
        artifacts.copy = real_copy
        fork_id = made[0]
        assert await kernel.sessions.backend.get(fork_id) is None
        assert await leftovers(kernel, fork_id) == (0, 0, 0)
        assert (await kernel.sessions.list(parent_id=parent.id)).items == ()


async def test_a_dead_process_pending_records_are_removed_at_startup(make_kernel, config, tmp_path):
    data = tmp_path / "data"
    async with make_kernel(config, data_dir=data) as kernel:
        parent = await filled(kernel)
        fork = await kernel.sessions.fork(parent.id)
        victim = await filled(kernel)
        live = await filled(kernel)
        now = kernel.sessions.now()
        dead = Lease("gone", "elsewhere", 1, 1.0, now - timedelta(seconds=1))
        backend = kernel.sessions.backend
        for sid, status in ((fork.id, S.FORKING), (victim.id, S.DELETING)):
            stored = await backend.get(sid)
            await backend.put(stored.replace(status=status, lease=dead), expected_version=stored.version)
        stored = await backend.get(live.id)
        mine = kernel.sessions.leases.lease(now + timedelta(hours=1))
        await backend.put(stored.replace(status=S.IMPORTING, lease=mine), expected_version=stored.version)
    hooks = Cleanups()
    async with make_kernel(config, data_dir=data, plugins=[hooks]) as kernel:
        for sid in (fork.id, victim.id):
            assert await kernel.sessions.backend.get(sid) is None
            assert await leftovers(kernel, sid) == (0, 0, 0)
        assert hooks.calls == [(victim.id, "deleted")]  # the delete is finished, its cleanup ran
        await kernel.events.flush()
        deleted = [e.payload["session_id"] for e in await kernel.events.query("session.deleted")]
        assert deleted == [victim.id]
        # the other process's lease has not run out: its import is left alone (and hidden)
        assert (await kernel.sessions.backend.get(live.id)).status is S.IMPORTING
        with pytest.raises(NotFoundError):
            await kernel.sessions.get(live.id)
        assert await kernel.sessions.find(parent.id) is not None


async def test_delete_hides_the_session_first_and_cleanup_runs_once(make_kernel, config):
    hooks = Cleanups()
    async with make_kernel(config, plugins=[hooks]) as kernel:
        session = await filled(kernel)
        statuses = []
        remove = kernel.sessions.resources.delete

        async def watching(s):
            statuses.append((await kernel.sessions.backend.get(s.id)).status)
            assert await kernel.sessions.find(s.id) is None
            await remove(s)

        kernel.sessions.resources.delete = watching
        results = await asyncio.gather(
            kernel.sessions.delete(session.id), kernel.sessions.delete(session.id), return_exceptions=True
        )
        assert sorted(type(r).__name__ for r in results) == ["NoneType", "NotFoundError"]
        assert statuses == [S.DELETING]
        assert hooks.calls == [(session.id, "deleted")]
        assert await leftovers(kernel, session.id) == (0, 0, 0)


async def test_cleanup_runs_once_per_reason_across_two_kernels(make_kernel, config, tmp_path):
    first, second = Cleanups(), Cleanups()
    data = tmp_path / "data"
    async with make_kernel(config, data_dir=data, plugins=[first]) as one, \
            make_kernel(config, data_dir=data, plugins=[second]) as two:
        session = await one.sessions.create(user_id="u1")
        await one.sessions.complete(session.id)
        claims = await asyncio.gather(*(k.sessions.cleanup(session, "archived") for k in (one, two, one, two)))
        assert sorted(claims) == [False, False, False, True]
        assert len(first.calls + second.calls) == 1
        await two.sessions.archive(session.id)  # archiving runs the (already claimed) cleanup: not again
        await one.sessions.delete(session.id)
        assert sorted(first.calls + second.calls) == [(session.id, "archived"), (session.id, "deleted")]


async def test_resume_takes_the_lease_back(make_kernel, config):
    async with make_kernel(config) as kernel:
        sessions = kernel.sessions
        session = await sessions.create()
        await sessions.suspend(session.id)
        suspended = await sessions.get(session.id)
        assert suspended.lease is None and session.id not in sessions.leases.held
        resumed = await sessions.resume(session.id)
        assert resumed.lease.owner == sessions.leases.owner and session.id in sessions.leases.held
        # a crashed holder: interrupted, then resumed here
        stored = await sessions.backend.get(session.id)
        gone = Lease("other", "elsewhere", 1, 1.0, sessions.now() - timedelta(seconds=1))
        await sessions.backend.put(stored.replace(lease=gone), expected_version=stored.version)
        sessions.leases.release(session.id)
        from llmspell.plugins.sessions import recover

        assert await recover(sessions) == [session.id]
        assert session.id not in sessions.leases.held
        again = await sessions.resume(session.id)
        assert again.status is S.ACTIVE and again.lease.owner == sessions.leases.owner
        assert session.id in sessions.leases.held
        first = again.lease.expires_at
        later = sessions.now() + timedelta(seconds=5)
        sessions.now = lambda: later
        await sessions.leases.renew()  # the heartbeat renews what resume took back
        assert (await sessions.get(session.id)).lease.expires_at > first


async def test_list_never_shows_pending_records(make_kernel, config):
    async with make_kernel(config) as kernel:
        shown = await kernel.sessions.create()
        backend = kernel.sessions.backend
        hidden = []
        for status in (S.FORKING, S.IMPORTING, S.DELETING):
            s = await kernel.sessions.create()
            stored = await backend.get(s.id)
            await backend.put(stored.replace(status=status), expected_version=stored.version)
            hidden.append(s.id)
        assert [s.id for s in (await kernel.sessions.list()).items] == [shown.id]
        assert [s.id for s in (await kernel.sessions.list(status=["active", "deleting"])).items] == [shown.id]
        assert (await kernel.sessions.list(status="importing")).items == ()
        for sid in hidden:
            with pytest.raises(NotFoundError):
                await kernel.sessions.update(sid, title="x")
            with pytest.raises(NotFoundError):
                await kernel.sessions.delete(sid)
            with pytest.raises(NotFoundError):
                await kernel.sessions.fork(sid)
        with pytest.raises(ValidationError):
            await kernel.sessions.create(session_id=hidden[0])


async def test_a_pending_record_this_process_abandoned_is_recovered(make_kernel, config):
    async with make_kernel(config) as kernel:
        sessions = kernel.sessions
        parent = await filled(kernel)
        broken = sessions.resources.delete

        async def failing(session):
            raise RuntimeError("store went away")

        real_copy = sessions.resources.copy

        async def copy_then_fail(source, fork):
            await real_copy(source, fork)
            raise RuntimeError("copy failed")

        sessions.resources.copy, sessions.resources.delete = copy_then_fail, failing
        with pytest.raises(RuntimeError, match="copy failed"):  # the first error, not the cleanup's
            await sessions.fork(parent.id)
        sessions.resources.copy, sessions.resources.delete = real_copy, broken
        raw = (await sessions.backend.list(SessionQuery(status=(S.FORKING,)))).items
        assert len(raw) == 1 and raw[0].lease.owner == sessions.leases.owner
        assert await sessions.pending.recover() == [raw[0].id]
        assert await leftovers(kernel, raw[0].id) == (0, 0, 0)


async def test_a_sweep_during_a_delete_leaves_it_to_its_deleter(make_kernel, config):
    async with make_kernel(config) as kernel:
        sessions = kernel.sessions
        session = await filled(kernel)
        remove = sessions.resources.delete
        swept = []

        async def sweeping_meanwhile(s):
            swept.append(await sessions.pending.recover())
            await remove(s)

        sessions.resources.delete = sweeping_meanwhile
        await sessions.delete(session.id)
        assert swept == [[]]
        await kernel.events.flush()
        deleted = [e.payload["session_id"] for e in await kernel.events.query("session.deleted")]
        assert deleted == [session.id]
