"""What a session owns in other services: its state scope, event stream and artifacts.

Every service is optional: a kernel without an artifact service simply has no session
artifacts to copy or delete, and one without an event log cannot rebuild state.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from llmspell.plugins.artifacts.api import ArtifactScope, ArtifactService
from llmspell.plugins.events.api import EventService, state_projection
from llmspell.plugins.sessions.api import Session
from llmspell.plugins.state.api import StateService

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["PROJECTION", "Resources"]

log = logging.getLogger("llmspell.sessions")

#: The projection that folds a session's ``state.changed`` events (snapshotted by name).
PROJECTION = "session-state"


class Resources:
    """A session's state, event stream and artifacts, through the services of ``kernel``."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def _find(self, kind: type) -> Any:
        return self.kernel.services.find(kind)

    async def copy(self, parent: Session, fork: Session) -> None:
        """Give a fork its parent's state (with versions) and its artifacts' latest versions.

        Artifacts are copied as references: the fork's versions point at the same blobs.
        """
        state = self._find(StateService)
        if state is not None:
            await state.copy_owner("session", parent.id, fork.id)
        artifacts = self._find(ArtifactService)
        if artifacts is None:
            return
        cursor = None
        while True:
            page = await artifacts.list(session_id=parent.id, limit=1000, cursor=cursor)
            for meta in page.items:
                await artifacts.copy(meta.ref, meta.ref.name, to=ArtifactScope.session(fork.id))
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def delete(self, session: Session) -> None:
        """Remove a session's state and event stream (its artifacts go in the cleanup hook)."""
        await self.delete_by_id(session.id)

    async def delete_by_id(self, session_id: str) -> None:
        """:meth:`delete` for a session whose record cannot be read (only its id is known)."""
        state = self._find(StateService)
        if state is not None:
            await state.delete_owner("session", session_id)
        events = self._find(EventService)
        if events is not None:
            await events.flush()
            await events.delete_stream(session_id)
        artifacts = self._find(ArtifactService)
        if artifacts is not None and hasattr(artifacts, "delete_session"):
            await artifacts.delete_session(session_id)

    async def snapshot(self, session: Session) -> None:
        """Fold the session's state events and save a snapshot, to bound later rebuilds."""
        events = self._find(EventService)
        if events is None:
            return
        await events.flush()
        await events.project(session.id, state_projection(PROJECTION), snapshot=True, snapshot_every=1)

    async def rebuild_state(self, session: Session) -> int:
        """Make the session's state hold everything its event log says was committed.

        Folds the session's stream (from the last snapshot) into the state it describes.
        A key the store lacks, or holds at an older version than the log, is restored from
        the log; a key the store holds at a newer version (its event did not reach the log
        before a crash) is kept. Returns how many keys were restored.
        """
        state, events = self._find(StateService), self._find(EventService)
        if state is None or events is None:
            return 0
        await events.flush()
        folded = await events.project(session.id, state_projection(PROJECTION), snapshot=True)
        logged: dict[str, dict[str, Any]] = folded.state.get("session", {}).get(session.id, {})
        current = {item.key: item for item in await state.export_owner("session", session.id)}
        merged = {key: (item.value, item.version) for key, item in current.items()}
        restored = 0
        for key, entry in logged.items():
            held = current.get(key)
            if held is not None and held.version >= entry["version"]:
                continue  # the store is as new as the log, or newer
            if held is None and entry.get("deleted"):
                continue  # deleted in both
            restored += 1
            if entry.get("deleted"):
                merged.pop(key)
            else:
                merged[key] = (entry.get("value"), entry["version"])
        if restored:
            changes = [
                {"scope": "session", "owner": session.id, "key": key, "old_version": None,
                 "new_version": version, "value": value, "deleted": False}
                for key, (value, version) in merged.items()
            ]
            await state.rebuild("session", session.id, changes)
            log.info("session %s: restored %d key(s) from its event log", session.id, restored)
        return restored
