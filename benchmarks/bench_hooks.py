"""Hook dispatch cost per agent turn, beside bare pluggy with the same implementations.

Plugin hooks are measured with the hooks plugin (statistics, breakers, runtime hooks
merged by priority) and with the kernel alone (the hooks plugin blocked); runtime hooks
need the hooks plugin. Run: python benchmarks/bench_hooks.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _timing import summarize, table, time_async, time_sync  # noqa: E402

from llmspell import Kernel, hookimpl  # noqa: E402
from llmspell.hooks import HookCall  # noqa: E402

ROUNDS, INNER = 200, 200


def make_plugins(n: int) -> list[object]:
    plugins = []
    for i in range(n):

        class P:
            __name__ = f"p{i}"

            @hookimpl
            def llmspell_agent_before(self, call):
                return None

        plugins.append(P())
    return plugins


def kernel_with(n: int, data_dir: str, *, hooks: bool = True) -> Kernel:
    return Kernel(
        {"plugins": {"autoload": False}}, data_dir=data_dir, plugins=make_plugins(n),
        disable=() if hooks else ["hooks"], env={},
    )


async def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (0, 1, 5, 20):
            kernel = kernel_with(n, tmp)
            call = HookCall("agent_before")
            caller = kernel.pm.hook.llmspell_agent_before
            bare = summarize(time_sync(lambda c=caller, k=call: c(call=k), rounds=ROUNDS, inner=INNER))
            ours = summarize(
                await time_async(lambda k=kernel, c=call: k.hook.agent_before(c), rounds=ROUNDS, inner=INNER)
            )
            alone = kernel_with(n, tmp, hooks=False)
            bare_kernel = summarize(
                await time_async(lambda k=alone, c=call: k.hook.agent_before(c), rounds=ROUNDS, inner=INNER)
            )
            runtime = Kernel({"plugins": {"autoload": False}}, data_dir=tmp, env={})
            for _ in range(n):
                runtime.hooks.register("agent_before", lambda c: None)
            rt = summarize(
                await time_async(lambda k=runtime, c=call: k.hook.agent_before(c), rounds=ROUNDS, inner=INNER)
            )
            ratio = ours["median_us"] / bare["median_us"] if n else float("nan")
            rows.append([n, bare["median_us"], ours["median_us"], bare_kernel["median_us"], rt["median_us"],
                         ours["p99_us"], f"{ratio:.2f}x" if n else "-"])

        # A turn crosses nine around-points (agent, tool, model: before/after) with
        # nothing registered: what does the dispatcher add to the calls themselves?
        kernel = kernel_with(0, tmp)

        async def component(call: HookCall) -> str:
            return "ok"

        async def turn() -> None:
            for kind in ("agent", "tool", "model"):
                await kernel.hook.around(kind, HookCall(kind), component)

        async def bare_turn() -> None:
            for kind in ("agent", "tool", "model"):
                await component(HookCall(kind))

        with_dispatch = summarize(await time_async(turn, rounds=ROUNDS, inner=INNER))
        without = summarize(await time_async(bare_turn, rounds=ROUNDS, inner=INNER))

    print(
        table(
            "Hook dispatch per point (microseconds)",
            ["hooks", "bare pluggy median", "llmspell plugin hooks median", "kernel alone median",
             "llmspell runtime hooks median", "llmspell p99", "ratio to pluggy"],
            rows,
        )
    )
    print(
        table(
            "A turn's nine hook points with nothing registered (microseconds)",
            ["", "median", "p99"],
            [
                ["agent+tool+model calls through the dispatcher", with_dispatch["median_us"], with_dispatch["p99_us"]],
                ["the same three calls made directly", without["median_us"], without["p99_us"]],
                ["dispatcher's cost per turn", with_dispatch["median_us"] - without["median_us"], "-"],
            ],
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
