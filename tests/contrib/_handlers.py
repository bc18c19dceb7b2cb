"""A trigger plugin for the ``llmspell worker`` processes of the work-sharing tests.

Loaded with ``[plugins] load``; records each handled job's ``n`` in the file named by
``LLMSPELL_TEST_HANDLED`` with one ``write`` (which survives a SIGKILL of the process
right after it), after an optional ``LLMSPELL_TEST_DELAY`` seconds of "work".
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from llmspell import hookimpl
from llmspell.events import Event


@hookimpl
def llmspell_startup(kernel: Any) -> None:
    fd = os.open(os.environ["LLMSPELL_TEST_HANDLED"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    delay = float(os.environ.get("LLMSPELL_TEST_DELAY", "0"))

    async def handle(event: Event) -> None:
        if delay:
            await asyncio.sleep(delay)
        os.write(fd, f"{event.payload['n']}\n".encode())

    kernel.events.triggers.add("job.created", handle, group="jobs", name="jobs")
