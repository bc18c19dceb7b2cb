"""The OpenAI Agents SDK on llmspell; needs pip install "llmspell[openai-agents]".

A conversation kept in an llmspell session.

A fake model stands in for OpenAI (no network, no key); it remembers a name told in an
earlier turn only because the session gives it the conversation.

    python examples/interop_openai_agents.py
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
from typing import Any

from llmspell.errors import MissingExtraError

try:  # The OpenAI Agents SDK comes with the extra; without it, say what to install
    from agents import Agent, ModelResponse, Runner, Usage, set_tracing_disabled
    from agents.models.interface import Model
    from openai.types.responses import ResponseOutputMessage, ResponseOutputText
except ModuleNotFoundError:
    sys.exit(str(MissingExtraError("this example", "openai-agents", "openai-agents")))

from llmspell import Kernel
from llmspell.contrib.openai_agents import LlmspellSession


class Remembering(Model):
    async def get_response(self, system_instructions: Any, input: Any, *args: Any, **kwargs: Any) -> ModelResponse:
        said = " ".join(str(item.get("content")) for item in input) if isinstance(input, list) else input
        names = re.findall(r"my name is (\w+)", said, re.I)
        text = f"You are {names[-1]}." if names else "Nice to meet you."
        message = ResponseOutputMessage(id="m", role="assistant", status="completed", type="message",
                                        content=[ResponseOutputText(text=text, type="output_text", annotations=[])])
        return ModelResponse(output=[message], usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError


async def main(data_dir: str) -> None:
    set_tracing_disabled(True)
    agent = Agent(name="host", model=Remembering())
    async with Kernel(data_dir=data_dir) as kernel:
        session = LlmspellSession("chat-1", kernel, user_id="ann")
        for text in ("Hi, my name is Ann.", "Who am I?"):
            result = await Runner.run(agent, text, session=session)
            print(f"user: {text}\nagent: {result.final_output}")
        print("items kept:", len(await session.get_items()))
        print("conversations of ann:", await LlmspellSession.list_sessions(kernel, user_id="ann"))


if __name__ == "__main__":
    if len(sys.argv) > 1:
        asyncio.run(main(sys.argv[1]))
    else:  # a temporary data directory, removed at the end
        with tempfile.TemporaryDirectory(prefix="llmspell-openai-agents-") as tmp:
            asyncio.run(main(tmp))
