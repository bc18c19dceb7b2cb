"""The SPI of the sessions capability: everything its backend authors implement or need.

Backends (the defaults here, ``llmspell.contrib`` and third-party packages) import from
this module and from :mod:`llmspell.plugins.sessions.api`, never from the plugin's
implementation modules.

Helpers for session backends: :func:`page` (filtering and cursor paging of a
listing), :func:`encode_cursor`, :data:`MAX_LIMIT` and :func:`conflict` (the
compare-and-set error), :func:`decode_cursor` (for a backend that pages from an index);
:class:`StateSessionBackend` is a whole session backend on a
state backend of its own (records as JSON, the store's versions as theirs).

The rules, which the conformance suite checks (``SessionBackendContract``):

* ``put(session, expected_version=0)`` creates (version 1); ``expected_version=n``
  replaces only the record at version ``n`` (giving ``n + 1``); otherwise
  :class:`~llmspell.errors.ConflictError` with the current version and record;
* ``list`` is newest first (``created_at``, then id), at most ``limit`` (1 to
  :data:`MAX_LIMIT`) per page, with ``next_cursor`` until the last page;
* time filters: lower bounds (``created_after``, ``active_after``) are inclusive,
  upper bounds (``created_before``, ``active_before``, ``expires_before``) exclusive,
  the half-open rule of every time filter in llmspell (see
  :meth:`~llmspell.plugins.sessions.api.SessionQuery.matches`);
* a limit outside 1 to :data:`MAX_LIMIT` raises :class:`~llmspell.errors.ValidationError`
  naming ``limit``, a cursor no listing returned one naming ``cursor`` (:func:`page`
  does both).
"""

from __future__ import annotations

import base64
import builtins
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

import attrs
import orjson

from llmspell import serde
from llmspell.errors import ConflictError, IntegrityError, SchemaVersionError, ValidationError
from llmspell.plugins._values import check_schema_version

from .api import SCHEMA_VERSION, Session, SessionPage, SessionQuery

if TYPE_CHECKING:
    from llmspell.plugins.state.backend import Record, StateBackend

__all__ = [
    # the records of the api a backend stores and returns
    "Session",
    "SessionPage",
    "SessionQuery",
    "SessionBackend",
    "decode_record",
    "decode_listed",
    "MAX_LIMIT",
    "encode_cursor",
    "decode_cursor",
    "page",
    "conflict",
    "StateSessionBackend",
]


T = TypeVar("T")


