"""The stored session records of one session service: read, bound, changed by compare-and-set.

Every part of the service changes a record the same way, through :meth:`SessionRecords.mutate`:
read it, apply a function, write it back under compare-and-set, retry on conflict. A
record in a pending state (a fork, an import or a delete in progress) is invisible,
except to the process doing that work (:attr:`SessionRecords.working`).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from llmspell import serde
from llmspell.errors import ConflictError, CorruptRecordWarning, NotFoundError
from llmspell.plugins.sessions.api import PENDING, Session, SessionPage, check_session_id

if TYPE_CHECKING:
    from llmspell import Kernel
    from llmspell.plugins.sessions.backend import SessionBackend

    from ._config import SessionsConfig

__all__ = ["SessionRecords"]

log = logging.getLogger("llmspell.sessions")

BOUND = 10_000
"""How many bound copies :meth:`SessionRecords.bind` keeps."""

OnWrite = Callable[[Session], Any]
"""Told of every record :meth:`SessionRecords.mutate` stored (the lease keeper tracks them)."""


class SessionRecords:
    """The records in one session backend (see the module docstring).

    Built with the kernel (its services, which a bound session reaches; its hook points
    and system events), the backend and the ``[sessions]`` settings. ``now`` is the
    clock every part of the service reads.
    """

    def __init__(self, kernel: Kernel, backend: SessionBackend, config: SessionsConfig) -> None:
        self.kernel = kernel
        self.backend = backend
        self.config = config
        self.now: Callable[[], datetime] = serde.utcnow
        self.working: set[str] = set()
        """Ids of the pending records this process is writing now (visible to it)."""
        self.reported: set[str] = set()
        """Ids of the undecodable records already reported."""
        self._bound: dict[int, tuple[Session, Session]] = {}

    def bind(self, session: Session) -> Session:
        """``session`` bound to the kernel's services. A backend that hands out the same
        record object again (one that keeps what it decoded) gets the same bound copy
        back: kept by the identity of the record, which the entry holds on to."""
        services = self.kernel.services
        if session._services is services:
            return session
        kept = self._bound.get(id(session))
        if kept is not None and kept[0] is session:
            return kept[1]
        bound = session.replace(services=services)
        bound_ = self._bound
        bound_[id(session)] = (session, bound)
        if len(bound_) > BOUND:
            del bound_[next(iter(bound_))]
        return bound

    async def find(self, session_id: str) -> Session | None:
        """The session, or None when there is none with this id (or it is pending elsewhere)."""
        found = await self.backend.get(check_session_id(session_id))
        if found is None or (found.status in PENDING and found.id not in self.working):
            return None
        return self.bind(found)

    async def get(self, session_id: str) -> Session:
        """The session; :class:`NotFoundError` naming the id when it does not exist."""
        found = await self.find(session_id)
        if found is None:
            raise NotFoundError(f"session {session_id!r} does not exist (never created, or deleted)")
        return found

    async def mutate(
        self, session_id: str, fn: Callable[[Session], Session | None], *, pending: bool = False,
        on_write: OnWrite | None = None,
    ) -> Session:
        """Apply ``fn`` to the stored session with compare-and-set, retrying on conflict.

        ``fn`` may raise to abort, or return None (or the same session) for no change.
        A pending record is changed only with ``pending=True``; otherwise it is not found.
        ``on_write`` is called with the stored record after a write.
        """
        for _ in range(self.config.max_retries):
            if pending:
                found = await self.backend.get(check_session_id(session_id))
                if found is None:
                    raise NotFoundError(f"session {session_id!r} does not exist (never created, or deleted)")
                current = self.bind(found)
            else:
                current = await self.get(session_id)
            changed = fn(current)
            if changed is None or changed == current:
                return current
            changed = changed.replace(updated_at=self.now())
            try:
                stored = await self.backend.put(changed, expected_version=current.version)  # bound
            except ConflictError:
                continue
            if on_write is not None:
                on_write(stored)
            return stored
        raise ConflictError(
            f"session:{session_id}", expected=None, current_version=None,
        )

    async def cleanup(self, session: Session, reason: str, *, on_write: OnWrite | None = None) -> bool:
        """Run the cleanup hooks for ``reason`` once per session (claimed by CAS)."""
        claimed = False

        def claim(current: Session) -> Session | None:
            nonlocal claimed
            if reason in current.cleaned:
                return None
            claimed = True
            return current.replace(cleaned=(*current.cleaned, reason))

        try:
            session = await self.mutate(session.id, claim, pending=True, on_write=on_write)
        except NotFoundError:
            return False
        if claimed:
            await self.kernel.hook.session_cleanup(session=session, reason=reason)
        return claimed

    async def report_skipped(self, page: SessionPage) -> None:
        """Report the undecodable records a listing skipped, once per record: a
        :class:`~llmspell.errors.CorruptRecordWarning`, a log line and a
        ``session.record_skipped`` event naming the id (delete it with ``sessions.delete``)."""
        for session_id, reason in page.skipped:
            if session_id in self.reported:
                continue
            self.reported.add(session_id)
            where = f"the {self.config.backend} session store"
            warnings.warn(CorruptRecordWarning(where, session_id, reason), stacklevel=3)
            log.warning("skipped undecodable session record %r: %s", session_id, reason)
            await self.kernel.emit(
                "session.record_skipped", {"session_id": session_id, "reason": reason}, source="sessions"
            )
