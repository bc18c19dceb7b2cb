"""A scripted ADK scenario: a real ``Runner`` and ``LlmAgent`` with a scripted model (no network).

The model calls a tool that writes session, ``user:``, ``app:`` and ``temp:`` state and
saves artifacts, then answers; the agent keeps its answer in state (``output_key``).
Ids and clocks go through ADK's platform providers, set to counters, so two runs of the
scenario on different services can be compared event for event.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncGenerator
from typing import Any

from google.adk.agents import LlmAgent
from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.adk.platform import time as platform_time
from google.adk.platform import uuid as platform_uuid
from google.adk.runners import Runner
from google.adk.tools.tool_context import ToolContext
from google.genai import types

APP = "notes"
USER = "ann"


class ScriptedLlm(BaseLlm):
    """Answers from a script: each call pops the next response (a tool call or text)."""

    model: str = "scripted"
    script: list[dict[str, Any]] = []

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        step = self.script.pop(0)
        if "call" in step:
            name, args = step["call"]
            part = types.Part(function_call=types.FunctionCall(name=name, args=args, id=f"call-{len(self.script)}"))
        else:
            part = types.Part(text=step["text"])
        yield LlmResponse(content=types.Content(role="model", parts=[part]))


async def remember(note: str, tool_context: ToolContext) -> dict[str, Any]:
    """Keep a note in every kind of state and as artifacts."""
    notes = list(tool_context.state.get("notes", []))
    notes.append(note)
    tool_context.state["notes"] = notes
    tool_context.state["user:visits"] = tool_context.state.get("user:visits", 0) + 1
    tool_context.state["app:last_note"] = note
    tool_context.state["temp:scratch"] = f"thinking about {note}"
    version = await tool_context.save_artifact(
        "note.txt", types.Part(text=note), custom_metadata={"chars": len(note)}
    )
    await tool_context.save_artifact(
        "user:profile.bin", types.Part(inline_data=types.Blob(mime_type="application/x-profile", data=note.encode() + b"\x00\xff"))
    )
    return {"saved": version, "notes": len(notes)}


def script() -> list[dict[str, Any]]:
    return [
        {"call": ("remember", {"note": "buy milk"})}, {"text": "Noted: buy milk."},
        {"call": ("remember", {"note": "call Bob"})}, {"text": "Noted: call Bob."},
        {"text": "You have two notes."},
    ]


TURNS = ["remember to buy milk", "and to call Bob", "what do I have?"]


NOW = 1_750_000_000.0


def deterministic() -> None:
    """ADK's ids as a counter and its clock stopped at :data:`NOW` (undo with :func:`reset`).

    The clock does not tick per call: the in-memory artifact service reads it on every
    save and llmspell's does not, which is no difference in behaviour.
    """
    ids = itertools.count(1)
    platform_uuid.set_id_provider(lambda: f"id-{next(ids):04d}")
    platform_time.set_time_provider(lambda: NOW)


def reset() -> None:
    platform_uuid.reset_id_provider()
    platform_time.reset_time_provider()


async def run(session_service: Any, artifact_service: Any, *, session_id: str = "s1") -> list[Any]:
    """The scenario's turns on these services; returns every event the runner yielded."""
    agent = LlmAgent(
        name="scribe", model=ScriptedLlm(script=script()), instruction="Keep notes.",
        tools=[remember], output_key="last_reply",
    )
    runner = Runner(app_name=APP, agent=agent, session_service=session_service, artifact_service=artifact_service)
    await session_service.create_session(app_name=APP, user_id=USER, session_id=session_id, state={"topic": "errands"})
    events = []
    for text in TURNS:
        message = types.Content(role="user", parts=[types.Part(text=text)])
        async for event in runner.run_async(user_id=USER, session_id=session_id, new_message=message):
            events.append(event)
    return events
