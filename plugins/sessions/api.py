"""The public contract of the sessions capability: what users and other plugins call.

Sessions: the session record, its lifecycle, and the contract of managers and backends.

A :class:`Session` is a conversation or task with an owner, metadata and a lifecycle.
The session manager (``kernel.sessions``) is provided by a plugin (the default one is
``llmspell.plugins.sessions``); records live in a :class:`SessionBackend` chosen by
name with ``[sessions] backend = "..."``.

**Session ids** travel furthest: they name state owners, event streams, artifact scopes,
Redis keys, PostgreSQL rows, NATS subject tokens, console URLs and export files. So a
session id is 1 to 128 characters of ``A-Z a-z 0-9 . _ @ + = -`` and not ``.`` or
``..``: safe as a file name, a URL path segment, a Redis key part and (token-encoded)
a NATS subject token. Generated ids (UUIDv7) and every id the framework adapters derive
(``adk-<hash>``) follow it. The artifact service uses the same rule for its scope ids.
Every entry point checks through :func:`check_session_id`, so an id that
``sessions.create`` accepts is accepted everywhere else. User ids and app names follow
one rule: at most 256 characters of valid Unicode, without control characters.
"""

from __future__ import annotations

import enum
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import attrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from llmspell import serde
from llmspell.errors import InvalidTransition, ValidationError

if TYPE_CHECKING:
    from llmspell.plugins.sessions.backend import SessionBackend

__all__ = [
    "MAX_SESSION_ID",
    "SESSION_ID_CHARS",
    "check_session_id",
    "is_session_id",
    "SCHEMA_VERSION",
    "SessionStatus",
    "TRANSITIONS",
    "PENDING",
    "VISIBLE",
    "Lease",
    "Session",
    "SessionQuery",
    "SessionPage",
    "SessionService",
    "check_transition",
]


SCHEMA_VERSION = 1


T = TypeVar("T")


class SessionStatus(enum.Enum):
    """Where a session is in its life."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    ARCHIVED = "archived"
    INTERRUPTED = "interrupted"
    """Found active after the process that held it died."""
    FORKING = "forking"
    """Being filled from its parent by ``fork``: invisible until it turns active, and
    deleted with its partial copy when the forking process dies first."""
    IMPORTING = "importing"
    """Being written by an import: invisible until it gets its exported status, and
    deleted with its partial data when the importing process dies first."""
    DELETING = "deleting"
    """Being deleted: invisible, and a delete that was cut short is finished at startup."""

    def __str__(self) -> str:
        return self.value


S = SessionStatus


#: The allowed transitions; anything else raises :class:`InvalidTransition`.
TRANSITIONS: Mapping[SessionStatus, frozenset[SessionStatus]] = {
    S.ACTIVE: frozenset({S.SUSPENDED, S.COMPLETED, S.FAILED, S.EXPIRED, S.INTERRUPTED}),
    S.SUSPENDED: frozenset({S.ACTIVE, S.COMPLETED, S.FAILED, S.EXPIRED, S.ARCHIVED}),
    S.INTERRUPTED: frozenset({S.ACTIVE, S.FAILED, S.EXPIRED, S.ARCHIVED}),
    S.COMPLETED: frozenset({S.ARCHIVED}),
    S.FAILED: frozenset({S.ARCHIVED}),
    S.EXPIRED: frozenset({S.ARCHIVED}),
    S.ARCHIVED: frozenset(),
    # Pending states: no transition; their operation alone finishes or removes them.
    S.FORKING: frozenset(),
    S.IMPORTING: frozenset(),
    S.DELETING: frozenset(),
}


#: The states of a record that a multi-step operation is still writing (or removing):
#: ``get``, ``list`` and ``resume`` never show them, and startup recovery deletes them
#: (with their partial data) once the process doing the work is gone.
PENDING: frozenset[SessionStatus] = frozenset({S.FORKING, S.IMPORTING, S.DELETING})


#: Every other state: what a listing without a status filter shows.
VISIBLE: tuple[SessionStatus, ...] = tuple(s for s in SessionStatus if s not in PENDING)


def check_transition(session_id: str, current: SessionStatus, target: SessionStatus) -> None:
    """Raise :class:`InvalidTransition` unless ``current -> target`` is allowed."""
    allowed = TRANSITIONS[current]
    if target not in allowed:
        raise InvalidTransition(
            f"session {session_id!r}", current.value, target.value, (s.value for s in allowed)
        )


@attrs.frozen
class Lease:
    """Which live process holds an active session, until when (renewed by heartbeats)."""

    owner: str
    """The holding kernel's instance id."""
    host: str
    pid: int
    process_start: float
    """When the holding process started (guards against a recycled pid)."""
    expires_at: datetime


