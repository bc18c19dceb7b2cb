"""Helpers shared by the built-in log backends."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from llmspell.errors import ConflictError, ValidationError
from llmspell.plugins.events.api import Event, check_stream, compile_patterns
from llmspell.plugins.events.backend import EventCodec
from llmspell.serde import MAX_INT64, MAX_VALUE_BYTES

__all__ = [
    "EPOCH", "MAX_EVENT_BYTES", "time_us", "from_us", "Prepared", "prepare", "check_expected", "check_range",
    "check_seq", "check_time", "type_filter",
]

MAX_EVENT_BYTES = MAX_VALUE_BYTES + 64 * 1024
"""The largest stored event: a payload as large as the largest state value, plus its fields."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def time_us(when: datetime) -> int:
    """Microseconds since the Unix epoch (exact, for indexes and range queries)."""
    return (when - EPOCH) // _US


def from_us(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


class Prepared:
    """A batch ready to store: each event with its encoded envelope and index columns."""

    __slots__ = ("events", "expected_last_seq", "rows", "stream")

    def __init__(self, events: list[Event], rows: list[tuple[str, str, str, int, bytes]],
                 expected_last_seq: int | None, stream: str | None) -> None:
        self.events = events
        self.rows = rows
        """(stream, id, type, time_us, envelope) per event."""
        self.expected_last_seq = expected_last_seq
        self.stream = stream


def prepare(codec: EventCodec, events: Sequence[Event], expected_last_seq: int | None) -> Prepared:
    """Validate and encode a batch; raises before anything is stored."""
    if isinstance(events, Event):
        raise ValidationError("append takes a sequence of events; wrap a single event in a list")
    events = list(events)
    rows = []
    for event in events:
        if not isinstance(event, Event):
            raise ValidationError(f"append takes Event objects, got {type(event).__name__}")
        stream = event.stream
        if stream is None:
            raise ValidationError(f"event {event.id} ({event.type}) has no stream; set Event.stream before appending")
        check_stream(stream)
        raw = codec.encode(event)
        if len(raw) > MAX_EVENT_BYTES:
            raise ValidationError(
                f"event {event.id} ({event.type}) is {len(raw)} bytes as JSON; the limit is {MAX_EVENT_BYTES} "
                f"(a payload of at most {MAX_VALUE_BYTES} bytes, as for state values)"
            )
        rows.append((stream, event.id, event.type, time_us(event.time), raw))
    only = None
    if expected_last_seq is not None:
        streams = {row[0] for row in rows}
        if len(streams) > 1:
            raise ValidationError("expected_last_seq needs every event of the batch in one stream")
        check_seq("expected_last_seq", expected_last_seq)
        only = streams.pop() if streams else None
    return Prepared(events, rows, expected_last_seq, only)


def check_expected(prepared: Prepared, last_seq: int) -> None:
    if prepared.expected_last_seq is not None and prepared.expected_last_seq != last_seq:
        raise ConflictError(
            f"stream {prepared.stream}", expected=prepared.expected_last_seq, current_version=last_seq
        )


def check_seq(name: str, value: Any, minimum: int = 0) -> int:
    """A sequence number, count or limit: an integer from ``minimum`` to 2**63 - 1."""
    if type(value) is not int or not minimum <= value <= MAX_INT64:
        shown = repr(value) if type(value) is not int or abs(value) < 2**80 else "a larger integer"
        raise ValidationError(f"{name} must be an integer from {minimum} to {MAX_INT64}, got {shown}")
    return value


def check_time(name: str, value: Any) -> datetime | None:
    """None or a timezone-aware datetime (a query bound)."""
    if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
        raise ValidationError(f"{name} must be a timezone-aware datetime or None, got {value!r:.80}")
    return value


def check_range(stream: str, from_seq: int, to_seq: int | None, limit: int | None) -> None:
    check_stream(stream)
    for name, value in (("from_seq", from_seq), ("to_seq", to_seq), ("limit", limit)):
        if value is not None:
            check_seq(name, value)


def type_filter(types: str | Sequence[str] | None) -> tuple[str, list[Any], Any]:
    """SQL condition, parameters and exact Python check for a type-pattern filter.

    The SQL part narrows by exact names and literal prefixes (GLOB uses the index-free
    comparison; type names cannot contain GLOB's special characters); the returned
    matcher is applied to each row to finish the job (None: the SQL is exact).
    """
    if types is None:
        return "", [], None
    pattern = compile_patterns(types)
    if pattern.matches_all:
        return "", [], None
    clauses, params = [], []
    exact = True
    for text, prefix in zip(pattern.patterns, pattern.prefixes, strict=True):
        if "*" in text:
            clauses.append("type GLOB ?")
            params.append(prefix + "*")
            exact = False
        else:
            clauses.append("type = ?")
            params.append(text)
    return "(" + " OR ".join(clauses) + ")", params, None if exact else pattern.match
