"""llmspell under Google ADK: session and artifact services on llmspell's services.

Install with ``pip install "llmspell[adk]"``; then::

    from llmspell import Kernel
    from llmspell.contrib.adk import LlmspellArtifactService, LlmspellSessionService

    async with Kernel() as kernel:
        runner = Runner(app_name="demo", agent=agent,
                        session_service=LlmspellSessionService(kernel),
                        artifact_service=LlmspellArtifactService(kernel))

Sessions are llmspell sessions (listing, fork, TTL), ``app:``/``user:``/session state
is llmspell state, every ADK event is an llmspell event, artifacts are versioned llmspell
artifacts, and a stale writer gets ADK's ``StaleSessionError``. See ``docs/interop.md``.
"""

from llmspell.contrib._interop import require

require("adk", "google.adk.sessions", "the Google ADK services (llmspell.contrib.adk)")

from .artifacts import LlmspellArtifactService  # noqa: E402
from .revisions import StaleSessionError  # noqa: E402
from .sessions import LlmspellSessionService  # noqa: E402

__all__ = ["LlmspellArtifactService", "LlmspellSessionService", "StaleSessionError"]
