"""The SPI of the state capability: everything its backend authors implement or need.

Backends (the defaults here, ``llmspell.contrib`` and third-party packages) import from
this module and from :mod:`llmspell.plugins.state.api`, never from the plugin's
implementation modules.

Helpers every backend uses: :func:`holds` and :func:`check_expected` (the
``expected_version`` rule), :func:`conflict`, :func:`check_batch`, :func:`plan_batch` (a
whole batch's outcome from the records it finds), :func:`prefix_upper_bound`; and
:class:`StateBackendBase`, a base class for stores with transactions that derives
``get``, ``compare_and_set`` and ``delete`` from ``get_many`` and ``batch``.

The rules, which the conformance suite checks (``StateContract``):

* a new key gets version 1 and every write adds 1; ``Put(version=n)`` forces ``n``;
* ``expected_version``: ``None`` writes whatever is there, ``0`` (``ABSENT``) requires
  that the key does not exist, ``n >= 1`` requires exactly version ``n``; anything else
  (a negative number, a non-integer) raises :class:`~llmspell.errors.ValidationError`
  before anything is read or written (:func:`check_expected`);
* a batch is all or nothing; the same key twice in one batch raises ``ValidationError``
  (:func:`check_batch`);
* ``scan`` returns keys in code-point order (UTF-8 byte order), strictly after ``after``.

Optional, for speed (the service falls back when a backend lacks them, so a backend
that predates them keeps working): ``scan_skipping(prefix, *, after, limit)`` is
``scan`` returning also the rows it could not read as ``(key, reason)``; and
``scan_prefixes(prefixes)`` returns every record of each prefix in one round trip, as
one ``(records, bad)`` per prefix in order (records in key order, ``bad`` as for
``scan_skipping``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import attrs

from llmspell.errors import ValidationError
from llmspell.plugins._values import MAX_INT64
from llmspell.plugins.state.api import ABSENT

__all__ = [
    "Record",
    "Put",
    "Delete",
    "WriteOp",
    "CasResult",
    "BatchResult",
    "StateBackend",
    "holds",
    "conflict",
    "check_batch",
    "check_expected",
    "plan_batch",
    "StateBackendBase",
    "prefix_upper_bound",
]


@attrs.frozen
class Record:
    """One stored key: its JSON bytes (the service's envelope) and its version."""

    key: str
    data: bytes
    version: int


@attrs.frozen
class Put:
    """Write ``data`` under ``key`` if ``expected_version`` holds (see the module doc).

    ``version`` forces the new version (used when importing a scope with its versions);
    ``None`` makes it the current version plus one.
    """

    key: str
    data: bytes
    expected_version: int | None = None
    version: int | None = None


@attrs.frozen
class Delete:
    """Remove ``key`` if ``expected_version`` holds; deleting a missing key is not an error."""

    key: str
    expected_version: int | None = None


WriteOp = Put | Delete


@attrs.frozen
class CasResult:
    """The outcome of one conditional write.

    On success ``ok`` is true, ``version`` is the new version (``None`` after a delete)
    and ``previous_version`` the version it replaced (``None`` for a new key). On a
    conflict ``ok`` is false, ``previous_version`` is the key's current version and
    ``current`` its current record (``None`` if it does not exist); nothing was written.
    """

    ok: bool
    version: int | None = None
    previous_version: int | None = None
    current: Record | None = None


@attrs.frozen
class BatchResult:
    """The outcome of an atomic batch: one :class:`CasResult` per operation when ``ok``.

    When an expectation fails, ``ok`` is false, nothing was written, ``failed`` is the
    index of the first failing operation and ``conflict`` its failed :class:`CasResult`.
    """

    ok: bool
    results: tuple[CasResult, ...] = ()
    failed: int | None = None
    conflict: CasResult | None = None


@runtime_checkable
class StateBackend(Protocol):
    """Versioned key/value storage of JSON bytes on flat string keys.

    Every method is a coroutine (``async def``), ``open`` and ``close`` included. Every
    method is atomic on its own; :meth:`batch` is atomic as a whole. ``persistent``
    says whether data outlives the process (``memory`` does not). A backend that shares a
    server with others isolates itself by a key prefix of its own configuration.
    """

    name: str
    persistent: bool

    async def open(self) -> None:
        """Connect or open files; called from ``llmspell_startup``."""

    async def close(self) -> None:
        """Release connections and files; called from ``llmspell_shutdown``."""

    async def get(self, key: str) -> Record | None:
        """The record of ``key``, or None when it does not exist."""
        ...

    async def get_many(self, keys: Sequence[str]) -> dict[str, Record]:
        """The records of those ``keys`` that exist (one round trip where possible)."""
        ...

    async def compare_and_set(
        self, key: str, data: bytes, expected_version: int | None = None
    ) -> CasResult:
        """Write ``data`` under ``key`` if ``expected_version`` holds (see the module doc)."""
        ...

    async def delete(self, key: str, expected_version: int | None = None) -> CasResult:
        """Remove ``key`` if ``expected_version`` holds; a missing key is deleted (``ok``)."""
        ...

    async def scan(self, prefix: str, *, after: str | None = None, limit: int = 500) -> list[Record]:
        """At most ``limit`` records whose key starts with ``prefix``, in code-point order,
        strictly after ``after`` (exclusive)."""
        ...

    async def batch(self, ops: Sequence[WriteOp]) -> BatchResult:
        """Apply every operation or none of them."""
        ...


def holds(expected: int | None, current: int | None) -> bool:
    """Whether ``expected_version`` (None: anything, 0: absent, n: exactly n) matches."""
    if expected is None:
        return True
    if expected == ABSENT:
        return current is None
    return current == expected


def conflict(current: Record | None) -> CasResult:
    """The failed :class:`CasResult` for a key whose current record is ``current``."""
    return CasResult(ok=False, previous_version=None if current is None else current.version, current=current)


def check_batch(ops: Sequence[WriteOp]) -> None:
    """Refuse a malformed batch before touching storage, with :class:`ValidationError`:
    an operation that is not a ``Put`` or ``Delete``, the same key twice, data that is not
    bytes, a forced version below 1, an expected version :func:`check_expected` refuses."""
    seen: set[str] = set()
    for i, op in enumerate(ops):
        if not isinstance(op, Put | Delete):
            raise ValidationError(f"batch operation {i} is {type(op).__name__}, not Put or Delete")
        if op.key in seen:
            raise ValidationError(f"key {op.key!r} appears more than once in one batch")
        seen.add(op.key)
        if isinstance(op, Put):
            if type(op.data) is not bytes:
                raise ValidationError(f"batch operation {i} ({op.key!r}) must carry bytes")
            if op.version is not None and op.version < 1:
                raise ValidationError(
                    f"batch operation {i} ({op.key!r}) forces version {op.version}; versions start at 1"
                )
        check_expected(op.expected_version)


def check_expected(expected: int | None) -> None:
    """Refuse an ``expected_version`` that is not None or an integer from 0 to 2**63 - 2.

    Versions are signed 64-bit integers in every backend, and the version after the
    expected one must fit too.
    """
    if expected is not None and (type(expected) is not int or not 0 <= expected < MAX_INT64):
        shown = f"{expected!r}" if type(expected) is not int or expected < 2**80 else "a larger integer"
        raise ValidationError(
            f"expected_version must be None, 0 (absent) or a version from 1 to {MAX_INT64 - 1}, got {shown}"
        )


def plan_batch(ops: Sequence[WriteOp], current: Sequence[Record | None]) -> BatchResult:
    """The outcome of the batch ``ops`` over ``current`` (the record each op's key holds now,
    None if missing), decided before anything is written.

    Raises what :func:`check_batch` raises. When an expectation fails the result has
    ``ok=False``, ``failed`` and ``conflict``, and the backend writes nothing; otherwise it
    has one :class:`CasResult` per operation, and the backend stores each ``Put`` at its
    result's ``version`` and removes each ``Delete``'s key, in the same transaction as
    the reads::

        done = plan_batch(ops, [read(op.key) for op in ops])
        for op, result in zip(ops, done.results):  # empty unless done.ok
            write(op.key, op.data, result.version) if isinstance(op, Put) else remove(op.key)
        return done
    """
    check_batch(ops)
    versions = [None if record is None else record.version for record in current]
    for i, op in enumerate(ops):
        if not holds(op.expected_version, versions[i]):
            return BatchResult(ok=False, failed=i, conflict=conflict(current[i]))
    results = []
    for op, old in zip(ops, versions, strict=True):
        if isinstance(op, Delete):
            results.append(CasResult(ok=True, previous_version=old))
        else:
            new = op.version if op.version is not None else (old or 0) + 1
            results.append(CasResult(ok=True, version=new, previous_version=old))
    return BatchResult(ok=True, results=tuple(results))


class StateBackendBase:
    """A base for state backends whose store has transactions.

    Implement ``open``, ``close``, :meth:`get_many`, ``scan`` and :meth:`batch` (one
    transaction each, :func:`plan_batch` deciding the batch); ``get``,
    ``compare_and_set`` and ``delete`` are one-key calls of them. Set ``name`` and
    ``persistent`` on the subclass.
    """

    name: str
    persistent: bool

    async def get_many(self, keys: Sequence[str]) -> dict[str, Record]:
        raise NotImplementedError

    async def batch(self, ops: Sequence[WriteOp]) -> BatchResult:
        raise NotImplementedError

    async def get(self, key: str) -> Record | None:
        return (await self.get_many([key])).get(key)

    async def compare_and_set(self, key: str, data: bytes, expected_version: int | None = None) -> CasResult:
        done = await self.batch([Put(key, data, expected_version)])
        return done.conflict or done.results[0]

    async def delete(self, key: str, expected_version: int | None = None) -> CasResult:
        done = await self.batch([Delete(key, expected_version)])
        return done.conflict or done.results[0]


def prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix``.

    Code-point order equals UTF-8 byte order, so this works for SQL ``BINARY`` collation
    and Python string comparison alike. ``None`` means there is no upper bound.
    """
    chars = list(prefix)
    while chars:
        last = ord(chars.pop())
        if last < 0x10FFFF:
            nxt = last + 1
            if 0xD800 <= nxt <= 0xDFFF:  # surrogates cannot be encoded: skip them
                nxt = 0xE000
            return "".join(chars) + chr(nxt)
    return None
