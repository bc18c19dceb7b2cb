"""The kernel's own cost per ``kernel.run`` turn of a no-op agent.

Beside the bare cost of calling the agent's ``execute`` directly, for:

* **memory**: every installed service on its in-memory backend;
* **diskcache**: the embedded defaults, fully persisted: the turn writes a one-key state
  delta in the session scope, its events go to the diskcache log and the session is touched.

Run: ``python benchmarks/bench_agents.py`` (``--quick`` for a short run).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import attrs  # noqa: E402
import importlib_metadata  # noqa: E402
from _timing import summarize, table, time_async  # noqa: E402

from llmspell import Kernel  # noqa: E402
from llmspell.agents import AgentOutput, AgentRequest  # noqa: E402
from llmspell.ids import new_id  # noqa: E402
from llmspell.plugins.agents import BaseAgent  # noqa: E402
from llmspell.sessions import SessionService  # noqa: E402

QUICK = "--quick" in sys.argv
ROUNDS, INNER = (30, 20) if QUICK else (200, 50)
MEMORY = {"state": {"backend": "memory"}, "events": {"backend": "memory"}, "sessions": {"backend": "memory"},
          "artifacts": {"backend": "memory", "metadata": "memory"}}
_OUTPUT = AgentOutput(content="ok")


@attrs.define(eq=False, kw_only=True)
class NoOp(BaseAgent):
    """Does nothing: what is left of a turn is the kernel's own cost."""

    type_name = "noop"

    async def execute(self, request: Any, ctx: Any) -> AgentOutput:
        return _OUTPUT


@attrs.define(eq=False, kw_only=True)
class Counter(BaseAgent):
    """Writes one key of the session's state per turn."""

    type_name = "counter"
    turns: int = 0

    async def execute(self, request: Any, ctx: Any) -> AgentOutput:
        self.turns += 1
        return AgentOutput(content="ok", state_delta={"session:turns": self.turns})


def config(memory: bool) -> dict[str, Any]:
    installed = {ep.name for ep in importlib_metadata.entry_points(group="llmspell")}
    base: dict[str, Any] = {"plugins": {"autoload": False}}
    if memory:
        base.update({k: v for k, v in MEMORY.items() if k in installed})
    return base


async def session(kernel: Kernel) -> str:
    sessions = kernel.services.find(SessionService)  # type: ignore[type-abstract]
    return new_id() if sessions is None else str((await sessions.create(user_id="bench", app="bench")).id)


async def measure(memory: bool, data_dir: str) -> list[list[Any]]:
    rows = []
    async with Kernel(config(memory), data_dir=data_dir, env={}) as kernel:
        noop = kernel.agents.create(NoOp, name="noop")
        counter = kernel.agents.create(Counter, name="counter")
        sid = await session(kernel)
        ctx = await kernel.context()
        request = AgentRequest("x")
        await kernel.run(noop, "warm up")
        await kernel.run(counter, "warm up", session=sid)

        bare = summarize(await time_async(lambda: noop.execute(request, ctx), rounds=ROUNDS, inner=INNER))
        plain = summarize(await time_async(lambda: kernel.run(noop, "x"), rounds=ROUNDS, inner=INNER))
        full = summarize(await time_async(lambda: kernel.run(counter, "x", session=sid), rounds=ROUNDS, inner=INNER))
        label = "memory" if memory else "diskcache (defaults)"
        plugins = ", ".join(p.name for p in kernel.plugins)
        for name, result in (("no-op agent, no session", plain), ("state delta + events + session touch", full)):
            rows.append([label, name, bare["median_us"], result["median_us"], result["p99_us"],
                         result["median_us"] - bare["median_us"]])
        print(f"# {label}: plugins {plugins}", file=sys.stderr)
    return rows


async def main() -> None:
    rows = []
    for memory in (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            rows += await measure(memory, tmp)
    print(table(
        "kernel.run overhead per turn (microseconds)",
        ["backends", "turn", "bare execute median", "kernel.run median", "kernel.run p99", "kernel overhead (median)"],
        rows,
    ))


if __name__ == "__main__":
    asyncio.run(main())
