"""Child processes of the multi-process tests: ``python -m tests.contrib._procs COMMAND ...``.

* ``listen CONFIG PATTERN COUNT``: subscribe, print ``ready``, then print the ``n`` of the
  first COUNT matching events as a JSON list, in the order they were delivered.
* ``update CONFIG KEY TIMES``: ``TIMES`` increments of one counter with ``update``.
* ``append CONFIG STREAM TIMES WRITER``: ``TIMES`` single-event appends to one stream.

Each prints one JSON line with its result and exits 0, or exits 1 with the error.
"""

from __future__ import annotations

import asyncio
import json
import sys

from llmspell import Kernel
from llmspell.plugins.events.api import Event


async def listen(config: str, pattern: str, count: int) -> list[int]:
    got: list[int] = []
    done = asyncio.Event()
    async with Kernel(config) as kernel:

        def on(event: Event) -> None:
            got.append(event.payload["n"])
            if len(got) >= count:
                done.set()

        kernel.events.subscribe(pattern, on)
        print("ready", flush=True)
        await asyncio.wait_for(done.wait(), 120)
    return got


async def update(config: str, key: str, times: int) -> int:
    async with Kernel(config) as kernel:
        scope = kernel.state.scope("app", "counters")
        for _ in range(times):
            await scope.update(key, lambda n: (n or 0) + 1)
        return int(await scope.get(key))


async def append(config: str, stream: str, times: int, writer: int) -> list[int]:
    async with Kernel(config) as kernel:
        log = kernel.events.log
        seqs = []
        for i in range(times):
            result = await log.append([Event("test.appended", {"w": writer, "i": i}, stream=stream)])
            seqs.append(result.events[0].seq)
        return seqs


def main(argv: list[str]) -> None:
    command, config, *rest = argv
    if command == "listen":
        result: object = asyncio.run(listen(config, rest[0], int(rest[1])))
    elif command == "update":
        result = asyncio.run(update(config, rest[0], int(rest[1])))
    elif command == "append":
        result = asyncio.run(append(config, rest[0], int(rest[1]), int(rest[2])))
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
