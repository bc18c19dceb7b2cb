"""A separate OS process running one turn of an OpenAI Agents SDK conversation.

Usage: ``python _chat_worker.py DATA_DIR SESSION_ID TEXT`` prints the reply and the
number of stored items as JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from agents import Runner, set_tracing_disabled  # noqa: E402

from llmspell import Kernel  # noqa: E402
from llmspell.contrib.openai_agents import LlmspellSession  # noqa: E402
from tests.contrib.openai_agents.fake_model import agent  # noqa: E402


async def main(data_dir: str, session_id: str, text: str) -> None:
    set_tracing_disabled(True)
    async with Kernel(data_dir=data_dir) as kernel:
        session = LlmspellSession(session_id, kernel, user_id="ann")
        result = await Runner.run(agent(), text, session=session)
        items = await session.get_items()
        print(json.dumps({"reply": result.final_output, "items": len(items), "pid": os.getpid()}))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