@attrs.frozen
class Session:
    """One session record, as stored. Changes go through the manager (compare-and-set)."""

    id: str
    app: str
    user_id: str | None
    status: SessionStatus
    created_at: datetime
    updated_at: datetime
    last_active_at: datetime
    title: str = ""
    metadata: dict[str, Any] = attrs.Factory(dict)
    tags: tuple[str, ...] = ()
    ttl: float | None = None
    """Seconds of inactivity after which the session expires (None: never)."""
    expires_at: datetime | None = None
    parent_id: str | None = None
    ended_at: datetime | None = None
    lease: Lease | None = None
    cleaned: tuple[str, ...] = ()
    """Reasons (expired, archived, deleted) whose cleanup hooks already ran."""
    status_reason: str | None = None
    schema_version: int = SCHEMA_VERSION
    version: int = 0
    """Record version for compare-and-set; assigned by the backend (0: never stored)."""
    _services: Any = attrs.field(default=None, eq=False, repr=False, alias="services")
    """The kernel's services, for the session-scoped accessors; never stored."""

    @property
    def is_open(self) -> bool:
        """Active, suspended or interrupted: it can still be resumed or ended."""
        return self.status in (S.ACTIVE, S.SUSPENDED, S.INTERRUPTED)

    def replace(self, **changes: Any) -> Session:
        """A copy with some fields changed (``attrs.evolve`` without its generic cost)."""
        new = object.__new__(Session)
        put = object.__setattr__
        for slot in _SLOTS:
            put(new, slot, getattr(self, slot))
        for name, value in changes.items():
            if name not in _FIELDS:
                raise TypeError(f"Session has no field {name!r}")
            put(new, _FIELDS[name], value)
        return new

    def _service(self, kind: Callable[..., T]) -> T:
        if self._services is None:
            from llmspell.errors import ServiceNotAvailable

            raise ServiceNotAvailable(kind.__name__, "this session record is not bound to a kernel")
        service: T = self._services.get(kind)
        return service

    @property
    def state(self) -> Any:
        """The session's state: the state service's ``session`` scope for this id."""
        from llmspell.plugins.state.api import StateService

        return self._service(StateService).scope("session", self.id)

    def events(self, from_seq: int = 1, to_seq: int | None = None) -> Any:
        """The session's event history: its stream in the event log (async iterator)."""
        from llmspell.plugins.events.api import EventService

        return self._service(EventService).read(self.id, from_seq=from_seq, to_seq=to_seq)


_FIELDS = {a.alias: a.name for a in attrs.fields(Session)}


_SLOTS = tuple(_FIELDS.values())
serde.converter.register_unstructure_hook(
    Session, make_dict_unstructure_fn(Session, serde.converter, _services=override(omit=True))
)
serde.converter.register_structure_hook(
    Session,
    make_dict_structure_fn(
        Session, serde.converter, _services=override(omit=True), _cattrs_forbid_extra_keys=True
    ),
)


@attrs.frozen
class SessionQuery:
    """Filters for listing sessions; all given filters must match.

    Time filters are half-open, as everywhere in llmspell: a lower bound (``..._after``)
    is inclusive, an upper bound (``..._before``) exclusive.
    """

    user_id: str | None = None
    app: str | None = None
    status: tuple[SessionStatus, ...] = ()
    tags: tuple[str, ...] = ()
    """Sessions carrying every one of these tags."""
    parent_id: str | None = None
    created_after: datetime | None = None
    """``created_at >= created_after``: lower bounds are inclusive."""
    created_before: datetime | None = None
    """``created_at < created_before``: upper bounds are exclusive."""
    active_after: datetime | None = None
    """``last_active_at >= active_after`` (inclusive)."""
    active_before: datetime | None = None
    """``last_active_at < active_before`` (exclusive)."""
    expires_before: datetime | None = None
    """``expires_at < expires_before`` (exclusive, like every upper bound); a session
    without ``expires_at`` never matches."""
    limit: int = 50
    """1 to 1000 (``MAX_LIMIT`` of :mod:`llmspell.plugins.sessions.backend`)."""
    cursor: str | None = None
    """Opaque: the ``next_cursor`` of the previous page."""

    def matches(self, session: Session) -> bool:
        """Whether ``session`` passes every filter (backends without indexes use this)."""
        return (
            (self.user_id is None or session.user_id == self.user_id)
            and (self.app is None or session.app == self.app)
            and (not self.status or session.status in self.status)
            and all(tag in session.tags for tag in self.tags)
            and (self.parent_id is None or session.parent_id == self.parent_id)
            and (self.created_after is None or session.created_at >= self.created_after)
            and (self.created_before is None or session.created_at < self.created_before)
            and (self.active_after is None or session.last_active_at >= self.active_after)
            and (self.active_before is None or session.last_active_at < self.active_before)
            and (
                self.expires_before is None
                or (session.expires_at is not None and session.expires_at < self.expires_before)
            )
        )


