"""Google ADK on llmspell; needs pip install "llmspell[adk]".

A Runner whose sessions, state, events and artifacts are llmspell's.

A scripted model stands in for Gemini (no network): it calls a tool that keeps a note in
state and saves it as an artifact, then answers.

    python examples/interop_adk.py
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
from collections.abc import AsyncGenerator
from typing import Any

from llmspell.errors import MissingExtraError

try:  # Google ADK comes with the extra; without it, say what to install
    from google.adk.agents import LlmAgent
    from google.adk.models.base_llm import BaseLlm
    from google.adk.models.llm_request import LlmRequest
    from google.adk.models.llm_response import LlmResponse
    from google.adk.runners import Runner
    from google.adk.tools.tool_context import ToolContext
    from google.genai import types
except ModuleNotFoundError:
    sys.exit(str(MissingExtraError("this example", "adk", "google-adk")))

from llmspell import Kernel
from llmspell.contrib.adk import LlmspellArtifactService, LlmspellSessionService


class Scripted(BaseLlm):
    model: str = "scripted"
    script: list[types.Part] = []

    async def generate_content_async(self, llm_request: LlmRequest, stream: bool = False) -> AsyncGenerator[LlmResponse, None]:
        yield LlmResponse(content=types.Content(role="model", parts=[self.script.pop(0)]))


async def remember(note: str, tool_context: ToolContext) -> dict[str, Any]:
    """Keep a note."""
    tool_context.state["user:notes"] = [*tool_context.state.get("user:notes", []), note]
    version = await tool_context.save_artifact("note.txt", types.Part(text=note))
    return {"version": version}


async def main(data_dir: str) -> None:
    logging.getLogger("google_adk").setLevel(logging.ERROR)
    async with Kernel(data_dir=data_dir) as kernel:
        script = [types.Part(function_call=types.FunctionCall(name="remember", args={"note": "buy milk"})),
                  types.Part(text="Noted.")]
        agent = LlmAgent(name="scribe", model=Scripted(script=script), tools=[remember])
        runner = Runner(app_name="notes", agent=agent, session_service=LlmspellSessionService(kernel),
                        artifact_service=LlmspellArtifactService(kernel), auto_create_session=True)
        message = types.Content(role="user", parts=[types.Part(text="remember to buy milk")])
        async for event in runner.run_async(user_id="ann", session_id="s1", new_message=message):
            if event.content and event.content.parts and event.content.parts[0].text:
                print("agent:", event.content.parts[0].text)

        # ... all of it is llmspell data
        print("ann's notes (llmspell user state):", await kernel.state.scope("user", "ann").get("notes/notes"))
        page = await kernel.sessions.list(app="notes", user_id="ann")
        print("ADK sessions of ann:", [s.metadata["adk"]["session_id"] for s in page.items])
        events = await kernel.events.query("adk.event", stream=page.items[0].id)
        print("ADK events in the llmspell log:", len(events))


if __name__ == "__main__":
    if len(sys.argv) > 1:
        asyncio.run(main(sys.argv[1]))
    else:  # a temporary data directory, removed at the end
        with tempfile.TemporaryDirectory(prefix="llmspell-adk-") as tmp:
            asyncio.run(main(tmp))
