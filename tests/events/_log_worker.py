"""A separate OS process that appends to a diskcache event log (driven by test_multiprocess).

Usage: python _log_worker.py MODE DIRECTORY GO_FILE [ARGS...]

* ``append DIR GO WORKER N``: N single appends of ``{"w": WORKER, "i": i}`` to stream ``shared``;
* ``same DIR GO EVENTS_FILE``: append each event of EVENTS_FILE (JSON envelopes) one by one;
* ``forever DIR GO``: append batches (``{"batch", "i", "size"}``) and single events until killed.

Each waits until GO exists before writing, after printing ``ready``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

from llmspell.plugins.events._disklog import DiskcacheEventLog
from llmspell.plugins.events.api import Event
from llmspell.plugins.events.backend import EventCodec


def wait_for_go(go: str) -> None:
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.002)


def load(path: str) -> list[Event]:
    codec = EventCodec()
    with open(path) as fh:
        return [codec.from_data(data) for data in json.load(fh)]


async def main(mode: str, directory: str, go: str, *args: str) -> None:
    log = DiskcacheEventLog(directory)
    await log.open()
    await asyncio.to_thread(wait_for_go, go)
    if mode == "append":
        worker, count = int(args[0]), int(args[1])
        for i in range(count):
            await log.append([Event("test.appended", {"w": worker, "i": i}, stream="shared")])
    elif mode == "same":
        for event in load(args[0]):
            await log.append([event])
    elif mode == "forever":
        batch = 0
        while True:
            size = 1 if batch % 3 == 0 else 25
            await log.append([Event("test.batch", {"batch": batch, "i": i, "size": size, "pid": os.getpid()},
                                    stream="crash") for i in range(size)])
            batch += 1
    await log.close()
    print("done", flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
