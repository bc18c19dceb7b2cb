"""A chat agent that remembers: the conversation lives in the session, so a second kernel
(as after a restart, or in another process) picks it up.

Run it with ``python examples/agents_chat_memory.py [DATA_DIR]``. Everything runs on the
embedded defaults with the offline model provider: no network, no keys.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile

from llmspell import Kernel
from llmspell.ids import new_id
from llmspell.plugins.sessions.api import SessionService


async def open_session(kernel: Kernel) -> str:
    sessions = kernel.services.find(SessionService)
    if sessions is None:  # the session plugin is optional: a session id is enough for state
        return new_id()
    return str((await sessions.create(user_id="ada", app="chat-example")).id)


async def main(data_dir: str) -> None:
    async with Kernel(data_dir=data_dir) as kernel:
        session = await open_session(kernel)
        helper = kernel.agents.create("chat", name="helper", max_history_tokens=400)
        for text in ("Hi! My name is Ada.", "I like mathematics."):
            out = await kernel.run(helper, text, session=session)
            print(f"[kernel 1] you: {text}\n[kernel 1] helper: {out.content}")

    # A new kernel on the same data directory: a restart, or another process.
    async with Kernel(data_dir=data_dir) as kernel:
        helper = kernel.agents.create("chat", name="helper")
        for text in ("What is my name?", "What did we talk about?"):
            out = await kernel.run(helper, text, session=session)
            print(f"[kernel 2] you: {text}\n[kernel 2] helper: {out.content}")
        history = await helper.conversation(kernel.state, session)
        print(f"session {session} holds {len(history)} messages")
        print(f"continue it with: llmspell --data-dir {data_dir} chat helper --session {session}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        asyncio.run(main(sys.argv[1]))
    else:  # a temporary data directory, removed at the end
        with tempfile.TemporaryDirectory(prefix="llmspell-chat-") as tmp:
            asyncio.run(main(tmp))
        print("(the data directory was temporary and is removed: pass one to keep the data)")
