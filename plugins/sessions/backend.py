"""The SPI of the sessions capability: everything its backend authors implement or need.

Backends (the defaults here, ``llmspell.contrib`` and third-party packages) import from
this module and from :mod:`llmspell.plugins.sessions.api`, never from the plugin's
implementation modules.

Helpers for session backends: :func:`page` (filtering and cursor paging of a
listing), :func:`encode_cursor`, :data:`MAX_LIMIT` and :func:`conflict` (the
compare-and-set error).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Protocol, TypeVar, runtime_checkable

import orjson

from llmspell import serde
from llmspell.errors import ConflictError, IntegrityError, SchemaVersionError, ValidationError

from .api import SCHEMA_VERSION, Session, SessionPage, SessionQuery

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
    "page",
    "conflict",
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
    serde.check_schema_version("session", schema, SCHEMA_VERSION)
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

    Records are :class:`Session` values; the backend owns ``version``: ``put`` with
    ``expected_version=0`` creates (and fails if the id exists), otherwise it replaces
    only if the stored version matches, raising :class:`~llmspell.errors.ConflictError`
    (carrying the current record) when it does not. ``list`` returns newest first
    (by ``created_at``, then id) with an opaque cursor.
    """

    async def open(self) -> None:
        """Connect or open files; called at kernel startup."""

    async def get(self, session_id: str) -> Session | None: ...

    async def put(self, session: Session, *, expected_version: int) -> Session: ...

    async def delete(self, session_id: str) -> bool: ...

    async def list(self, query: SessionQuery) -> SessionPage: ...

    async def close(self) -> None: ...


MAX_LIMIT = 1000


def encode_cursor(session: Session) -> str:
    raw = orjson.dumps([session.created_at.isoformat(), session.id])
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        created, session_id = orjson.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        return str(created), str(session_id)
    except Exception:  # noqa: BLE001 - any garbage is the same user error
        raise ValidationError(f"invalid session list cursor {cursor!r}") from None


def page(sessions: Iterable[Session], query: SessionQuery) -> SessionPage:
    """Filter, order newest first, and cut one page (for backends without indexes)."""
    if not 1 <= query.limit <= MAX_LIMIT:
        raise ValidationError(f"limit must be between 1 and {MAX_LIMIT}, got {query.limit}")
    matching = sorted(
        (s for s in sessions if query.matches(s)),
        key=lambda s: (s.created_at, s.id),
        reverse=True,
    )
    if query.cursor:
        created, session_id = _decode_cursor(query.cursor)
        matching = [s for s in matching if (s.created_at.isoformat(), s.id) < (created, session_id)]
    items = tuple(matching[: query.limit])
    more = len(matching) > query.limit
    return SessionPage(items, encode_cursor(items[-1]) if more and items else None)


def conflict(session_id: str, expected: int, current: Session | None) -> ConflictError:
    return ConflictError(
        f"session:{session_id}",
        expected=expected,
        current_version=None if current is None else current.version,
        current_value=current,
    )
