"""Sessions shared by real OS processes: concurrent updates, crashes, recovery."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from llmspell import Kernel
from llmspell.plugins.sessions.api import SessionStatus

pytestmark = pytest.mark.slow


def spawn(script: str, data_dir, env, *args: str) -> subprocess.Popen[str]:
    code = textwrap.dedent(script)
    return subprocess.Popen(
        [sys.executable, "-c", code, str(data_dir), *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


UPDATER = """
    import asyncio, sys
    from llmspell import Kernel

    async def main(data_dir, session_id, name, count):
        async with Kernel(data_dir=data_dir) as kernel:
            def bump(session):
                import attrs
                metadata = dict(session.metadata)
                metadata["n"] = metadata.get("n", 0) + 1
                metadata[name] = metadata.get(name, 0) + 1
                return attrs.evolve(session, metadata=metadata)
            for _ in range(count):
                await kernel.sessions.update(session_id, bump)
                {state_write}
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
"""


async def test_two_processes_updating_one_session_lose_nothing(tmp_path, llmspell_env):
    data = tmp_path / "data"
    async with Kernel(data_dir=data, env=llmspell_env) as kernel:
        session = await kernel.sessions.create(user_id="u1")
    script = UPDATER.replace(
        "{state_write}", 'await kernel.state.scope("session", session_id).update("n", lambda n: (n or 0) + 1)'
    )
    procs = [spawn(script, data, llmspell_env, session.id, name, "500") for name in ("a", "b")]
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
    async with Kernel(data_dir=data, env=llmspell_env) as kernel:
        final = await kernel.sessions.get(session.id)
        counter = await final.state.get_versioned("n")
    assert final.metadata == {"n": 1000, "a": 500, "b": 500}
    assert (counter.value, counter.version) == (1000, 1000)
    assert final.version == 1 + 1000 + 1  # create, 1000 updates, the lease release at shutdown


HOLDER = """
    import asyncio, sys
    from llmspell import Kernel

    async def main(data_dir):
        kernel = Kernel(data_dir=data_dir)
        await kernel.start()
        ids = [(await kernel.sessions.create(user_id="u1", title=f"s{i}")).id for i in range(3)]
        done = await kernel.sessions.create(user_id="u1")
        await kernel.sessions.complete(done.id)
        print(" ".join(ids), flush=True)
        await asyncio.sleep(3600)
    asyncio.run(main(sys.argv[1]))
"""


async def test_sessions_of_a_killed_process_are_interrupted_at_next_start(tmp_path, llmspell_env):
    data = tmp_path / "data"
    proc = spawn(HOLDER, data, llmspell_env)
    line = proc.stdout.readline()
    assert line, proc.stderr.read()
    ids = line.split()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    async with Kernel(data_dir=data, env=llmspell_env) as kernel:
        statuses = {s.id: s for s in (await kernel.sessions.list(user_id="u1")).items}
        for sid in ids:
            assert statuses[sid].status is SessionStatus.INTERRUPTED
            assert f"process {proc.pid}" in statuses[sid].status_reason
            assert statuses[sid].lease is None
        completed = [s for s in statuses.values() if s.id not in ids]
        assert [s.status for s in completed] == [SessionStatus.COMPLETED]
        resumed = await kernel.sessions.resume(ids[0])
        assert resumed.status is SessionStatus.ACTIVE
        assert resumed.lease is not None and resumed.lease.pid == os.getpid()


async def test_clean_shutdown_is_not_a_crash(tmp_path, llmspell_env):
    data = tmp_path / "data"
    async with Kernel(data_dir=data, env=llmspell_env) as kernel:
        session = await kernel.sessions.create()
        assert (await kernel.sessions.get(session.id)).lease is not None
    async with Kernel(data_dir=data, env=llmspell_env) as kernel:
        again = await kernel.sessions.get(session.id)
        assert again.status is SessionStatus.ACTIVE
        assert again.lease is None


async def test_a_live_holder_on_this_host_is_left_alone(tmp_path, llmspell_env):
    data = tmp_path / "data"
    proc = spawn(HOLDER, data, llmspell_env)
    try:
        ids = proc.stdout.readline().split()
        assert ids, proc.stderr.read()
        async with Kernel(data_dir=data, env=llmspell_env) as kernel:
            for sid in ids:
                session = await kernel.sessions.get(sid)
                assert session.status is SessionStatus.ACTIVE
                assert session.lease.pid == proc.pid
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_heartbeat_renews_leases(tmp_path, llmspell_env):
    script = """
        import asyncio, sys, json
        from llmspell import Kernel

        async def main(data_dir):
            async with Kernel({"sessions": {"lease_ttl": 0.3}}, data_dir=data_dir) as kernel:
                s = await kernel.sessions.create()
                first = (await kernel.sessions.get(s.id)).lease.expires_at
                await asyncio.sleep(0.5)
                later = (await kernel.sessions.get(s.id)).lease.expires_at
                print(json.dumps({"renewed": later > first}))
        asyncio.run(main(sys.argv[1]))
    """
    proc = spawn(script, tmp_path / "data", llmspell_env)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert json.loads(out) == {"renewed": True}
    time.sleep(0)


WRITER = """
    import asyncio, json, sys
    from llmspell import Kernel

    async def main(data_dir, config):
        kernel = Kernel(json.loads(config), data_dir=data_dir)
        await kernel.start()
        session = await kernel.sessions.create(user_id="u1")
        for i in range(50):
            await session.state.update("counter", lambda n: (n or 0) + 1)
            await session.state.set(f"key{i % 7}", {"i": i})
        await session.state.delete("key3")
        await kernel.events.flush()
        committed = {item.key: [item.value, item.version] async for item in session.state.scan()}
        print(json.dumps({"id": session.id, "state": committed}), flush=True)
        await asyncio.sleep(3600)
    asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@pytest.mark.parametrize("state_backend", ["memory", "diskcache"])
async def test_resume_after_a_kill_rebuilds_the_committed_state(tmp_path, llmspell_env, state_backend):
    config = {"state": {"backend": state_backend}}
    data = tmp_path / "data"
    proc = spawn(WRITER, data, llmspell_env, json.dumps(config))
    line = proc.stdout.readline()
    assert line, proc.stderr.read()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    report = json.loads(line)
    async with Kernel(config, data_dir=data, env=llmspell_env) as kernel:
        session = await kernel.sessions.get(report["id"])
        assert session.status is SessionStatus.INTERRUPTED
        resumed = await kernel.sessions.resume(session.id)
        assert resumed.status is SessionStatus.ACTIVE
        state = {item.key: [item.value, item.version] async for item in resumed.state.scan()}
        assert state == report["state"]
        assert state["counter"] == [50, 50] and "key3" not in state
