"""The log backends' SPI helpers (``llmspell.plugins.events.backend``) on their own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from llmspell.errors import ConflictError, ValidationError
from llmspell.plugins.events.backend import (
    Event,
    EventCodec,
    LogQuery,
    prepare,
    read_range,
    time_key,
    time_us,
)

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def test_at_position_gives_the_bytes_of_encoding_with_the_position() -> None:
    codec = EventCodec()
    event = Event("note.added", {"text": "héllo \u0000", "n": [1, 2.5]}, stream='a "quoted" stream ✓',
                  session_id="s1", schema_version=2)
    raw = codec.encode(event)
    placed = event.with_position(event.stream, 41)
    assert codec.at_position(raw, placed.stream or "", 41) == codec.encode(placed, position=True)
    assert codec.decode(codec.at_position(raw, placed.stream or "", 41)) == placed


def test_place_numbers_a_batch_and_finds_duplicates() -> None:
    codec = EventCodec()
    stored = Event("note.added", {"n": 0}, stream="a").with_position("a", 7)
    one, two = Event("note.added", {"n": 1}, stream="a"), Event("note.added", {"n": 2}, stream="b")
    forged = Event("note.other", {"n": 9}, id=stored.id, stream="b")
    prepared = prepare(codec, [one, two, one, forged], None)
    placed = prepared.place({"a": 7, "b": 0}.__getitem__, {stored.id: stored}.get)
    assert [(e.stream, e.seq) for e in placed.result.events] == [("a", 8), ("b", 1), ("a", 8), ("a", 7)]
    assert placed.result.events[3] is stored
    assert placed.result.duplicates == {one.id, stored.id}
    assert [(new.event.id, new.stream, new.seq) for new in placed.new] == [(one.id, "a", 8), (two.id, "b", 1)]
    assert all(new.event.seq == new.seq and new.event.stream == new.stream for new in placed.new)


def test_place_checks_the_expected_last_seq_first() -> None:
    prepared = prepare(EventCodec(), [Event("note.added", {}, stream="a")], 3)
    with pytest.raises(ConflictError):
        prepared.place(lambda stream: 4, lambda event_id: None)
    assert prepared.place(lambda stream: 3, lambda event_id: None).new[0].seq == 4


def test_the_old_check_expected_still_works_with_a_deprecation_warning() -> None:
    from llmspell.plugins.events import backend

    prepared = prepare(EventCodec(), [Event("note.added", {}, stream="a")], 1)
    with pytest.warns(DeprecationWarning, match="check_last_seq"), pytest.raises(ConflictError):
        backend.check_expected(prepared, 2)
    assert "check_expected" not in backend.__all__


def test_log_query_bounds_are_half_open_and_limit_cuts_after_ordering() -> None:
    query = LogQuery.of(types="note.*", since=T0, until=T0 + timedelta(seconds=2), limit=2, reverse=True)
    assert query.matches("s", "note.added", time_us(T0)), "since is inclusive"
    assert not query.matches("s", "note.added", time_us(T0 + timedelta(seconds=2))), "until is exclusive"
    assert not query.matches("s", "other.added", time_us(T0))
    events = [Event("note.added", {"n": n}, time=T0 + timedelta(seconds=n), stream="s").with_position("s", n + 1)
              for n in range(3)]
    assert [e.payload["n"] for e in query.finish(events)] == [1, 0]
    everything = LogQuery.of()
    assert everything.types is None and everything.matches("x", "any.type", -(2**62))


@pytest.mark.parametrize(("argument", "value"), [("limit", -1), ("limit", "1"), ("limit", False),
                                                 ("since", datetime(2030, 1, 1)), ("until", 5), ("types", [5]),
                                                 ("stream", "a\nb"), ("reverse", 1)])
def test_log_query_names_a_bad_argument(argument: str, value: object) -> None:
    with pytest.raises(ValidationError, match=argument):
        LogQuery.of(**{argument: value})  # type: ignore[arg-type]


def test_time_keys_sort_like_times() -> None:
    times = [datetime(1, 1, 1, tzinfo=UTC), datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
             datetime(1970, 1, 1, tzinfo=UTC), T0, datetime(9999, 12, 31, tzinfo=UTC)]
    keys = [time_key(time_us(t)) for t in times]
    assert keys == sorted(keys) and len(set(keys)) == len(keys) and {len(k) for k in keys} == {8}


def test_read_range_is_inclusive_and_cut_at_limit_and_the_end() -> None:
    assert read_range(10) == range(1, 11)
    assert read_range(10, 4, 6) == range(4, 7)
    assert read_range(10, 2, limit=3) == range(2, 5)
    assert read_range(10, 11) == range(11, 11) and not read_range(10, 5, 4) and not read_range(0)
    assert read_range(10, 0, limit=2) == range(1, 3)  # seqs start at 1
    assert read_range(10, limit=0) == range(1, 1)
