"""The session manager: creating sessions and moving them through their lifecycle.

Every change is a compare-and-set on the session record, retried on conflict, so two
processes updating one session never lose a change. Transitions are validated, passed
through the ``session_transition`` hook (which may veto), and published as events.

:class:`SessionManager` owns the parts it works with, each built with what it uses: the
stored records (:mod:`.records`), this process's leases (:mod:`.leases`), what sessions
own in other services (:mod:`.resources`) and the all-or-nothing fork, import and delete
(:mod:`.pending`).
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from llmspell import serde
from llmspell.errors import (
    ConflictError,
    IntegrityError,
    SchemaVersionError,
    UnknownNameError,
    ValidationError,
)
from llmspell.ids import new_id
from llmspell.plugins._values import check_mapping, check_user_id
from llmspell.plugins.sessions.api import (
    MAX_SESSION_ID,
    PENDING,
    VISIBLE,
    Session,
    SessionPage,
    SessionQuery,
    SessionStatus,
    check_session_id,
    check_transition,
)
from llmspell.services import StashKey

from ._config import SessionsConfig
from ._leases import LeaseKeeper
from ._pending import PendingWork
from ._records import SessionRecords
from ._resources import Resources

if TYPE_CHECKING:
    from llmspell import Kernel
    from llmspell.plugins.sessions.backend import SessionBackend

__all__ = ["MANAGER", "SessionManager"]

#: The plugin's own manager, in ``kernel.stash``: what its commands and transfers use
#: beyond the :class:`~llmspell.plugins.sessions.api.SessionService` contract.
MANAGER: StashKey[SessionManager] = StashKey("sessions.manager")

log = logging.getLogger("llmspell.sessions")
S = SessionStatus
MAX_ID = MAX_SESSION_ID
MAX_TTL = 100 * 365.25 * 24 * 3600.0
"""The longest ttl a session may have, in seconds (100 years)."""
_EDITABLE = frozenset({"title", "metadata", "tags", "ttl", "app", "user_id"})


def _check_id(session_id: Any) -> str:
    return check_session_id(session_id)


def _check_fields(**fields: Any) -> None:
    """Type checks on the record's text fields, before anything is written."""
    for name in ("title", "user_id", "app"):
        value = fields.get(name)
        if name in fields and value is not None and not isinstance(value, str):
            raise ValidationError(f"session {name} must be a string, got {type(value).__name__} {value!r}")
    if fields.get("user_id") is not None:
        check_user_id(fields["user_id"], "session user id")
    if fields.get("app"):
        check_user_id(fields["app"], "session app name")
    if "title" in fields and fields["title"] is None:
        raise ValidationError("session title must be a string, got None")
    tags = fields.get("tags", ())
    if isinstance(tags, str) or not all(isinstance(t, str) for t in tags):
        raise ValidationError(f"session tags must be a list of strings, got {tags!r}")


def _check_query(query: Any) -> None:
    """Every filter of the right type (through the one converter), the page size in range."""
    if not isinstance(query, SessionQuery):
        raise ValidationError(f"query must be a SessionQuery, got {type(query).__name__}")
    try:
        serde.structure(serde.unstructure(query), SessionQuery)
    except Exception as exc:
        raise ValidationError("bad session filter: " + "; ".join(serde.describe_structure_error(exc, ""))) from None
    if not 1 <= query.limit <= 1000:
        raise ValidationError(f"limit must be between 1 and 1000, got {query.limit}")


def _check_ttl(ttl: Any) -> float | None:
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl <= MAX_TTL:
        shown = repr(ttl) if not isinstance(ttl, int) or ttl < 2**80 else "a larger integer"
        raise ValidationError(
            f"ttl must be a positive number of seconds (at most {MAX_TTL:.0f}, 100 years) or None, got {shown:.60}"
        )
    return float(ttl)


def _check_status(status: Any) -> SessionStatus:
    """A :class:`SessionStatus` or its name (``"suspended"``); anything else is an unknown name."""
    if isinstance(status, SessionStatus):
        return status
    try:
        return SessionStatus(status)
    except (ValueError, TypeError):
        raise UnknownNameError("session status", str(status)[:60], [s.value for s in SessionStatus]) from None


