"""A fake model for the OpenAI Agents SDK: answers from the conversation it is given."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

from agents import Agent, ModelResponse, Usage
from agents.models.interface import Model
from openai.types.responses import ResponseOutputMessage, ResponseOutputText


def _texts(items: Any) -> list[str]:
    if isinstance(items, str):
        return [items]
    out = []
    for item in items:
        content = item.get("content")
        if isinstance(content, str):
            out.append(content)
        elif isinstance(content, list):
            out += [c.get("text", "") for c in content if isinstance(c, dict)]
    return out


class MemoryModel(Model):
    """Says hello to a name it was told, and remembers it when asked (no network)."""

    async def get_response(self, system_instructions: Any, input: Any, *args: Any, **kwargs: Any) -> ModelResponse:
        said = _texts(input)
        names = [m.group(1) for text in said if (m := re.search(r"[Mm]y name is (\w+)", text))]
        if "name?" in said[-1]:
            reply = f"Your name is {names[-1]}." if names else "I do not know your name."
        else:
            reply = f"Hello {names[-1]}!" if names else "Hello!"
        reply += f" ({len(said)} messages so far)"
        message = ResponseOutputMessage(
            id="msg", role="assistant", status="completed", type="message",
            content=[ResponseOutputText(text=reply, type="output_text", annotations=[])],
        )
        return ModelResponse(output=[message], usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        raise NotImplementedError


def agent() -> Agent:
    return Agent(name="greeter", instructions="Remember names.", model=MemoryModel())
