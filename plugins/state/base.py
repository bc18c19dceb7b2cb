"""Helpers shared by the state backends: expectation checks, batch checks, prefix ranges."""

from __future__ import annotations

from collections.abc import Sequence

from llmspell.errors import ValidationError
from llmspell.plugins.state.api import ABSENT
from llmspell.plugins.state.backend import CasResult, Delete, Put, Record, WriteOp
from llmspell.serde import MAX_INT64

__all__ = ["holds", "conflict", "check_batch", "check_expected", "prefix_upper_bound"]


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
    """Refuse malformed batches before touching storage: wrong types, repeated keys."""
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
        if op.expected_version is not None and op.expected_version < 0:
            raise ValidationError(f"expected_version must be >= 0, got {op.expected_version}")


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
