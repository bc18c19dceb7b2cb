"""llmspell under the OpenAI Agents SDK: a ``Session`` on llmspell sessions and events.

Install with ``pip install "llmspell[openai-agents]"``; then::

    from llmspell import Kernel
    from llmspell.contrib.openai_agents import LlmspellSession

    async with Kernel() as kernel:
        result = await Runner.run(agent, "hi", session=LlmspellSession("chat-1", kernel, user_id="ann"))

Conversations live on any llmspell event-log backend, can be listed per user
(``LlmspellSession.list_sessions``), expire with a TTL, and are safe to share between
processes. See ``docs/interop.md``.
"""

from llmspell.contrib._interop import require

require("openai-agents", "agents.memory", "the OpenAI Agents SDK session (llmspell.contrib.openai_agents)")

from .session import InvalidSessionSettings, LlmspellSession, SessionClosed  # noqa: E402

__all__ = ["InvalidSessionSettings", "LlmspellSession", "SessionClosed"]
