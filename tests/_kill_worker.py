"""A process that runs one multi-step operation, to be killed in the middle of it.

argv: data_dir, config (JSON), operation, argument. Session operations: ``fork``,
``delete`` (a session id), ``import`` (the path of an export file). State operations:
``delta`` (a key count: an agent returns a state delta of that many ``agent:`` keys) and
``copy`` (``scope/source/target``: ``copy_owner``). Prints ``go`` once its kernel is up
and ``done`` when the operation returned, then waits to be killed.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path


async def main(data_dir: str, config: str, op: str, arg: str, lines: list[bytes]) -> None:
    from llmspell import Kernel

    kernel = Kernel(json.loads(config), data_dir=data_dir)
    await kernel.start()
    print("go", flush=True)
    started = time.monotonic()
    if op == "fork":
        await kernel.sessions.fork(arg)
    elif op == "delete":
        await kernel.sessions.delete(arg)
    elif op == "import":
        await kernel.sessions.import_lines(lines)
    elif op == "delta":
        sys.path.insert(0, str(Path(__file__).parents[1]))
        from tests.agents.agent_helpers import Writer

        writes = {f"agent:k{i:05d}": {"i": i, "gen": "new"} for i in range(int(arg))}
        await kernel.run(kernel.agents.create(Writer, name="writer", writes=writes), "go")
    elif op == "copy":
        scope, source, target = arg.split("/")
        await kernel.state.copy_owner(scope, source, target)
    else:
        raise SystemExit(f"unknown operation {op!r}")
    print(f"done {time.monotonic() - started:.4f}", flush=True)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    data_dir, config, op, arg = sys.argv[1:5]
    with open(arg, "rb") if op == "import" else open(os.devnull, "rb") as fh:
        lines = fh.read().splitlines()
    asyncio.run(main(data_dir, config, op, arg, lines))
