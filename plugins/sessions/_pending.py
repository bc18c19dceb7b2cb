"""All-or-nothing multi-step operations: fork, import and delete.

Each writes its session record first in a pending state (``forking``, ``importing``,
``deleting``) with a lease naming the process doing the work, then the data, and makes
the record usable only with its last write (or, for a delete, removes the record last).
A pending record is invisible to ``get``, ``list`` and ``resume``. When the process
doing the work dies, :meth:`PendingWork.recover` (run at startup) deletes the record
with its partial data: a fork or an import that did not finish never existed, a delete
that did not finish is finished. A record that cannot be decoded is deleted by id
(:meth:`PendingWork.remove_undecodable`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from llmspell.errors import ConflictError, NotFoundError, ValidationError
from llmspell.plugins.sessions.api import PENDING, Session, SessionQuery, SessionStatus

if TYPE_CHECKING:
    from llmspell import Kernel

    from ._config import SessionsConfig
    from ._leases import LeaseKeeper
    from ._records import SessionRecords
    from ._resources import Resources

__all__ = ["PendingWork"]

log = logging.getLogger("llmspell.sessions")
S = SessionStatus


class PendingWork:
    """The pending records of one session service: writing, finishing, removing, recovering.

    Built with the kernel (its system events), the ``[sessions]`` settings, the records,
    this instance's leases and what sessions own in other services.
    """

    def __init__(self, kernel: Kernel, config: SessionsConfig, records: SessionRecords, leases: LeaseKeeper,
                 resources: Resources) -> None:
        self.kernel = kernel
        self.config = config
        self.records = records
        self.leases = leases
        self.resources = resources
        self.working = records.working
        """Ids of the pending records this process is writing now (visible to it)."""
        self.deleting: set[str] = set()
        """Ids of the sessions this process is deleting now (invisible, but not abandoned)."""

    @contextlib.asynccontextmanager
    async def work(self, record: Session) -> AsyncIterator[Session]:
        """Store ``record`` (in a pending state) and yield it while the caller writes its data.

        The lease on it is renewed while the work goes on. If the block raises, the
        record and everything written for it are removed before the error propagates.
        """
        if record.status not in PENDING:
            raise ValueError(f"{record.status.value} is not a pending state")
        try:
            stored = await self.records.backend.put(record, expected_version=0)
        except ConflictError:
            raise ValidationError(f"a session with id {record.id!r} already exists") from None
        self.working.add(stored.id)
        keeper = asyncio.get_running_loop().create_task(self._keep(stored.id), name="llmspell-session-pending")
        try:
            yield self.records.bind(stored)
        except BaseException:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            try:
                current = await self.records.backend.get(stored.id)
                if current is not None and current.status in PENDING and self._mine(current):
                    await self.remove(current)
            except Exception:  # noqa: BLE001 - the first error matters; recovery removes the rest
                log.exception("removing the unfinished session %s failed; recovery will", stored.id)
            raise
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            self.working.discard(stored.id)

    def _mine(self, session: Session) -> bool:
        return session.lease is not None and session.lease.owner == self.leases.owner

    async def _keep(self, session_id: str) -> None:
        """Renew this process's lease on a pending record until cancelled."""
        records, leases = self.records, self.leases
        while True:
            await asyncio.sleep(self.config.lease_ttl / 3)

            def renew(current: Session) -> Session | None:
                if current.status not in PENDING or not self._mine(current):
                    return None
                return current.replace(lease=leases.lease(records.now()))

            try:
                await records.mutate(session_id, renew, pending=True, on_write=leases.track)
            except NotFoundError:
                return
            except Exception:  # noqa: BLE001 - try again; finishing checks the lease anyway
                log.exception("renewing the lease of pending session %s failed", session_id)

    async def finish(self, session_id: str, fn: Callable[[Session], Session]) -> Session:
        """The last write of a fork or import: ``fn`` turns the pending record into the result.

        Fails with :class:`ConflictError` if the record is no longer this process's
        pending record (recovery elsewhere judged this process dead and removed it).
        """

        def apply(current: Session) -> Session:
            if current.status not in PENDING or not self._mine(current):
                raise ConflictError(f"session:{session_id}", expected=None, current_version=current.version)
            return fn(current)

        try:
            return await self.records.mutate(session_id, apply, pending=True, on_write=self.leases.track)
        except NotFoundError:
            raise ConflictError(f"session:{session_id}", expected=None, current_version=None) from None

    async def remove(self, session: Session) -> None:
        """Delete a pending record's data, then the record.

        Finishing a delete runs its cleanup hooks (unless an earlier attempt claimed
        them) and publishes ``session.deleted``; a fork or import simply never existed.
        """
        if session.status is S.DELETING:
            await self.records.cleanup(session, "deleted", on_write=self.leases.track)
        await self.resources.delete(session)
        await self.records.backend.delete(session.id)
        self.leases.release(session.id)
        if session.status is S.DELETING:
            await self.kernel.emit(
                "session.deleted", {"session_id": session.id, "user_id": session.user_id, "app": session.app},
                user_id=session.user_id,
            )

    async def recover(self) -> list[str]:
        """Remove every pending record whose process is gone, with its partial data.

        Returns the ids removed. A pending record of a live process is left alone.
        """
        records = self.records
        now = records.now()
        dead: list[Session] = []
        cursor = None
        while True:
            page = await records.backend.list(SessionQuery(status=tuple(PENDING), limit=1000, cursor=cursor))
            for session in page.items:
                if session.id in self.working or session.id in self.deleting:
                    continue
                lease = session.lease
                # this process's own pending record that it no longer works on was abandoned
                if lease is None or self._mine(session) or self.leases.is_dead(lease, now) is not None:
                    dead.append(session)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        removed = []
        for session in dead:
            current = await records.backend.get(session.id)
            if current is None or current.version != session.version:
                continue  # someone else is on it
            await self.remove(records.bind(current))
            removed.append(session.id)
            log.warning("session %s was left %s by a process that died; removed it", session.id, session.status.value)
        return removed

    async def remove_undecodable(self, session_id: str, reason: str) -> None:
        """Delete a session whose record cannot be decoded, by id: its state, events and
        artifacts, then the record (no hook sees it: there is no session to show them)."""
        await self.resources.delete_by_id(session_id)
        await self.records.backend.delete(session_id)
        self.leases.release(session_id)
        self.records.reported.discard(session_id)
        log.warning("deleted undecodable session record %r: %s", session_id, reason)
        await self.kernel.emit(
            "session.deleted", {"session_id": session_id, "undecodable": True, "reason": reason}, source="sessions"
        )
