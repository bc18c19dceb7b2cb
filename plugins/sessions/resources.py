"""What a session owns in other services: its state scope, event stream and artifacts.

Every service is optional: a kernel without an artifact service simply has no session
artifacts to copy or delete.
"""

from __future__ import annotations

import logging
from typing import Any

from llmspell.sessions import Session

log = logging.getLogger("llmspell.sessions")


class Resources:
    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel

    async def copy(self, parent: Session, fork: Session) -> None:
        """Give a fork its parent's state and references to its artifacts."""

    async def delete(self, session: Session) -> None:
        """Remove a session's state, event stream and session-scoped artifacts."""

    async def rebuild_state(self, session: Session) -> None:
        """Rebuild an interrupted session's state from its snapshot and event log."""