class SessionManager:
    """``kernel.sessions``: see :class:`llmspell.plugins.sessions.api.SessionService`."""

    def __init__(self, kernel: Kernel, backend: SessionBackend, config: SessionsConfig) -> None:
        self.kernel = kernel
        self.backend = backend
        self.config = config
        self.records = SessionRecords(kernel, backend, config)
        self.leases = LeaseKeeper(config, self.records)
        self.resources = Resources(kernel)
        self.pending = PendingWork(kernel, config, self.records, self.leases, self.resources)

    @property
    def now(self) -> Callable[[], datetime]:
        """The clock of the service (every part reads it; tests set it)."""
        return self.records.now

    @now.setter
    def now(self, clock: Callable[[], datetime]) -> None:
        self.records.now = clock

    # -- reading -----------------------------------------------------------------

    def _bind(self, session: Session) -> Session:
        return self.records.bind(session)

    async def find(self, session_id: str) -> Session | None:
        """The session, or None when there is none with this id.

        A record that a fork, an import or a delete is still writing (or removing) is
        not there yet (or any more), except inside the process doing that work, so that
        the services it calls can see whose the new session is.
        """
        return await self.records.find(session_id)

    async def get(self, session_id: str) -> Session:
        """The session; :class:`NotFoundError` naming the id when it does not exist."""
        return await self.records.get(session_id)

    async def list(self, query: SessionQuery | None = None, **filters: Any) -> SessionPage:
        """One page of sessions matching ``query`` or keyword filters, newest first."""
        if query is None:
            if "status" in filters:
                status = filters["status"]
                if isinstance(status, str | SessionStatus):
                    statuses: tuple[Any, ...] = (status,)
                elif isinstance(status, list | tuple | set | frozenset):
                    statuses = tuple(status)
                else:
                    raise ValidationError(f"status must be a session status or a list of them, got {status!r:.60}")
                filters["status"] = tuple(_check_status(s) for s in statuses)
            if "tags" in filters:
                tags = filters["tags"]
                if not isinstance(tags, str | list | tuple):
                    raise ValidationError(f"tags must be a tag or a list of tags, got {tags!r:.60}")
                filters["tags"] = (tags,) if isinstance(tags, str) else tuple(tags)
            try:
                query = SessionQuery(**filters)
            except TypeError as exc:
                fields = ", ".join(a.name for a in attrs.fields(SessionQuery))
                raise ValidationError(f"{exc}; session filters are: {fields}") from None
        _check_query(query)
        if not query.status:
            query = attrs.evolve(query, status=VISIBLE)
        elif any(status in PENDING for status in query.status):
            shown = tuple(status for status in query.status if status not in PENDING)
            if not shown:
                return SessionPage(())
            query = attrs.evolve(query, status=shown)
        result: SessionPage = await self.backend.list(query)
        if result.skipped:
            await self.records.report_skipped(result)
        return SessionPage(tuple(self._bind(s) for s in result.items), result.next_cursor, result.skipped)

    # -- writing -----------------------------------------------------------------

    async def create(
        self,
        *,
        user_id: str | None = None,
        app: str | None = None,
        title: str = "",
        metadata: Mapping[str, Any] | None = None,
        tags: tuple[str, ...] | builtins.list[str] = (),
        ttl: float | None = None,
        session_id: str | None = None,
        parent_id: str | None = None,
    ) -> Session:
        """A new active session, held by this process until it ends or is suspended."""
        if parent_id is not None:
            await self.get(_check_id(parent_id))  # NotFoundError naming an unknown parent
        session = self._new(
            user_id=user_id, app=app, title=title, metadata=metadata, tags=tags, ttl=ttl,
            session_id=session_id, parent_id=parent_id,
        )
        try:
            stored = await self.backend.put(session, expected_version=0)  # keeps the binding
        except ConflictError:
            raise ValidationError(f"a session with id {session.id!r} already exists") from None
        self.leases.hold(stored.id)
        await self._created(stored)
        return stored

    async def _created(self, stored: Session) -> None:
        await self.kernel.hook.session_created(session=stored)
        await self._emit("session.created", stored, {"parent_id": stored.parent_id, "title": stored.title})

    def _new(
        self,
        *,
        user_id: str | None,
        app: str | None,
        title: str,
        metadata: Mapping[str, Any] | None,
        tags: tuple[str, ...] | builtins.list[str],
        ttl: float | None,
        session_id: str | None,
        parent_id: str | None,
        status: SessionStatus = S.ACTIVE,
    ) -> Session:
        """A checked, not yet stored record of a new session held by this process."""
        ttl = _check_ttl(ttl if ttl is not None else self.config.default_ttl)
        _check_fields(title=title, user_id=user_id, app=app, tags=tags)
        metadata = check_mapping(metadata, "metadata")
        now = self.now()
        return Session(
            id=new_id() if session_id is None else _check_id(session_id),
            app=app or self.config.app,
            user_id=user_id,
            status=status,
            created_at=now,
            updated_at=now,
            last_active_at=now,
            title=title,
            metadata=metadata,
            tags=tuple(dict.fromkeys(tags)),
            ttl=ttl,
            expires_at=None if ttl is None else now + timedelta(seconds=ttl),
            parent_id=parent_id,
            lease=self.leases.lease(now),
            services=self.kernel.services,
        )

    async def mutate(
        self, session_id: str, fn: Callable[[Session], Session | None], *, pending: bool = False
    ) -> Session:
        """Apply ``fn`` to the stored session with compare-and-set, retrying on conflict.

        ``fn`` may raise to abort, or return None (or the same session) for no change.
        A record in a pending state (forking, importing, deleting) is changed only with
        ``pending=True`` (by the operation that owns it); otherwise it is not found.
        Whatever is written, this instance holds the session exactly while the stored
        lease is its own (see :meth:`.LeaseKeeper.track`).
        """
        return await self.records.mutate(session_id, fn, pending=pending, on_write=self.leases.track)

    async def update(
        self, session_id: str, fn: Callable[[Session], Session] | None = None, **changes: Any
    ) -> Session:
        """Change title, metadata, tags, ttl, app or user; or apply ``fn`` (CAS, retried)."""
        unknown = set(changes) - _EDITABLE
        if unknown:
            raise ValidationError(
                f"cannot update {', '.join(sorted(unknown))} of a session; editable: {', '.join(sorted(_EDITABLE))}"
            )
        if "ttl" in changes:
            changes["ttl"] = _check_ttl(changes["ttl"])
        _check_fields(**{k: v for k, v in changes.items() if k in ("title", "user_id", "app", "tags")})
        if "metadata" in changes:
            changes["metadata"] = check_mapping(changes["metadata"], "metadata")
        if "tags" in changes:
            changes["tags"] = tuple(dict.fromkeys(changes["tags"]))

        def apply(session: Session) -> Session:
            if fn is not None:
                session = fn(session)
            if changes:
                session = session.replace(**changes)
            if "ttl" in changes:
                session = session.replace(expires_at=self._expiry(session, session.last_active_at))
            return session

        return await self.mutate(session_id, apply)

    def _expiry(self, session: Session, at: datetime) -> datetime | None:
        return None if session.ttl is None else at + timedelta(seconds=session.ttl)

    async def touch(self, session_id: str) -> Session:
        """Record activity now: pushes back the expiry and renews this process's lease."""
        now = self.now()

        def apply(session: Session) -> Session:
            if not session.is_open:
                raise ValidationError(f"session {session_id!r} is {session.status.value}; only open sessions can be touched")
            lease = self.leases.lease(now) if session.status is S.ACTIVE else session.lease
            return session.replace(last_active_at=now, expires_at=self._expiry(session, now), lease=lease)

        return await self.mutate(session_id, apply)

    # -- transitions -------------------------------------------------------------

    async def transition(
        self,
        session_id: str,
        target: SessionStatus,
        reason: str | None = None,
        *,
        guard: Callable[[Session], bool] | None = None,
    ) -> Session:
        """Move a session to ``target`` (validated, vetoable by hooks, published).

        ``guard`` is checked on the freshly read record inside the compare-and-set; when
        it fails nothing changes and the current record is returned.
        """
        target = _check_status(target)
        if reason is not None and not isinstance(reason, str):
            raise ValidationError(f"a transition reason must be a string or None, got {type(reason).__name__}")
        current = await self.get(session_id)
        if guard is not None and not guard(current):
            return current
        check_transition(session_id, current.status, target)
        await self.kernel.hook.session_transition(
            request=reason, session=current, old=current.status.value, new=target.value,
        )
        now = self.now()

        def apply(session: Session) -> Session | None:
            if guard is not None and not guard(session):
                return None
            check_transition(session_id, session.status, target)
            changes: dict[str, Any] = {"status": target, "status_reason": reason}
            if target is S.ACTIVE:
                changes.update(lease=self.leases.lease(now), last_active_at=now,
                               expires_at=self._expiry(session, now), ended_at=None)
            else:
                changes["lease"] = None
            if target in (S.COMPLETED, S.FAILED, S.EXPIRED):
                changes["ended_at"] = now
            return session.replace(**changes)

        updated = await self.mutate(session_id, apply)
        if updated.status is not target:  # the guard declined
            return updated
        if target is S.ACTIVE:
            self.leases.hold(session_id)
        else:
            self.leases.release(session_id)
        await self._emit(f"session.{target.value}", updated, {"from": current.status.value, "reason": reason})
        if target in (S.SUSPENDED, S.COMPLETED, S.FAILED):
            await self.resources.snapshot(updated)
        if target is S.EXPIRED:
            await self.kernel.hook.session_expired(session=updated)
            await self.cleanup(updated, "expired")
        elif target is S.ARCHIVED:
            await self.cleanup(updated, "archived")
        return updated

    async def suspend(self, session_id: str, reason: str | None = None) -> Session:
        return await self.transition(session_id, S.SUSPENDED, reason)

    async def resume(self, session_id: str) -> Session:
        """Make a suspended or interrupted session active again, held by this process.

        An interrupted session first gets its state rebuilt from its last snapshot and
        its event log, so it continues from what was committed before the crash.
        """
        current = await self.get(session_id)
        if current.status is S.INTERRUPTED:
            await self.resources.rebuild_state(current)
        return await self.transition(session_id, S.ACTIVE, "resumed")

    async def complete(self, session_id: str, reason: str | None = None) -> Session:
        return await self.transition(session_id, S.COMPLETED, reason)

    async def fail(self, session_id: str, reason: str | None = None) -> Session:
        return await self.transition(session_id, S.FAILED, reason)

    async def archive(self, session_id: str, reason: str | None = None) -> Session:
        return await self.transition(session_id, S.ARCHIVED, reason)

    async def cleanup(self, session: Session, reason: str) -> bool:
        """Run the cleanup hooks for ``reason`` once per session (claimed by CAS)."""
        return await self.records.cleanup(session, reason, on_write=self.leases.track)

    # -- fork and delete ---------------------------------------------------------

    async def fork(self, session_id: str, **changes: Any) -> Session:
        """A new active session starting from this one's state and artifacts.

        The fork records its parent; the parent is unchanged. ``changes`` may set
        title, metadata, tags, ttl, user_id or app of the fork.

        All or nothing: the fork's record is stored first as ``forking`` (invisible), its
        copy of the state and artifacts is written, and only the last write makes it
        ``active``. If the process dies before that, startup recovery deletes the record
        and whatever was copied; if the copy fails, it is removed at once.
        """
        parent = await self.get(session_id)
        unknown = set(changes) - _EDITABLE
        if unknown:
            raise ValidationError(f"cannot set {', '.join(sorted(unknown))} on a fork; allowed: {', '.join(sorted(_EDITABLE))}")
        record = self._new(
            user_id=changes.get("user_id", parent.user_id),
            app=changes.get("app", parent.app),
            title=changes.get("title", f"{parent.title} (fork)" if parent.title else "fork"),
            metadata=changes.get("metadata", parent.metadata),
            tags=changes.get("tags", parent.tags),
            ttl=changes.get("ttl", parent.ttl),
            session_id=None,
            parent_id=parent.id,
            status=S.FORKING,
        )
        async with self.pending.work(record) as stored:
            await self.resources.copy(parent, stored)
            now = self.now()
            fork = await self.pending.finish(
                stored.id, lambda s: s.replace(status=S.ACTIVE, lease=self.leases.lease(now), last_active_at=now,
                                               expires_at=self._expiry(s, now)),
            )
        self.leases.hold(fork.id)
        await self._created(fork)
        await self._emit("session.forked", parent, {"fork_id": fork.id})
        return fork

    def export(self, session_id: str) -> AsyncIterator[bytes]:
        """The session as JSON lines, each ending in a newline (``llmspell sessions export``):
        its record, state, events and artifact versions (blobs by reference)."""
        from ._transfer import export_session

        return export_session(self.kernel, session_id)

    async def import_lines(self, lines: Iterable[bytes | str]) -> Session:
        """Recreate a session from :meth:`export`'s lines (``llmspell sessions import``); the
        whole input is checked before anything is written, and an existing id is refused."""
        from ._transfer import import_session

        return await import_session(self, lines)

    async def delete(self, session_id: str) -> None:
        """Delete a session with its state, event stream and session artifacts.

        The ``session_before_delete`` hook may veto; cleanup hooks run first. The record
        is marked ``deleting`` (invisible) before anything is removed, so a delete cut
        short by a crash is finished by startup recovery and never leaves a half that
        could be resumed.
        """
        try:
            session = await self.get(session_id)
        except (IntegrityError, SchemaVersionError) as exc:  # undecodable: deleted by id
            await self.pending.remove_undecodable(session_id, str(exc))
            return
        await self.kernel.hook.session_before_delete(session=session)
        now = self.now()

        def mark(current: Session) -> Session:
            return current.replace(status=S.DELETING, status_reason="deleting", lease=self.leases.lease(now))

        self.pending.deleting.add(session_id)
        try:
            marked = await self.mutate(session_id, mark)
            self.leases.release(session_id)
            await self.pending.remove(marked)
        finally:
            self.pending.deleting.discard(session_id)

    async def _emit(self, type_: str, session: Session, extra: Mapping[str, Any]) -> None:
        payload = {"status": session.status.value, "app": session.app, **extra}
        await self.kernel.emit(type_, payload, session_id=session.id, user_id=session.user_id, source="sessions")