def decode_record(raw: bytes | str, version: int, where: str) -> Session:
    """A stored session record (JSON) at ``version``; :class:`IntegrityError` naming
    ``where`` (the id and the store) when it is damaged, :class:`SchemaVersionError` when
    newer code wrote it. Every session backend reads its records through this."""
    import orjson

    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise IntegrityError(f"session record {where} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise IntegrityError(f"session record {where} is not an object")
    schema = data.get("schema_version", 1)
    if type(schema) is not int:
        raise IntegrityError(f"session record {where} has no valid schema version: {schema!r}")
    check_schema_version("session", schema, SCHEMA_VERSION)
    data["version"] = version
    try:
        return serde.structure(data, Session)
    except Exception as exc:  # noqa: BLE001 - a damaged record, reported with where it is
        lines = "; ".join(serde.describe_structure_error(exc, "session"))
        raise IntegrityError(f"session record {where} is malformed: {lines}") from None


def decode_listed(
    raw: bytes | str, version: int, where: str, session_id: str, skipped: list[tuple[str, str]]
) -> Session | None:
    """:func:`decode_record` for listings: a record that cannot be decoded (damaged,
    planted, written by newer code) is appended to ``skipped`` as ``(id, reason)`` and
    None is returned, so one bad record never stops a listing. Backends put ``skipped``
    into :attr:`SessionPage.skipped`; the manager reports it."""
    try:
        return decode_record(raw, version, where)
    except (IntegrityError, SchemaVersionError) as exc:
        skipped.append((session_id, str(exc)))
        return None


@runtime_checkable
class SessionBackend(Protocol):
    """Storage of session records with compare-and-set and queries.

    Every method is a coroutine (``async def``), ``open`` and ``close`` included.
    Records are :class:`Session` values; the backend owns ``version``: ``put`` with
    ``expected_version=0`` creates (and fails if the id exists), otherwise it replaces
    only if the stored version matches, raising :class:`~llmspell.errors.ConflictError`
    (carrying the current record) when it does not. ``list`` returns newest first
    (by ``created_at``, then id) with an opaque cursor.
    """

    async def open(self) -> None:
        """Connect or open files; called at kernel startup."""

    async def get(self, session_id: str) -> Session | None:
        """The stored record, or None."""
        ...

    async def put(self, session: Session, *, expected_version: int) -> Session:
        """Store ``session`` if the stored version is ``expected_version`` (0: none); returns
        the stored record (``version`` = ``expected_version + 1``)."""
        ...

    async def delete(self, session_id: str) -> bool:
        """Remove the record; False when there was none."""
        ...

    async def list(self, query: SessionQuery) -> SessionPage:
        """One page of the records matching ``query`` (see :func:`page`)."""
        ...

    async def close(self) -> None: ...


MAX_LIMIT = 1000


def encode_cursor(session: Session) -> str:
    """The cursor of a page that ends with ``session`` (what :func:`page` hands out)."""
    raw = orjson.dumps([session.created_at.isoformat(), session.id])
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """``(created_at as ISO-8601, id)`` of the last session of the page that handed out
    ``cursor``: the next page holds the sessions before it in listing order.
    :class:`ValidationError` naming the cursor when no listing handed it out."""
    try:
        created, session_id = orjson.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        return str(created), str(session_id)
    except Exception:  # noqa: BLE001 - any garbage is the same user error
        raise ValidationError(f"invalid session list cursor {cursor!r}") from None


def page(sessions: Iterable[Session], query: SessionQuery) -> SessionPage:
    """Filter, order newest first, and cut one page (for backends without indexes).

    Raises :class:`ValidationError` naming ``limit`` for a limit outside 1 to
    :data:`MAX_LIMIT` and naming ``cursor`` for a cursor it did not hand out.
    """
    if not 1 <= query.limit <= MAX_LIMIT:
        raise ValidationError(f"limit must be between 1 and {MAX_LIMIT}, got {query.limit}")
    matching = sorted(
        (s for s in sessions if query.matches(s)),
        key=lambda s: (s.created_at, s.id),
        reverse=True,
    )
    if query.cursor:
        created, session_id = decode_cursor(query.cursor)
        matching = [s for s in matching if (s.created_at.isoformat(), s.id) < (created, session_id)]
    items = tuple(matching[: query.limit])
    more = len(matching) > query.limit
    return SessionPage(items, encode_cursor(items[-1]) if more and items else None)


def conflict(session_id: str, expected: int, current: Session | None) -> ConflictError:
    """The :class:`ConflictError` of a ``put`` whose expected version does not hold."""
    return ConflictError(
        f"session:{session_id}",
        expected=expected,
        current_version=None if current is None else current.version,
        current_value=current,
    )


class StateSessionBackend:
    """A :class:`SessionBackend` on a state backend of its own, for stores without indexes.

    Each session is a JSON record at ``prefix + id`` in ``store`` (any
    :class:`~llmspell.plugins.state.backend.StateBackend`, opened and closed with this
    backend), and the record's version is the store's version of that key, so ``put`` is
    one compare-and-set. ``list`` reads every record and pages with :func:`page`: fine for
    the thousands of sessions of one machine; a backend with indexes answers from them.
    ``where`` names the store in the error of a damaged record (by default its ``name``).

    A record is decoded once: the decoded session is kept (up to :attr:`DECODED` of them,
    the oldest forgotten first) with the version and bytes it was decoded from, and
    reused only while the store returns that version with the same bytes, so a change by
    any process (or a record deleted and created again) is decoded afresh. What ``put``
    stored is kept the same way, without decoding it.
    """

    DECODED = 10_000
    """How many decoded records are kept."""

    def __init__(self, store: StateBackend, where: str | None = None, prefix: str = "") -> None:
        self.store = store
        self.where = where or f"the {store.name} session store"
        self.prefix = prefix
        self._decoded: dict[str, tuple[int, bytes, Session]] = {}

    async def open(self) -> None:
        await self.store.open()

    async def close(self) -> None:
        await self.store.close()

    def _decode(self, record: Record | None) -> Session | None:
        if record is None:
            return None
        kept = self._decoded.get(record.key)
        if kept is not None and kept[0] == record.version and kept[1] == record.data:
            return kept[2]
        session_id = record.key.removeprefix(self.prefix)
        session = decode_record(record.data, record.version, f"{session_id!r} in {self.where}")
        self._keep(record.key, record.version, record.data, session)
        return session

    def _keep(self, key: str, version: int, data: bytes, session: Session) -> None:
        decoded = self._decoded
        decoded.pop(key, None)
        decoded[key] = (version, data, session)
        if len(decoded) > self.DECODED:
            del decoded[next(iter(decoded))]

    async def get(self, session_id: str) -> Session | None:
        return self._decode(await self.store.get(self.prefix + session_id))

    async def put(self, session: Session, *, expected_version: int) -> Session:
        stored = session.replace(version=expected_version + 1)
        key = self.prefix + session.id
        data = serde.dumps(stored)
        done = await self.store.compare_and_set(key, data, expected_version)
        if not done.ok:
            raise conflict(session.id, expected_version, self._decode(done.current))
        self._keep(key, stored.version, data, stored)
        return stored

    async def delete(self, session_id: str) -> bool:
        self._decoded.pop(self.prefix + session_id, None)
        return (await self.store.delete(self.prefix + session_id)).previous_version is not None

    async def records(
        self, after: str | None
    ) -> tuple[builtins.list[Record], builtins.list[tuple[str, str]]]:
        """One page of the store's records in key order after ``after``, and ``(key, reason)``
        of the rows the store could not read (override for a store that reports them)."""
        return await self.store.scan(self.prefix, after=after, limit=1000), []

    async def list(self, query: SessionQuery) -> SessionPage:
        found: builtins.list[Session] = []
        skipped: builtins.list[tuple[str, str]] = []  # (id, reason) of records that cannot be read
        after = None
        while True:
            records, bad = await self.records(after)
            skipped += [(key.removeprefix(self.prefix), reason) for key, reason in bad]
            for record in records:
                try:
                    session = self._decode(record)
                except (IntegrityError, SchemaVersionError) as exc:
                    skipped.append((record.key.removeprefix(self.prefix), str(exc)))
                    continue
                if session is not None:
                    found.append(session)
            if len(records) + len(bad) < 1000:
                return attrs.evolve(page(found, query), skipped=tuple(skipped))
            after = max([r.key for r in records] + [key for key, _ in bad])
