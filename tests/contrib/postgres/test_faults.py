"""Faults on a PostgreSQL server of the test's own: restarts mid-loop, a server that is down."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from llmspell import Kernel
from llmspell.errors import BackendUnavailable, LlmspellError
from llmspell.plugins.events.api import Event

from .own_server import OwnPostgres, find_bindir

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture(scope="module")
def server() -> Iterator[OwnPostgres]:
    if find_bindir() is None:
        pytest.fail("the PostgreSQL server binaries are needed for the fault tests (apt-get install postgresql)")
    own = OwnPostgres()
    yield own
    own.remove()


def kernel_for(server: OwnPostgres, tmp_path: Path, schema: str, **sections: Any) -> Kernel:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    config = {
        "postgres": {"dsn": server.dsn, "schema": schema, "min_size": 2, "max_size": 4, "connect_timeout": 2.0,
                     "acquire_timeout": 2.0, "command_timeout": 5.0, "reconnect_delay": 0.1},
        **sections,
    }
    return Kernel(config, data_dir=tmp_path / schema, env={"LLMSPELL_CONFIG": str(empty)})


async def started_at(kernel: Kernel) -> Any:
    db = kernel.state.backend.db
    async with db.connection() as conn:
        cur = await conn.execute("SELECT pg_postmaster_start_time()")
        row = await cur.fetchone()
    return row[0]


async def test_restart_in_the_middle_of_a_write_loop(server: OwnPostgres, tmp_path: Path) -> None:
    """Every acknowledged write survives a crash-like restart; the same kernel goes on writing."""
    sections = {"state": {"backend": "postgres"}, "events": {"backend": "memory", "transport": "postgres"}}
    async with kernel_for(server, tmp_path, "faults", **sections) as kernel:
        scope = kernel.state.scope("app", "faults")
        before = await started_at(kernel)
        acked: dict[str, int] = {}
        failures: list[str] = []
        restarted = asyncio.Event()

        async def write_loop() -> None:
            i = 0
            deadline = time.monotonic() + 120
            while len(acked) < 400 and time.monotonic() < deadline:
                key = f"k{i:04d}"
                try:
                    await scope.set(key, {"i": i})
                except BackendUnavailable as exc:
                    failures.append(str(exc))
                    await asyncio.sleep(0.05)
                    continue  # the same key again: an unacknowledged write is retried
                acked[key] = i
                i += 1
                if len(acked) == 150:
                    await asyncio.to_thread(server.restart, "immediate")
                    restarted.set()

        await write_loop()
        assert restarted.is_set() and len(acked) == 400
        assert await started_at(kernel) > before  # the server really restarted under the kernel
        stored = await scope.get_many(list(acked))
        assert stored == {key: {"i": i} for key, i in acked.items()}
        assert all("PostgreSQL at 127.0.0.1" in f for f in failures)  # named, never a raw driver error

        # the LISTEN connection came back too: an event published now is delivered
        waiting = asyncio.ensure_future(kernel.events.wait_for("fault.after", timeout=20))
        for _ in range(100):
            await kernel.events.publish("fault.after", {})
            done, _ = await asyncio.wait({waiting}, timeout=0.2)
            if done:
                break
        assert isinstance(waiting.result(), Event)

    # a new kernel (another process would do the same) reads every acknowledged write
    async with kernel_for(server, tmp_path, "faults", state={"backend": "postgres"}) as again:
        assert await again.state.scope("app", "faults").get_many(list(acked)) == {k: {"i": i} for k, i in acked.items()}


async def test_a_server_that_is_down_fails_fast_with_a_named_error(server: OwnPostgres, tmp_path: Path) -> None:
    async with kernel_for(server, tmp_path, "down", state={"backend": "postgres"}) as kernel:
        scope = kernel.state.scope("user", "u1")
        await scope.set("k", 1)
        await asyncio.to_thread(server.stop, "fast")
        try:
            for call in (scope.get("k"), scope.set("k", 2)):
                with pytest.raises(BackendUnavailable) as info:
                    await call  # within acquire_timeout 2s + command_timeout 5s, not a hang
                assert f"127.0.0.1:{server.port}" in str(info.value)
        finally:
            await asyncio.to_thread(server.start)
        assert await scope.get("k") == 1  # recovered, nothing lost, no restart of the kernel
        await scope.set("k", 3)
        assert await scope.get("k") == 3


async def test_startup_against_a_missing_server_is_a_clear_error(tmp_path: Path) -> None:
    from tests.contrib.s3.s3server import free_port

    empty = tmp_path / "empty.toml"
    empty.write_text("")
    config = {"state": {"backend": "postgres"},
              "postgres": {"dsn": f"postgresql://nobody:secret-pw@127.0.0.1:{free_port()}/x", "connect_timeout": 1.0}}
    kernel = Kernel(config, data_dir=tmp_path / "d", env={"LLMSPELL_CONFIG": str(empty)})
    with pytest.raises(LlmspellError) as info:
        await kernel.start()
    assert isinstance(info.value.__cause__, BackendUnavailable)
    message = str(info.value)
    assert "cannot connect to PostgreSQL at 127.0.0.1" in message and "refused" in message
    assert "secret-pw" not in message
    await kernel.stop()


@contextlib.asynccontextmanager
async def frozen(server: OwnPostgres) -> AsyncIterator[None]:
    """Every client backend of the server stopped (SIGSTOP): connected calls get no reply."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(server.dsn, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
        pids = [row[0] for row in await cur.fetchall()]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


async def test_a_server_that_stops_answering_times_out_and_a_caller_cancel_stays_a_cancel(
    server: OwnPostgres, tmp_path: Path
) -> None:
    """A frozen server backend (no reply, so no statement_timeout either): the call ends after
    command_timeout + acquire_timeout with a named error; a cancellation by the caller is
    still a plain cancellation; once the server answers again, the kernel goes on."""
    async with kernel_for(server, tmp_path, "frozen", state={"backend": "postgres"}) as kernel:
        db = kernel.state.backend.db
        db.config = attrs.evolve(db.config, command_timeout=0.5, acquire_timeout=0.5)
        scope = kernel.state.scope("user", "u1")
        await scope.set("k", 1)
        async with frozen(server):
            with pytest.raises(BackendUnavailable, match=r"did not answer within 0.5s \(\[postgres\] command_timeout\)"):
                await scope.get("k")
        async with frozen(server):
            call = asyncio.ensure_future(scope.get("k"))
            await asyncio.sleep(0.2)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
        assert await scope.get("k") == 1
