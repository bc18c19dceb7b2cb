"""Small timing helpers shared by the benchmarks: medians, percentiles, tables."""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summarize(samples: list[float]) -> dict[str, float]:
    """Median and p99 in microseconds, throughput per second from the median."""
    median = statistics.median(samples)
    return {
        "median_us": median * 1e6,
        "p99_us": percentile(samples, 99) * 1e6,
        "ops_per_s": (1 / median) if median else float("inf"),
    }


def time_sync(fn: Callable[[], Any], *, rounds: int, inner: int = 1) -> list[float]:
    """Per-call seconds of ``fn``, measured ``rounds`` times over ``inner`` calls each."""
    samples = []
    clock = time.perf_counter
    for _ in range(rounds):
        start = clock()
        for _ in range(inner):
            fn()
        samples.append((clock() - start) / inner)
    return samples


async def time_async(fn: Callable[[], Awaitable[Any]], *, rounds: int, inner: int = 1) -> list[float]:
    samples = []
    clock = time.perf_counter
    for _ in range(rounds):
        start = clock()
        for _ in range(inner):
            await fn()
        samples.append((clock() - start) / inner)
    return samples


async def paired(
    ours: Callable[[], Awaitable[Any]], theirs: Callable[[], Awaitable[Any]], n: int
) -> tuple[list[float], list[float]]:
    """Time ``ours`` and ``theirs`` alternately, ``n`` calls each (after a warm-up), so that
    both see the same load on the machine; per-call seconds of each."""
    mine: list[float] = []
    other: list[float] = []
    clock = time.perf_counter
    for _ in range(min(50, n)):
        await ours()
        await theirs()
    for _ in range(n):
        start = clock()
        await ours()
        mine.append(clock() - start)
        start = clock()
        await theirs()
        other.append(clock() - start)
    return mine, other


def table(title: str, columns: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table, as recorded in docs/performance.md."""
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.2f}" if value < 1000 else f"{value:,.0f}"
        return str(value)

    lines = [f"### {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
