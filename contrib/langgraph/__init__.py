"""llmspell under LangGraph: a checkpointer that stores through llmspell's services.

Install with ``pip install "llmspell[langgraph]"``; then::

    from llmspell import Kernel
    from llmspell.contrib.langgraph import LlmspellSaver

    async with Kernel() as kernel:
        graph = builder.compile(checkpointer=LlmspellSaver(kernel))

Threads become llmspell sessions (listing, fork, TTL), checkpoints are stored on the
kernel's state backend and published as events, and two writers cannot silently fork a
thread. See ``docs/interop.md``.
"""

from llmspell.contrib._interop import require

require("langgraph", "langgraph.checkpoint.base", "the LangGraph checkpointer (llmspell.contrib.langgraph)")

from .records import ValueCodec  # noqa: E402
from .saver import LlmspellSaver, ThreadConflict  # noqa: E402

__all__ = ["LlmspellSaver", "ThreadConflict", "ValueCodec"]