@attrs.frozen
class SessionPage:
    """One page of a listing, newest first; pass ``next_cursor`` to get the next."""

    items: tuple[Session, ...]
    next_cursor: str | None = None
    skipped: tuple[tuple[str, str], ...] = ()
    """``(id, reason)`` of records on this page that could not be decoded (not in ``items``)."""


@runtime_checkable
class SessionService(Protocol):
    """Create, find and move sessions through their lifecycle (``kernel.sessions``)."""

    @property
    def backend(self) -> SessionBackend:
        """The backend the records are stored in (``[sessions] backend``), including the
        records a fork, an import or a delete is still writing, which :meth:`find` hides."""
        ...

    @property
    def now(self) -> Callable[[], datetime]:
        """The service's clock (a function returning an aware UTC ``datetime``); tests
        replace it to move time without sleeping."""
        ...

    @now.setter
    def now(self, clock: Callable[[], datetime]) -> None: ...

    async def create(
        self,
        *,
        user_id: str | None = None,
        app: str | None = None,
        title: str = "",
        metadata: Mapping[str, Any] | None = None,
        tags: tuple[str, ...] | list[str] = (),
        ttl: float | None = None,
        session_id: str | None = None,
    ) -> Session: ...

    async def get(self, session_id: str) -> Session:
        """The session; :class:`~llmspell.errors.NotFoundError` naming the id when it does not exist."""
        ...

    async def find(self, session_id: str) -> Session | None:
        """The session, or None when there is none with this id (a record that a fork,
        an import or a delete is still writing or removing is not there)."""
        ...

    async def list(self, query: SessionQuery | None = None, **filters: Any) -> SessionPage: ...

    async def update(
        self, session_id: str, fn: Callable[[Session], Session] | None = None, **changes: Any
    ) -> Session: ...

    async def touch(self, session_id: str) -> Session: ...

    async def suspend(self, session_id: str, reason: str | None = None) -> Session: ...

    async def resume(self, session_id: str) -> Session: ...

    async def complete(self, session_id: str, reason: str | None = None) -> Session: ...

    async def fail(self, session_id: str, reason: str | None = None) -> Session: ...

    async def archive(self, session_id: str, reason: str | None = None) -> Session: ...

    async def fork(self, session_id: str, **changes: Any) -> Session: ...

    async def delete(self, session_id: str) -> None: ...

    def export(self, session_id: str) -> AsyncIterator[bytes]:
        """Not a coroutine: an async iterator of the session's JSON lines."""
        ...

    async def import_lines(self, lines: Iterable[bytes | str]) -> Session: ...


#: Longest session id, in characters.
MAX_SESSION_ID = 128
#: The characters a session id may hold, as a human reads them.
SESSION_ID_CHARS = "A-Z a-z 0-9 . _ @ + = -"

_SESSION_ID = re.compile(r"[A-Za-z0-9._@+=-]{1,%d}" % MAX_SESSION_ID)  # noqa: UP031


def is_session_id(value: object) -> bool:
    """Whether ``value`` is a valid session id."""
    return type(value) is str and _SESSION_ID.fullmatch(value) is not None and value not in (".", "..")


def check_session_id(value: object, what: str = "session id") -> str:
    """Return ``value`` if it is a valid session id, else raise :class:`ValidationError`."""
    if is_session_id(value):
        return value  # type: ignore[return-value]
    if type(value) is not str or not value:
        raise ValidationError(f"a {what} must be a non-empty string, got {value!r}")
    shown = value if len(value) <= 40 else value[:37] + "..."
    raise ValidationError(
        f"{what} {shown!r} is not allowed: use 1 to {MAX_SESSION_ID} characters of "
        f"{SESSION_ID_CHARS}, not '.' or '..'"
    )
