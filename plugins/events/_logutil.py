"""Helpers shared by the built-in log backends."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from llmspell.errors import ConflictError, ValidationError
from llmspell.events import Event, EventCodec, check_stream, compile_patterns

__all__ = ["EPOCH", "time_us", "from_us", "Prepared", "prepare", "check_expected", "check_range", "type_filter"]

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
        rows.append((stream, event.id, event.type, time_us(event.time), codec.encode(event)))
    only = None
    if expected_last_seq is not None:
        streams = {row[0] for row in rows}
        if len(streams) > 1:
            raise ValidationError("expected_last_seq needs every event of the batch in one stream")
        if isinstance(expected_last_seq, bool) or not isinstance(expected_last_seq, int) or expected_last_seq < 0:
            raise ValidationError(f"expected_last_seq must be an integer >= 0, got {expected_last_seq!r}")
        only = streams.pop() if streams else None
    return Prepared(events, rows, expected_last_seq, only)


def check_expected(prepared: Prepared, last_seq: int) -> None:
    if prepared.expected_last_seq is not None and prepared.expected_last_seq != last_seq:
        raise ConflictError(
            f"stream {prepared.stream}", expected=prepared.expected_last_seq, current_version=last_seq
        )


def check_range(stream: str, from_seq: int, to_seq: int | None, limit: int | None) -> None:
    check_stream(stream)
    for name, value in (("from_seq", from_seq), ("to_seq", to_seq), ("limit", limit)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValidationError(f"{name} must be an integer >= 0, got {value!r}")


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
