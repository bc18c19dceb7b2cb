"""A trigger plugin for the ``llmspell worker`` processes of the work-sharing tests.

Loaded with ``[plugins] load``; appends ``took <n>`` when a job's handler starts and
``done <n>`` when it has finished (after an optional ``LLMSPELL_TEST_DELAY`` seconds of
"work") to the file named by ``LLMSPELL_TEST_HANDLED``, each with one ``write``, which
survives a SIGKILL of the process right after it. With ``LLMSPELL_TEST_STALL_AFTER=N``
the handler hangs in the job after its N-th (so the test can kill a worker that
certainly holds unfinished work).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from llmspell import hookimpl
from llmspell.plugins.events.api import Event


@hookimpl
def llmspell_startup(kernel: Any) -> None:
    fd = os.open(os.environ["LLMSPELL_TEST_HANDLED"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    delay = float(os.environ.get("LLMSPELL_TEST_DELAY", "0"))
    stall_after = int(os.environ.get("LLMSPELL_TEST_STALL_AFTER", "0"))
    done = [0]

    async def handle(event: Event) -> None:
        os.write(fd, f"took {event.payload['n']}\n".encode())
        if stall_after and done[0] >= stall_after:
            await asyncio.Event().wait()  # stuck until the process is killed
        if delay:
            await asyncio.sleep(delay)
        done[0] += 1
        os.write(fd, f"done {event.payload['n']}\n".encode())

    kernel.events.triggers.add("job.created", handle, group="jobs", name="jobs")
