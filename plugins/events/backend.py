"""The SPI of the events capability: everything its backend authors implement or need.

Backends (the defaults here, ``llmspell.contrib`` and third-party packages) import from
this module and from :mod:`llmspell.plugins.events.api`, never from the plugin's
implementation modules.

Helpers for log backends: :func:`prepare` checks and encodes a batch, and its
:class:`Prepared` checks ``expected_last_seq`` (:meth:`Prepared.check_last_seq`) or numbers
the whole batch (:meth:`Prepared.place`); :class:`LogQuery` checks ``query``'s
arguments and applies its filters, order and limit; :func:`check_range`, :func:`check_seq`,
:func:`check_time`, :func:`type_filter` check and translate other arguments, and
:func:`read_range` gives the seqs a ``read`` returns;
:func:`time_us` / :func:`from_us` / :func:`time_key` convert stored times;
:meth:`EventCodec.at_position` adds an event's position to its envelope.

The rules, which the conformance suite checks (``EventLogContract``):

* each new event gets the next seq of its stream, from 1, with no gaps; an event whose id
  is stored (or earlier in the batch) is not stored again and comes back as first stored;
* ``expected_last_seq`` unless the stream's last seq is that number raises
  :class:`~llmspell.errors.ConflictError`; with events of several streams
  :class:`~llmspell.errors.ValidationError`; on any error nothing of the batch is stored;
* ``read`` is ``from_seq <= seq <= to_seq``, both inclusive;
* ``query``'s ``since`` is inclusive and ``until`` exclusive (``[since, until)``, the
  half-open rule of every time filter in llmspell), in (time, stream, seq) order, newest
  first with ``reverse``, cut at ``limit`` after ordering; a negative or non-integer
  ``limit``, a naive or non-datetime bound raises ``ValidationError`` naming the argument.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar, runtime_checkable

import attrs

from llmspell import serde
from llmspell.errors import ConflictError, SerializationError, ValidationError, deprecated
from llmspell.plugins._values import MAX_INT64, dumps_data
from llmspell.serde import MAX_VALUE_BYTES

from .api import (
    _OPTIONAL,
    ENVELOPE_VERSION,
    Event,
    MalformedEventError,
    StreamInfo,
    _envelope,
    check_stream,
    check_type,
    compile_patterns,
)

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = [
    # the records and checks of the api a log stores and returns
    "Event",
    "StreamInfo",
    "check_stream",
    "compile_patterns",
    "Snapshot",
    "AppendResult",
    "EventCodec",
    "type_lookup",
    "ENVELOPE_VERSION",
    "EventLog",
    "EventTransport",
    "TransportInbox",
    "MAX_EVENT_BYTES",
    "EPOCH",
    "time_us",
    "from_us",
    "Prepared",
    "Placed",
    "NewEvent",
    "prepare",
    "LogQuery",
    "time_key",
    "check_seq",
    "check_time",
    "check_range",
    "read_range",
    "type_filter",
]


T = TypeVar("T")


S = TypeVar("S")


E = TypeVar("E", bound="Event")


@attrs.frozen
class AppendResult:
    """What an append stored: each event as logged (stream and seq set), in input order.

    An event whose id was already in the log (or earlier in the same batch) is not
    stored again: its entry is the event as first stored, and its id is in
    ``duplicates``.
    """

    events: list[Event]
    duplicates: frozenset[str] = frozenset()


@attrs.frozen
class Snapshot:
    """A projection's state after folding ``stream`` up to ``seq`` (JSON data in ``state``)."""

    stream: str
    name: str
    version: int
    seq: int
    state: Any
    time: datetime
    schema_version: int = 1


