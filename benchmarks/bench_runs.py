"""What a run's journal costs: the same turns with ``[runs] journal`` on and off, in one run.

* a chat turn (the offline ``chat`` agent in a session: one model call; its result is held
  and, with nothing durable to write, never written);
* a turn of an agent making one tool call (the tool's intent before its body, its result
  after: two entries, then ``run.finished``), and one making three;

on the embedded default (diskcache) and on memory backends, alternating journal on and off
round by round. Run: python benchmarks/bench_runs.py [--quick]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import attrs

sys.path.insert(0, str(Path(__file__).parent))

from _timing import table, time_async  # noqa: E402

from llmspell import Kernel  # noqa: E402
from llmspell.plugins.agents import BaseAgent  # noqa: E402
from llmspell.plugins.agents.api import AgentOutput  # noqa: E402
from llmspell.plugins.tools import tool  # noqa: E402

QUICK = "--quick" in sys.argv
ROUNDS, CALLS = (6, 100) if QUICK else (12, 400)
MEMORY = {"state": {"backend": "memory"}, "sessions": {"backend": "memory", "sweep_interval": 0},
          "events": {"backend": "memory"}}


@tool(description="Add one.")
async def bump(n: int) -> dict[str, int]:
    return {"n": n + 1}


@attrs.define(eq=False, kw_only=True)
class Caller(BaseAgent):
    """Calls ``bump`` as many times as its input says."""

    type_name = "caller"

    async def execute(self, request: Any, ctx: Any) -> AgentOutput:
        n = 0
        for _ in range(int(request.input)):
            n = (await self.call_tool("bump", {"n": n}, ctx))["n"]
        return AgentOutput(content=str(n))


async def medians(config: dict[str, Any], data_dir: str) -> dict[str, float]:
    out: dict[str, float] = {}
    async with Kernel(config, data_dir=data_dir, env={}) as kernel:
        chat = kernel.agents.create("chat", name="chat")
        caller = kernel.agents.create(Caller, name="caller", deps={"tools": {"bump": bump}})
        session = str((await kernel.sessions.create(user_id="bench")).id)
        for label, action in (
            ("chat turn (one model call)", lambda: kernel.run(chat, "hello", session=session)),
            ("one tool call", lambda: kernel.run(caller, "1")),
            ("three tool calls", lambda: kernel.run(caller, "3")),
        ):
            await action()
            out[label] = statistics.median(await time_async(action, rounds=CALLS)) * 1e6
    return out


async def main() -> None:
    rows = []
    for name, base in (("diskcache (defaults)", {"sessions": {"sweep_interval": 0}}), ("memory", MEMORY)):
        samples: dict[tuple[str, bool], list[float]] = {}
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(ROUNDS):
                for journal in (True, False) if i % 2 == 0 else (False, True):
                    config = {**base, "runs": {"journal": journal}}
                    for label, value in (await medians(config, f"{tmp}/{i}-{journal}")).items():
                        samples.setdefault((label, journal), []).append(value)
        for label in dict.fromkeys(label for label, _ in samples):
            on, off = statistics.median(samples[(label, True)]), statistics.median(samples[(label, False)])
            rows.append([name, label, off, on, f"{(on / off - 1) * 100:+.0f}%"])
    print(table("The run journal's cost per turn (µs, median of round medians)",
                ["backends", "turn", "journal off", "journal on", "cost"], rows))


if __name__ == "__main__":
    asyncio.run(main())
