"""Session manager latency: create, get, update, list, on memory and diskcache.

Each operation runs ``--rounds`` times per backend, the rounds in a new random order
each (so that load from elsewhere on the machine falls on all of them); the table shows
the median and p99 of all calls, in microseconds, and the lowest and highest median of
a round. Run: python benchmarks/bench_sessions.py
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _timing import summarize, table, time_async

from llmspell import Kernel

N = 1000


async def measure(backend: str, data_dir: str, n: int, rounds: int) -> list[list[object]]:
    config = {
        "sessions": {"backend": backend, "sweep_interval": 0},
        "state": {"backend": backend},
        "events": {"backend": backend},
    }
    rows: list[list[object]] = []
    async with Kernel(config, data_dir=data_dir, env={}) as kernel:
        sessions = kernel.sessions
        created: list[str] = [(await sessions.create(user_id="u1", app="bench")).id for _ in range(n)]
        position = {"get": 0, "update": 0, "touch": 0}

        def next_id(op: str) -> str:
            position[op] += 1
            return created[position[op] % len(created)]

        async def create() -> None:
            created.append((await sessions.create(user_id="u1", app="bench")).id)

        async def create_and_save() -> None:
            session = await sessions.create(user_id="u1", app="bench")
            await session.state.set("first", {"turn": 1})

        async def get() -> None:
            await sessions.get(next_id("get"))

        async def update() -> None:
            await sessions.update(next_id("update"), title="renamed")

        async def touch() -> None:
            await sessions.touch(next_id("touch"))

        subjects: dict[str, Callable[[], Awaitable[None]]] = {
            "create": create,
            "create + first state save": create_and_save,
            "get": get,
            "update (title, CAS)": update,
            "touch": touch,
        }
        samples: dict[str, list[float]] = {name: [] for name in subjects}
        medians: dict[str, list[float]] = {name: [] for name in subjects}
        for _ in range(rounds):
            order = list(subjects)
            random.shuffle(order)
            for name in order:
                got = await time_async(subjects[name], rounds=n)
                samples[name] += got
                medians[name].append(statistics.median(got))
        for name in subjects:
            rows.append([name, *_cells(samples[name]), _spread(medians[name])])

        async with Kernel(config, data_dir=data_dir + "-list", env={}) as other:
            for _ in range(1000):
                await other.sessions.create(user_id="u1", app="bench")

            async def list_all() -> None:
                page = await other.sessions.list(limit=1000)
                assert len(page.items) == 1000

            listed = await time_async(list_all, rounds=20)
            rows.append(["list 1,000 sessions (one page)", *_cells(listed), "-"])
    return [[backend, *row] for row in rows]


def _cells(samples: list[float]) -> list[float]:
    s = summarize(samples)
    return [s["median_us"], s["p99_us"]]


def _spread(medians: list[float]) -> str:
    return f"{min(medians) * 1e6:,.1f}-{max(medians) * 1e6:,.1f}"


async def main(n: int, rounds: int) -> None:
    rows = []
    for backend in ("memory", "diskcache"):
        with tempfile.TemporaryDirectory() as tmp:
            rows += await measure(backend, str(Path(tmp) / "data"), n, rounds)
    columns = ["backend", "operation", "median", "p99", "round medians"]
    print(table("Session manager (microseconds)", columns, rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=N, help="calls per operation and round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, each in a new random order")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.rounds))
