"""A write loop across a server crash: what was acknowledged is there, the kernel recovers."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from llmspell import Kernel
from llmspell.errors import BackendUnavailable

from ._servers import Server


async def write_through_restart(server: Server, config: dict[str, Any], *, state: bool, events: bool,
                                timeout: float) -> None:
    """Write continuously; crash and restart ``server`` part-way; check every acknowledged write."""
    acked_keys: dict[str, int] = {}
    acked_events: list[str] = []
    failures: list[float] = []
    restarted = threading.Event()
    after_restart = 0
    async with Kernel(config) as kernel:
        scope = kernel.state.scope("app", "faults")
        i = 0
        restarter: threading.Thread | None = None
        while True:
            i += 1
            started = time.monotonic()
            try:
                if state:
                    await scope.set(f"k{i}", {"i": i})
                    acked_keys[f"k{i}"] = i
                if events:
                    event = await kernel.events.publish("fault.written", {"i": i}, stream="faults")
                    acked_events.append(event.id)
                if restarted.is_set():
                    after_restart += 1
            except BackendUnavailable:
                failures.append(time.monotonic() - started)
                await asyncio.sleep(0.02)
            if i == 200:
                restarter = threading.Thread(target=lambda: (server.restart(), restarted.set()))
                restarter.start()
            if after_restart >= 200:
                break
            assert i < 100_000, "the client never recovered after the restart"
        assert restarter is not None
        restarter.join()
        assert failures, "no call failed while the server was down: the restart was not observed"
        assert max(failures) < timeout * 2 + 1, f"a failing call took {max(failures):.1f}s: it must not hang"
        if state:
            found = await scope.get_many(list(acked_keys))
            missing = [k for k in acked_keys if k not in found]
            assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
            assert all(found[k] == {"i": v} for k, v in acked_keys.items())
        if events:
            logged = [e async for e in kernel.events.read("faults")]
            assert [e.seq for e in logged] == list(range(1, len(logged) + 1))
            ids = {e.id for e in logged}
            missing = [e for e in acked_events if e not in ids]
            assert not missing, f"{len(missing)} acknowledged events lost"
