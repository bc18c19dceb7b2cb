"""Upkeep: finding interrupted sessions, expiring idle ones, applying retention.

These work through the session service's own operations (list, transition, archive,
delete) and its pending work; the plugin runs them at startup and every
``[sessions] sweep_interval`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from llmspell.errors import InvalidTransition, NotFoundError
from llmspell.plugins.sessions.api import Lease, Session, SessionQuery, SessionStatus

if TYPE_CHECKING:
    from ._manager import SessionManager

__all__ = ["SweepReport", "Sweeper", "recover", "sweep"]

log = logging.getLogger("llmspell.sessions")
S = SessionStatus


@attrs.frozen
class SweepReport:
    """What one sweep changed, by session id."""

    interrupted: tuple[str, ...] = ()
    expired: tuple[str, ...] = ()
    archived: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()


async def _all(manager: SessionManager, **filters: Any) -> AsyncIterator[Session]:
    cursor = None
    while True:
        page = await manager.list(SessionQuery(limit=1000, cursor=cursor, **filters))
        for session in page.items:
            yield session
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


async def recover(manager: SessionManager) -> list[str]:
    """Mark ``interrupted`` every active session whose holding process is gone."""
    now = manager.now()
    found = []
    async for session in _all(manager, status=(S.ACTIVE,)):
        lease = session.lease
        why = None if lease is None else manager.leases.is_dead(lease, now)
        if why is None:
            continue
        try:
            def still_held(current: Session, lease: Lease | None = lease) -> bool:
                return current.lease == lease

            updated = await manager.transition(session.id, S.INTERRUPTED, why, guard=still_held)
        except (InvalidTransition, NotFoundError):
            continue  # someone else got there first
        if updated.status is S.INTERRUPTED:
            found.append(session.id)
            log.warning("session %s interrupted: %s", session.id, why)
    return found


async def sweep(manager: SessionManager, now: datetime | None = None) -> SweepReport:
    """One pass: recover, expire idle sessions, then apply the retention policy."""
    now = now or manager.now()
    await manager.pending.recover()  # forks, imports and deletes whose process died
    interrupted = await recover(manager)
    expired = []
    due = now + timedelta(microseconds=1)  # expires_before is exclusive: expires_at <= now is due
    async for session in _all(manager, status=(S.ACTIVE, S.SUSPENDED, S.INTERRUPTED), expires_before=due):
        try:
            updated = await manager.transition(
                session.id, S.EXPIRED, "idle past its ttl",
                guard=lambda s: s.expires_at is not None and s.expires_at <= now,
            )
        except (InvalidTransition, NotFoundError):
            continue
        if updated.status is S.EXPIRED:
            expired.append(session.id)
    archived, deleted = [], []
    policy = manager.config.retention
    if policy != "keep":
        cutoff = now - timedelta(seconds=manager.config.retention_grace)
        ended = (S.COMPLETED, S.FAILED, S.EXPIRED) + ((S.ARCHIVED,) if policy == "delete" else ())
        async for session in _all(manager, status=ended):
            if session.ended_at is None and session.status is not S.ARCHIVED:
                continue
            if (session.ended_at or session.updated_at) > cutoff:
                continue
            with contextlib.suppress(InvalidTransition, NotFoundError):
                if policy == "archive":
                    await manager.archive(session.id, "retention")
                    archived.append(session.id)
                else:
                    await manager.delete(session.id)
                    deleted.append(session.id)
    return SweepReport(tuple(interrupted), tuple(expired), tuple(archived), tuple(deleted))


class Sweeper:
    """Runs :func:`sweep` every ``sweep_interval`` seconds while the kernel is up."""

    def __init__(self, manager: SessionManager) -> None:
        self.manager = manager
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        interval = self.manager.config.sweep_interval
        if interval <= 0:
            return

        async def loop() -> None:
            while True:
                await asyncio.sleep(interval)
                try:
                    await sweep(self.manager)
                except Exception:  # noqa: BLE001 - try again next time
                    log.exception("session sweep failed")

        self._task = asyncio.get_running_loop().create_task(loop(), name="llmspell-session-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
