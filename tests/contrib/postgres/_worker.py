"""A separate OS process using the PostgreSQL backends (driven by test_multiprocess).

Usage: python _worker.py MODE DSN SCHEMA DATA_DIR GO_FILE [ARGS...]

* ``update ... N``: N ``update`` increments of the app-scope key ``counter``;
* ``append ... WORKER N``: N single appends of ``{"w": WORKER, "i": i}`` to stream ``shared``;
* ``publish ... N``: publish N events ``mp.note`` ``{"i": i}`` one after the other;
* ``listen ... N``: print the ``i`` of the first N ``mp.note`` events received, as JSON.

Each prints ``ready`` once its kernel runs and waits for GO_FILE before working, then
prints ``done`` (or its JSON result).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

from llmspell import Kernel
from llmspell.plugins.events.api import Event


def wait_for_go(go: str) -> None:
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.002)


def config(dsn: str, schema: str, **sections: Any) -> dict[str, Any]:
    return {"postgres": {"dsn": dsn, "schema": schema, "min_size": 1, "max_size": 2}, **sections}


async def main(mode: str, dsn: str, schema: str, data_dir: str, go: str, *args: str) -> None:
    os.makedirs(data_dir, exist_ok=True)
    empty = os.path.join(data_dir, "empty.toml")
    with open(empty, "w"):  # noqa: ASYNC230 - once, before anything runs
        pass
    env = {"LLMSPELL_CONFIG": empty}  # nothing from the developer's environment
    if mode == "update":
        cfg = config(dsn, schema, state={"backend": "postgres"}, events={"backend": "memory"})
        async with Kernel(cfg, data_dir=data_dir, env=env) as kernel:
            scope = kernel.state.scope("app", "mp")
            await asyncio.to_thread(wait_for_go, go)
            for _ in range(int(args[0])):
                await scope.update("counter", lambda n: (n or 0) + 1)
        print("done", flush=True)
    elif mode == "append":
        cfg = config(dsn, schema, events={"backend": "postgres"})
        kernel = Kernel(cfg, data_dir=data_dir, env=env)
        log = kernel.create_backend("event_backend", "postgres")
        await log.open()
        try:
            await asyncio.to_thread(wait_for_go, go)
            worker = int(args[0])
            for i in range(int(args[1])):
                await log.append([Event("mp.appended", {"w": worker, "i": i}, stream="shared")])
        finally:
            await log.close()
        print("done", flush=True)
    elif mode == "publish":
        cfg = config(dsn, schema, events={"backend": "memory", "transport": "postgres"})
        async with Kernel(cfg, data_dir=data_dir, env=env) as kernel:
            await asyncio.to_thread(wait_for_go, go)
            for i in range(int(args[0])):
                await kernel.events.publish("mp.note", {"i": i, "pad": "x" * (9000 if i % 50 == 7 else 0)})
        print("done", flush=True)
    elif mode == "listen":
        cfg = config(dsn, schema, events={"backend": "memory", "transport": "postgres"})
        want = int(args[0])
        got: list[int] = []
        finished = asyncio.Event()

        def handler(event: Event) -> None:
            got.append(event.payload["i"])
            if len(got) >= want:
                finished.set()

        async with Kernel(cfg, data_dir=data_dir, env=env) as kernel:
            kernel.events.subscribe("mp.*", handler)
            print("ready", flush=True)
            await asyncio.wait_for(finished.wait(), 120)
        print(json.dumps(got), flush=True)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
