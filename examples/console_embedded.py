"""The web console inside a running application; needs pip install "llmspell[web]".

Live hook counters, live events.

``llmspell console`` starts a kernel of its own over the data directory; an application
can also serve the console from its own kernel, so that the plugins-and-hooks page shows
the application's runtime hooks with their live call counts and breaker states, and the
timeline follows its runs as they happen. This script runs a chat agent every second in
one session and serves the console beside it until Ctrl-C.
Run: ``python examples/console_embedded.py [DATA_DIR] [--port N]``.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile

from llmspell import Kernel
from llmspell.contrib.console import serve
from llmspell.contrib.console.server import require_web
from llmspell.errors import MissingExtraError


async def main(data_dir: str, port: int) -> None:
    async with Kernel(data_dir=data_dir) as kernel:
        seen: list[str] = []
        kernel.hooks.register("agent_before", lambda call: seen.append(call.component.name), name="count-runs")
        helper = kernel.agents.create("chat", name="helper")
        session = await kernel.sessions.create(user_id="ada", app="embedded", title="a live session")

        async def work() -> None:
            turn = 0
            while True:
                turn += 1
                await kernel.run(helper, f"message number {turn}", session=session)
                await asyncio.sleep(1.0)

        def ready(url: str, actual: int, token: str | None) -> None:
            print(f"console on {url}", flush=True)
            print(f"session: {url.split('?')[0]}sessions/{session.id}", flush=True)

        worker = asyncio.create_task(work())
        try:  # the kernel is already started: the console uses it and leaves it running
            await serve(kernel, port=port, on_ready=ready)
        finally:
            worker.cancel()


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--port")]
    port = next((int(a.split("=", 1)[1]) for a in sys.argv[1:] if a.startswith("--port=")), 8765)
    try:
        require_web()  # the web server and templates come with the extra
    except MissingExtraError as exc:
        sys.exit(str(exc))
    try:
        if args:
            asyncio.run(main(args[0], port))
        else:  # a temporary data directory, removed at the end
            with tempfile.TemporaryDirectory(prefix="llmspell-console-") as tmp:
                asyncio.run(main(tmp, port))
    except KeyboardInterrupt:
        pass
