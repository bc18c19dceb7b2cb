"""The kernel's own cost per ``kernel.run`` turn of a no-op agent.

Beside the bare cost of calling the agent's ``execute`` directly, for:

* **memory**: every installed service on its in-memory backend;
* **diskcache**: the embedded defaults, fully persisted: the turn writes a one-key state
  delta in the session scope, its events go to the diskcache log and the session is touched.

Each sample is one turn; medians and p99 are of single turns.

A second table follows a **chat turn** (the ``chat`` template, its conversation persisted in
the session) as the conversation grows: the median cost of turn 2, 10, 50 and 100 over
several conversations. The history budget is large enough that nothing is trimmed, and the
model answers at once without reading the messages, so what is left is llmspell's own cost
of loading, checking and storing the conversation; it should not grow with the turns.

Run: ``python benchmarks/bench_agents.py`` (``--quick`` for a short run; ``--chat`` for the
chat table only).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import attrs  # noqa: E402
import importlib_metadata  # noqa: E402
from _timing import summarize, table, time_async  # noqa: E402

from llmspell import Kernel  # noqa: E402
from llmspell.ids import new_id  # noqa: E402
from llmspell.plugins.agents import BaseAgent  # noqa: E402
from llmspell.plugins.agents.api import AgentOutput, AgentRequest, Message, ModelResponse  # noqa: E402
from llmspell.plugins.events.api import EventService  # noqa: E402
from llmspell.plugins.sessions.api import SessionService  # noqa: E402

QUICK = "--quick" in sys.argv
# One turn per sample: the median and p99 are those of single turns (a turn's cost varies:
# the diskcache log checkpoints its WAL now and then), not of averages over many turns.
ROUNDS, INNER = (300, 1) if QUICK else (5000, 1)
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


class Instant:
    """A model provider that answers at once, whatever the conversation holds."""

    name = "instant"

    async def complete(self, request: Any, ctx: Any) -> ModelResponse:
        return ModelResponse(Message.assistant("Noted. Anything else you would like to add to the conversation?"))


#: The turns whose cost the chat table shows; each conversation runs to the last.
CHAT_TURNS = (2, 10, 50, 100)


async def chat(memory: bool, data_dir: str) -> list[list[Any]]:
    """Median cost of chat turn n (a new conversation per round) on one set of backends."""
    conversations = 8 if QUICK else 30
    samples: dict[int, list[float]] = {n: [] for n in CHAT_TURNS}
    async with Kernel(config(memory), data_dir=data_dir, env={}) as kernel:
        helper = kernel.agents.create("chat", name="helper", max_history_messages=10**6,
                                      max_history_tokens=10**9)
        helper.provider = Instant()
        clock = time.perf_counter
        for _ in range(conversations):
            sid = await session(kernel)
            for turn in range(1, CHAT_TURNS[-1] + 1):
                text = f"Turn {turn}: here is one more thing I would like you to remember for me."
                start = clock()
                await kernel.run(helper, text, session=sid)
                if turn in samples:
                    samples[turn].append(clock() - start)
    label = "memory" if memory else "diskcache (defaults)"
    medians = {n: statistics.median(v) * 1e6 for n, v in samples.items()}
    return [[label, *(medians[n] for n in CHAT_TURNS), medians[CHAT_TURNS[-1]] / medians[CHAT_TURNS[0]]]]


def config(memory: bool, events: str = "standard") -> dict[str, Any]:
    installed = {ep.name for ep in importlib_metadata.entry_points(group="llmspell")}
    base: dict[str, Any] = {"plugins": {"autoload": False}, "agents": {"events": events}}
    if memory:
        base.update({k: v for k, v in MEMORY.items() if k in installed})
    return base


async def session(kernel: Kernel) -> str:
    sessions = kernel.services.find(SessionService)
    return new_id() if sessions is None else str((await sessions.create(user_id="bench", app="bench")).id)


async def parts(data_dir: str) -> list[list[Any]]:
    """Where a persisted turn goes on diskcache: the services' own operations, alone."""
    rows = []
    async with Kernel(config(False, events="none"), data_dir=data_dir, env={}) as kernel:
        counter = kernel.agents.create(Counter, name="counter")
        sid = await session(kernel)
        await kernel.run(counter, "warm up", session=sid)
        quiet = summarize(await time_async(lambda: kernel.run(counter, "x", session=sid), rounds=ROUNDS, inner=INNER))
        rows.append(["diskcache (defaults)", "the same turn, [agents] events = \"none\"", "-", quiet["median_us"],
                     quiet["p99_us"], "-"])
        scope = kernel.state.scope("session", sid)
        n = iter(range(10**9))
        state_set = summarize(await time_async(lambda: scope.set("bench", next(n)), rounds=ROUNDS, inner=INNER))
        rows.append(["diskcache (defaults)", "state set alone (incl. its state.changed event)", "-",
                     state_set["median_us"], state_set["p99_us"], "-"])
        events = getattr(kernel, "events", None)
        if kernel.services.find(EventService) is not None and events is not None:
            publish = summarize(await time_async(
                lambda: events.publish("agent.run.finished", {"agent": "counter"}, session_id=sid),
                rounds=ROUNDS, inner=INNER))
            rows.append(["diskcache (defaults)", "one event published in the session (logged)", "-",
                         publish["median_us"], publish["p99_us"], "-"])
    return rows


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

        bare = summarize(await time_async(lambda: noop.execute(request, ctx), rounds=200, inner=50))
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
    if "--chat" not in sys.argv:
        await turns()
    rows = []
    for memory in (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            rows += await chat(memory, tmp)
    print(table(
        "a chat turn as the conversation grows (microseconds, median of one turn)",
        ["backends", *(f"turn {n}" for n in CHAT_TURNS), f"turn {CHAT_TURNS[-1]} / turn {CHAT_TURNS[0]}"],
        rows,
    ))


async def turns() -> None:
    rows = []
    for memory in (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            rows += await measure(memory, tmp)
    with tempfile.TemporaryDirectory() as tmp:
        rows += await parts(tmp)
    print(table(
        "kernel.run overhead per turn (microseconds)",
        ["backends", "turn", "bare execute median", "kernel.run median", "kernel.run p99", "kernel overhead (median)"],
        rows,
    ))


if __name__ == "__main__":
    asyncio.run(main())
