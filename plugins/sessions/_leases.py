"""Leases: which live process holds an active session, renewed by heartbeats.

A process holds the sessions it created or resumed. Its lease names the kernel
instance, the host, the pid and the pid's start time, and expires ``lease_ttl`` seconds
after the last heartbeat. A session left ``active`` is *interrupted* when its lease
has expired, or when it names a process on this host that no longer runs (checked
against the pid's start time, so a recycled pid is not mistaken for the holder).
A clean shutdown releases the leases: those sessions stay active, unheld.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from llmspell.errors import NotFoundError
from llmspell.ids import new_id
from llmspell.plugins._process import ended, process_start
from llmspell.plugins.sessions.api import Lease, Session, SessionStatus

if TYPE_CHECKING:
    from ._config import SessionsConfig
    from ._records import SessionRecords

log = logging.getLogger("llmspell.sessions")


class LeaseKeeper:
    """The leases of one kernel instance: making, renewing, releasing, judging.

    Built with the ``[sessions]`` settings and the records it renews and releases.
    """

    def __init__(self, config: SessionsConfig, records: SessionRecords) -> None:
        self.config = config
        self.records = records
        self.owner = new_id()
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.start = process_start(self.pid) or 0.0
        self.held: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def lease(self, now: datetime) -> Lease:
        ttl = self.config.lease_ttl
        return Lease(self.owner, self.host, self.pid, self.start, now + timedelta(seconds=ttl))

    def hold(self, session_id: str) -> None:
        self.held.add(session_id)

    def release(self, session_id: str) -> None:
        self.held.discard(session_id)

    def track(self, session: Session) -> None:
        """Hold ``session`` exactly while its stored lease is this instance's.

        Called on every write of a session record, so that whatever wrote the lease
        (create, touch, resume, a plugin's ``mutate``) the heartbeat renews it and a
        clean shutdown releases it.
        """
        if session.lease is not None and session.lease.owner == self.owner:
            self.held.add(session.id)
        else:
            self.held.discard(session.id)

    def is_dead(self, lease: Lease, now: datetime) -> str | None:
        """Why the holder of ``lease`` is gone, or None while it may be alive."""
        if lease.owner == self.owner:
            return None
        reason = ended(lease.host, lease.pid, lease.process_start, here=self.host)
        if reason is not None:
            return reason
        if lease.expires_at < now:
            return f"the lease of process {lease.pid} on {lease.host} expired at {lease.expires_at.isoformat()}"
        return None

    async def renew(self) -> None:
        """Push back the leases of every session this instance holds."""
        now = self.records.now()
        for session_id in list(self.held):

            def apply(session: Session) -> Session | None:
                if session.status is not SessionStatus.ACTIVE or (
                    session.lease is not None and session.lease.owner != self.owner
                ):
                    self.held.discard(session.id)
                    return None
                return session.replace(lease=self.lease(now))

            try:
                await self.records.mutate(session_id, apply, on_write=self.track)
            except NotFoundError:
                self.held.discard(session_id)

    async def release_all(self) -> None:
        """Clean shutdown: drop this instance's leases so no one mistakes it for a crash."""
        for session_id in list(self.held):

            def apply(session: Session) -> Session | None:
                if session.lease is None or session.lease.owner != self.owner:
                    return None
                return session.replace(lease=None)

            with contextlib.suppress(NotFoundError):
                await self.records.mutate(session_id, apply, on_write=self.track)
        self.held.clear()

    def start_heartbeat(self) -> None:
        interval = self.config.lease_ttl / 3

        async def beat() -> None:
            while True:
                await asyncio.sleep(interval)
                try:
                    await self.renew()
                except Exception:  # noqa: BLE001 - keep beating; the next one may succeed
                    log.exception("session lease heartbeat failed")

        self._task = asyncio.get_running_loop().create_task(beat(), name="llmspell-session-heartbeat")

    async def stop_heartbeat(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
