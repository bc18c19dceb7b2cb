"""Session manager latency: create, get, update, list, on memory and diskcache.

Run: python benchmarks/bench_sessions.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _timing import summarize, table, time_async

from llmspell import Kernel

N = 2000


async def measure(backend: str, data_dir: str) -> list[list[object]]:
    config = {
        "sessions": {"backend": backend, "sweep_interval": 0},
        "state": {"backend": backend},
        "events": {"backend": backend},
    }
    rows: list[list[object]] = []
    async with Kernel(config, data_dir=data_dir, env={}) as kernel:
        sessions = kernel.sessions
        created: list[str] = []

        async def create() -> None:
            created.append((await sessions.create(user_id="u1", app="bench")).id)

        rows.append(["create", *_cells(await time_async(create, rounds=N))])

        async def create_and_save() -> None:
            session = await sessions.create(user_id="u1", app="bench")
            await session.state.set("first", {"turn": 1})

        rows.append(["create + first state save", *_cells(await time_async(create_and_save, rounds=N))])
        ids = iter(created * 3)

        async def get() -> None:
            await sessions.get(next(ids))

        rows.append(["get", *_cells(await time_async(get, rounds=N))])
        ids = iter(created * 3)

        async def update() -> None:
            await sessions.update(next(ids), title="renamed")

        rows.append(["update (title, CAS)", *_cells(await time_async(update, rounds=N))])
        ids = iter(created * 3)

        async def touch() -> None:
            await sessions.touch(next(ids))

        rows.append(["touch", *_cells(await time_async(touch, rounds=N))])

        async with Kernel(config, data_dir=data_dir + "-list", env={}) as other:
            for _ in range(1000):
                await other.sessions.create(user_id="u1", app="bench")

            async def list_all() -> None:
                page = await other.sessions.list(limit=1000)
                assert len(page.items) == 1000

            rows.append(["list 1,000 sessions (one page)", *_cells(await time_async(list_all, rounds=20))])
    return [[backend, *row] for row in rows]


def _cells(samples: list[float]) -> list[float]:
    s = summarize(samples)
    return [s["median_us"], s["p99_us"]]


async def main() -> None:
    rows = []
    for backend in ("memory", "diskcache"):
        with tempfile.TemporaryDirectory() as tmp:
            rows += await measure(backend, str(Path(tmp) / "data"))
    print(table("Session manager (microseconds)", ["backend", "operation", "median", "p99"], rows))


if __name__ == "__main__":
    asyncio.run(main())
