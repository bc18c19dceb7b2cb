"""A separate OS process that writes state, for the multi-process and crash tests.

Usage: ``python _worker.py MODE DATA_DIR COUNT GO_FILE [ACK_FILE]``

* ``update``: ``COUNT`` times ``update("counter", n + 1)``;
* ``merge``: ``COUNT`` times ``set("counter", 1)`` under the ``merge:counter_add`` policy;
* ``writer``: writes forever (until killed) a mix of updates, plain sets, a large value
  and atomic batches, appending ``key version`` to ACK_FILE after each acknowledged write.

Every mode waits for GO_FILE to exist before its first write, so that the processes of
one test really run at the same time.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Any

from llmspell import Kernel
from llmspell.plugins.state.api import StateItem

OWNER = "shared"


def checked(n: int, size: int) -> dict[str, Any]:
    """A value whose integrity can be verified: payload plus its digest."""
    pad = (f"{n:08d}" * (size // 8 + 1))[:size]
    return {"n": n, "pad": pad, "sha": hashlib.sha256(f"{n}:{pad}".encode()).hexdigest()}


def is_intact(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("sha") == hashlib.sha256(f"{value['n']}:{value['pad']}".encode()).hexdigest()
    )


def _kernel(data_dir: str, mode: str) -> Kernel:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMSPELL_")}
    config: dict[str, Any] = {"state": {"backend": "diskcache"}}
    if mode == "merge":
        config["state"]["policies"] = {"counter": "merge:counter_add"}
    return Kernel(config, data_dir=data_dir, env=env)


def _wait(go: Path) -> None:
    while not go.exists():
        time.sleep(0.005)


async def _writer(kernel: Kernel, ack_path: str) -> None:
    scope = kernel.state.scope("user", OWNER)
    ack = os.open(ack_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def acked(key: str, version: int) -> None:
        os.write(ack, f"{key} {version}\n".encode())

    i = 0
    while True:
        key = f"counter{i % 4}"
        result = await scope.update(key, lambda v: checked((v or {"n": 0})["n"] + 1, 300))
        acked(key, result.version)
        current = await scope.get_versioned("plain")
        n = 1 if current is None else current.value["n"] + 1
        acked("plain", await scope.set("plain", checked(n, 2000)))
        if i % 5 == 0:
            big = await scope.get_versioned("big")
            n = 1 if big is None else big.value["n"] + 1
            acked("big", await scope.set("big", checked(n, 200_000)))
        if i % 3 == 0:  # an atomic batch: all 20 keys get the same generation and version
            first = await kernel.state.scope("session", OWNER).get("k0")
            g = 1 if first is None else first["n"] + 1
            items = [StateItem(f"k{j}", checked(g, 100), g) for j in range(20)]
            await kernel.state.import_owner("session", OWNER, items)
            acked("batch", g)
        i += 1


async def main(mode: str, data_dir: str, count: int, go: str, ack: str | None) -> None:
    async with _kernel(data_dir, mode) as kernel:
        scope = kernel.state.scope("app", OWNER)
        await asyncio.to_thread(Path(go + f".ready.{os.getpid()}").touch)
        await asyncio.to_thread(_wait, Path(go))
        start = time.perf_counter()
        calls = 0

        def bump(n: Any) -> int:
            nonlocal calls
            calls += 1
            return (n or 0) + 1

        if mode == "update":
            for _ in range(count):
                await scope.update("counter", bump)
        elif mode == "merge":
            for _ in range(count):
                await scope.set("counter", 1)
        elif mode == "writer":
            assert ack is not None
            await _writer(kernel, ack)
        retries = f", {calls - count} retries" if mode == "update" else ""
        print(f"{mode} {count} done in {time.perf_counter() - start:.2f}s{retries}", flush=True)


if __name__ == "__main__":
    mode, data_dir, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    asyncio.run(main(mode, data_dir, count, go, sys.argv[5] if len(sys.argv) > 5 else None))