@runtime_checkable
class EventLog(Protocol):
    """Append-only, per-stream sequenced storage of events (a log backend).

    Every method is a coroutine (``async def``), ``open`` and ``close`` included.
    """

    async def open(self) -> None:
        """Connect and create what is missing; called once before any other method."""

    async def close(self) -> None:
        """Release connections and files."""

    async def append(self, events: Sequence[Event], *, expected_last_seq: int | None = None) -> AppendResult:
        """Append ``events`` atomically, each to its ``stream`` (required), in order.

        Each new event gets the next sequence number of its stream (1 for the first),
        with no gaps, also when several processes append at once. An event whose id is
        already stored is skipped (see :class:`AppendResult`); the ``seq`` an event
        carries is ignored. ``expected_last_seq`` (all events in one stream) makes the
        append fail with :class:`~llmspell.errors.ConflictError` unless the stream's
        last sequence is that number (0: the stream is empty). On any error nothing of
        the batch is stored.
        """
        ...

    async def read(self, stream: str, from_seq: int = 1, to_seq: int | None = None, limit: int | None = None) -> list[Event]:
        """Events of ``stream`` with ``from_seq <= seq <= to_seq`` in order, at most ``limit``.

        A stored record that cannot be decoded raises
        :class:`~llmspell.plugins.events.api.MalformedEventError` with its stream and seq.
        """
        ...

    async def last_seq(self, stream: str) -> int:
        """The last sequence number of ``stream``; 0 when it has no events."""
        ...

    async def get(self, event_id: str) -> Event | None:
        """The stored event with this id, or None."""
        ...

    async def query(
        self,
        *,
        types: str | Sequence[str] | None = None,
        stream: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> list[Event]:
        """Events whose type matches ``types`` (patterns) and time is in ``[since, until)``.

        ``since`` is inclusive and ``until`` exclusive. Ordered by event time, then stream
        and seq (newest first with ``reverse``), then cut at ``limit``. Bad arguments
        raise :class:`~llmspell.errors.ValidationError` naming the argument
        (:meth:`LogQuery.of` checks them all).
        """
        ...

    async def streams(self, prefix: str = "") -> list[StreamInfo]:
        """Every stream whose name starts with ``prefix``, by name."""
        ...

    async def delete_stream(self, stream: str) -> int:
        """Remove a whole stream and its snapshots; returns how many events it held.

        A later append to the same name starts again at seq 1.
        """
        ...

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        """Store a projection snapshot, replacing the previous one of its stream and name."""
        ...

    async def load_snapshot(self, stream: str, name: str) -> Snapshot | None:
        """The snapshot saved for ``(stream, name)``, or None."""
        ...


@runtime_checkable
class TransportInbox(Protocol):
    """What a transport delivers into; given to it by the event service at start.

    Both methods are coroutines.
    """

    async def deliver(self, event: Event) -> None:
        """Hand an event to every local subscriber whose pattern matches."""

    async def deliver_group(self, group: str, event: Event) -> None:
        """Hand an event to this process's member of the work-sharing ``group``.

        It returns once the event is queued. An inbox may also offer ``async
        drain_group(group) -> bool``, which waits until the group's local members have
        handled what was queued (False: a member left, its queue was dropped); a
        transport that has it acknowledges events to its server only then, so work is
        never acknowledged before it is done.
        """


@runtime_checkable
class EventTransport(Protocol):
    """Carries published events to the subscribers of every process.

    Every method is a coroutine (``async def``).
    """

    async def start(self, inbox: TransportInbox) -> None:
        """Begin receiving; events are handed to ``inbox`` from now on."""

    async def publish(self, event: Event) -> None:
        """Send an event (already logged, if it has a stream) to every process, this one included."""

    async def join(self, group: str, patterns: Sequence[str]) -> None:
        """Become a member of a work-sharing group that receives events matching ``patterns``.

        Each matching event goes to ``inbox.deliver_group(group, event)`` in exactly one
        member process (``local``: this one).
        """

    async def leave(self, group: str) -> None:
        """Stop being a member of ``group`` in this process."""

    async def close(self) -> None:
        """Stop receiving and release the connection."""


#: A coroutine function receiving events (what transports and triggers call).
Deliver = Callable[["Event"], Awaitable[None]]


def type_lookup(registry: Any) -> Callable[[str], type[Event] | None]:
    """Resolve a type name to its class through a registry of ``llmspell_register_event_types``.

    The exact name wins; otherwise the nearest family registered as ``prefix.**``
    (``agent.tool.called`` tries ``agent.tool.**``, then ``agent.**``); otherwise None.
    Results are cached until the registry grows.
    """
    cache: dict[str, type[Event] | None] = {}
    size = [-1]

    def lookup(type_name: str) -> type[Event] | None:
        if len(registry) != size[0]:
            cache.clear()
            size[0] = len(registry)
        try:
            return cache[type_name]
        except KeyError:
            pass
        found: type[Event] | None = registry.find(type_name)
        parts = type_name.split(".")
        while found is None and len(parts) > 1:
            parts.pop()
            found = registry.find(".".join(parts) + ".**")
        if len(cache) < 10_000:
            cache[type_name] = found
        return found

    return lookup


class EventCodec:
    """Encodes events to JSON bytes and decodes them into registered classes.

    ``lookup(type_name)`` returns the registered class of a type or None (usually
    ``kernel.registry("event_type").find``); it is consulted on every decode, so types
    registered later are honoured.
    """

    def __init__(self, lookup: Callable[[str], type[Event] | None] | None = None) -> None:
        from llmspell.plugins.events.api import Event

        self._lookup = lookup or (lambda _name: None)
        self._event = Event

    @classmethod
    def for_kernel(cls, kernel: Kernel) -> EventCodec:
        """The codec of a kernel: classes from its ``event type`` registry (families included)."""
        return cls(type_lookup(kernel.registry("event_type")))

    def cls_for(self, type_name: str) -> type[Event]:
        """The class events of ``type_name`` are read back as."""
        return self._lookup(type_name) or self._event

    @staticmethod
    def envelope(event: Event, *, position: bool = False) -> dict[str, Any]:
        """The envelope of ``event`` as JSON-safe data (checked)."""
        data = _envelope(event, position)
        serde.check_json(data)
        return data

    def encode(self, event: Event, *, position: bool = False) -> bytes:
        """JSON bytes of ``event``; :class:`SerializationError` if its payload is not JSON data."""
        return dumps_data(_envelope(event, position))

    @staticmethod
    def at_position(raw: bytes, stream: str, seq: int) -> bytes:
        """``raw`` (from :meth:`encode` without a position, or :func:`prepare`) with the
        event's ``stream`` and ``seq`` added, byte for byte what ``encode(event,
        position=True)`` gives for the event placed there, without encoding it again. A log
        that keeps one value per event stores this and reads it with ``decode(value)``."""
        return b"%b,\"stream\":%b,\"seq\":%d}" % (raw[:-1], dumps_data(stream), seq)

    def decode(self, raw: bytes | str, stream: str | None = None, seq: int | None = None) -> Event:
        """The event stored as ``raw`` at ``seq`` of ``stream`` (or carried with its position)."""
        try:
            data = serde.loads(raw)
        except ValueError as exc:
            raise MalformedEventError(stream, seq, f"not JSON: {exc}") from None
        return self.from_data(data, stream, seq)

    def from_data(self, data: Any, stream: str | None = None, seq: int | None = None) -> Event:
        """Build an event from envelope data; :class:`MalformedEventError` if it is not one."""
        if type(data) is not dict:
            raise MalformedEventError(stream, seq, f"expected a JSON object, got {type(data).__name__}")
        try:
            version = data.get("v")
            if version != ENVELOPE_VERSION:
                if type(version) is int and version > ENVELOPE_VERSION:
                    raise ValueError(f"envelope version {version} is newer than this code reads ({ENVELOPE_VERSION})")
                raise ValueError(f"unknown envelope version {version!r}")
            if len(data) > 5 and not _KNOWN.issuperset(data):
                raise ValueError(f"unknown key(s) {', '.join(sorted(set(data) - _KNOWN))}")
            type_name = check_type(data["type"])
            payload = data["payload"]
            if type(payload) is not dict:
                raise ValueError(f"payload must be an object, got {type(payload).__name__}")
            event_id = data["id"]
            source = data.get("source", "")
            if type(event_id) is not str or type(source) is not str:
                raise ValueError("id and source must be strings")
            session_id, user_id, correlation_id, causation_id = (data.get(key) for key in _OPTIONAL)
            for value in (session_id, user_id, correlation_id, causation_id):
                if value is not None and type(value) is not str:
                    raise ValueError(f"ids must be strings or null, got {value!r}")
            version_ = data.get("schema_version", 1)
            if type(version_) is not int:
                raise ValueError(f"schema_version must be an integer, got {version_!r}")
            if "seq" in data and stream is None:
                stream, seq = data["stream"], data["seq"]
                if (stream is not None and type(stream) is not str) or (seq is not None and type(seq) is not int):
                    raise ValueError(f"bad position: stream {stream!r}, seq {seq!r}")
            when = _time_in(data["time"], datetime)
        except KeyError as exc:
            raise MalformedEventError(stream, seq, f"missing key {exc.args[0]!r}") from None
        except (TypeError, ValueError, SerializationError) as exc:
            raise MalformedEventError(stream, seq, str(exc)) from None
        cls = self._lookup(type_name) or self._event
        return cls(type_name, payload, event_id, when, source, session_id, user_id, correlation_id, causation_id,
                   stream, seq, version_)


_time_in = serde.converter.get_structure_hook(datetime)


_KNOWN = frozenset({"v", "id", "type", "time", "payload", "source", "schema_version", "stream", "seq", *_OPTIONAL})


MAX_EVENT_BYTES = MAX_VALUE_BYTES + 64 * 1024

"""The largest stored event: a payload as large as the largest state value, plus its fields."""


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


_US = timedelta(microseconds=1)


def time_us(when: datetime) -> int:
    """Microseconds since the Unix epoch (exact, for indexes and range queries)."""
    return (when - EPOCH) // _US


def from_us(value: int) -> datetime:
    """The time ``value`` microseconds after the Unix epoch (UTC)."""
    return EPOCH + timedelta(microseconds=value)


def time_key(value: datetime | int) -> bytes:
    """Eight bytes that sort as the times do (a datetime, or microseconds since the epoch;
    also before 1970), for stores that order their keys as bytes."""
    return ((time_us(value) if isinstance(value, datetime) else value) + 2**63).to_bytes(8, "big")


class NewEvent(NamedTuple):
    """An event :meth:`Prepared.place` numbered, to store."""

    event: Event
    """The event with its ``stream`` and ``seq`` set."""
    stream: str
    seq: int
    raw: bytes
    """Its envelope, without the position (:meth:`EventCodec.at_position` adds it)."""


@attrs.frozen
class Placed:
    """A batch numbered by :meth:`Prepared.place`: what to store and what to return."""

    result: AppendResult
    """What ``append`` returns."""
    new: list[NewEvent]
    """The events to store, in order."""


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
        """The one stream of the batch when ``expected_last_seq`` is given, else None."""

    def check_last_seq(self, last_seq: int) -> None:
        """Raise :class:`ConflictError` unless ``expected_last_seq`` (when given) is
        ``last_seq``, the stream's last seq read in the append's transaction."""
        if self.expected_last_seq is not None and self.expected_last_seq != last_seq:
            raise ConflictError(f"stream {self.stream}", expected=self.expected_last_seq, current_version=last_seq)

    def place(self, last_seq: Callable[[str], int], stored: Callable[[str], Event | None]) -> Placed:
        """Number the batch, for a store that reads and writes in one transaction.

        ``last_seq(stream)`` (0: empty) and ``stored(event_id)`` (the stored event or
        None) read the store inside that transaction. Checks ``expected_last_seq`` first
        (:meth:`check_last_seq`); then each new event gets the next seq of its stream, and
        an event whose id is stored, or earlier in the batch, is a duplicate: returned as
        first stored, in ``result.duplicates``, not in ``new``. Store ``new`` and return
        ``result``.
        """
        if self.stream is not None:
            self.check_last_seq(last_seq(self.stream))
        out: list[Event] = []
        new: list[NewEvent] = []
        duplicates: set[str] = set()
        seen: dict[str, Event] = {}
        last: dict[str, int] = {}
        for event, (stream, event_id, _, _, raw) in zip(self.events, self.rows, strict=True):
            first = seen[event_id] if event_id in seen else stored(event_id)
            if first is not None:
                duplicates.add(event_id)
                out.append(first)
                continue
            seq = last[stream] = (last[stream] if stream in last else last_seq(stream)) + 1
            seen[event_id] = placed = event.with_position(stream, seq)
            new.append(NewEvent(placed, stream, seq, raw))
            out.append(placed)
        return Placed(AppendResult(out, frozenset(duplicates)), new)


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


def _check_expected(prepared: Prepared, last_seq: int) -> None:
    deprecated(
        "llmspell.plugins.events.backend.check_expected(prepared, last_seq) is deprecated: "
        "use prepared.check_last_seq(last_seq); it goes in the next release"
    )
    prepared.check_last_seq(last_seq)


def __getattr__(name: str) -> Any:
    if name == "check_expected":  # renamed: one check_expected, the state SPI's
        return _check_expected
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    """Check ``read``'s arguments: ValidationError naming the bad one."""
    check_stream(stream)
    for name, value in (("from_seq", from_seq), ("to_seq", to_seq), ("limit", limit)):
        if value is not None:
            check_seq(name, value)


def read_range(last_seq: int, from_seq: int = 1, to_seq: int | None = None, limit: int | None = None) -> range:
    """The seqs ``read(stream, from_seq, to_seq, limit)`` returns from a stream whose last seq
    is ``last_seq``: ``from_seq <= seq <= to_seq``, both inclusive, at most ``limit``."""
    start = max(from_seq, 1)  # seqs start at 1
    stop = last_seq if to_seq is None else min(to_seq, last_seq)
    if limit is not None:
        stop = min(stop, start + limit - 1)
    return range(start, stop + 1)


@attrs.frozen
class LogQuery:
    """The arguments of :meth:`EventLog.query`, checked, and the rules every log applies.

    ``since`` (inclusive) and ``until`` (exclusive) are in microseconds since the epoch
    (:func:`time_us`), the whole time line when not given; ``types`` matches a type name
    (None: every type). A log narrows by what it can index, then lets :meth:`matches`
    decide on each stored event and :meth:`finish` order and cut the result.
    """

    types: Callable[[str], bool] | None
    stream: str | None
    since: int
    until: int
    limit: int | None
    reverse: bool

    @classmethod
    def of(
        cls,
        *,
        types: str | Sequence[str] | None = None,
        stream: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> LogQuery:
        """Check ``query``'s arguments, raising :class:`ValidationError` naming the bad one:
        ``types`` a pattern or a list of them, ``stream`` a stream name, ``since`` and
        ``until`` timezone-aware datetimes, ``limit`` an integer from 0, ``reverse`` a bool."""
        if types is not None and (
            not isinstance(types, str | Sequence) or not all(isinstance(t, str) for t in types)
        ):
            raise ValidationError(f"types must be a type pattern or a list of them, got {types!r:.60}")
        pattern = None if types is None else compile_patterns(types)
        if stream is not None:
            check_stream(stream)
        low, high = check_time("since", since), check_time("until", until)
        if limit is not None:
            check_seq("limit", limit)
        if type(reverse) is not bool:
            raise ValidationError(f"reverse must be True or False, got {reverse!r:.60}")
        return cls(
            None if pattern is None or pattern.matches_all else pattern.match,
            stream,
            -(2**63) if low is None else time_us(low),
            2**63 - 1 if high is None else time_us(high),
            limit,
            reverse,
        )

    def matches(self, stream: str, type_name: str, when: int) -> bool:
        """Whether an event of ``stream`` and ``type_name`` at ``when`` (microseconds) is wanted."""
        return (
            self.since <= when < self.until
            and (self.stream is None or stream == self.stream)
            and (self.types is None or self.types(type_name))
        )

    def finish(self, events: Iterable[Event]) -> list[Event]:
        """The wanted ``events`` in query order (time, stream, seq; reversed with
        ``reverse``), at most ``limit``: the whole answer of a log that cannot order them."""
        wanted = [e for e in events if self.matches(e.stream or "", e.type, time_us(e.time))]
        wanted.sort(key=lambda e: (e.time, e.stream or "", e.seq or 0), reverse=self.reverse)
        return wanted if self.limit is None else wanted[: self.limit]


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
