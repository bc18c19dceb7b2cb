"""Count how often a state write and an agent turn cross the kernel-plugin boundary.

Run: python scripts/crossings.py

A crossing is a function call from code of one layer into code of the other: the kernel
(``llmspell.*``) and the plugins (``llmspell.plugins.*``, ``llmspell.contrib.*``). Calls
through the standard library or third-party code count from the nearest llmspell frame;
a coroutine resumed after an ``await`` is not a new call. docs/architecture.md walks the
same two paths with these counts.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

from llmspell import Kernel


def layer(frame: FrameType) -> str | None:
    name = frame.f_globals.get("__name__", "")
    if name != "llmspell" and not name.startswith("llmspell."):
        return None
    return "plugin" if name.startswith(("llmspell.plugins", "llmspell.contrib")) else "kernel"


async def count(action: Callable[[], Awaitable[Any]]) -> tuple[int, Counter[str]]:
    """Run ``action`` once and count its kernel-plugin crossings (and where they go)."""
    crossings = 0
    targets: Counter[str] = Counter()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal crossings
        if event != "call" or frame.f_lasti > 4:  # not a first entry: a coroutine resuming
            return
        callee = layer(frame)
        if callee is None:
            return
        caller = frame.f_back
        while caller is not None and layer(caller) is None:
            caller = caller.f_back
        if caller is not None and layer(caller) != callee:
            crossings += 1
            targets[f"{frame.f_globals['__name__']}.{frame.f_code.co_name}"] += 1

    sys.setprofile(profile)
    try:
        await action()
    finally:
        sys.setprofile(None)
    return crossings, targets


async def main() -> None:
    verbose = "-v" in sys.argv
    with tempfile.TemporaryDirectory() as tmp:
        async with Kernel({"plugins": {"autoload": False}}, data_dir=tmp, env={}) as kernel:
            scope = kernel.state.scope("user", "ada")
            await scope.set("warm", 1)
            agent = kernel.agents.create("chat", name="helper")
            await kernel.run(agent, "warm up")
            for label, action in (
                ("state write (scope.set, embedded default store)", lambda: scope.set("theme", "dark")),
                ("agent turn (kernel.run of the offline chat agent)", lambda: kernel.run(agent, "hello")),
            ):
                total, targets = await count(action)
                print(f"{label}: {total} crossings")
                if verbose:
                    for target, n in targets.most_common():
                        print(f"    {n:3d}  {target}")


if __name__ == "__main__":
    asyncio.run(main())
