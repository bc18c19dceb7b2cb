"""The public contract of the events capability: what users and other plugins call.

Events: the event model and the contract of the event service, log and transport.

The event service (``kernel.events``) is provided by a plugin (the default one is
``llmspell.plugins.events``); its append-only log is an :class:`EventLog` chosen with
``[events] backend`` and its bus transport an :class:`EventTransport` chosen with
``[events] transport``. ``docs/events.md`` is the guide.

An :class:`Event` is immutable. Its ``type`` is a dotted name (see
:mod:`llmspell.plugins.events.api` for names and patterns); a *typed* event is an attrs subclass of
``Event`` registered for one type name with ``llmspell_register_event_types``. Typed
classes add no fields: they name the type, document and check the payload keys and give
typed access to them (:class:`payload_field`), so a typed event and a plain one are
stored identically and an event of a type the reader does not know is read back as a
plain ``Event`` with nothing lost.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar, overload, runtime_checkable

import attrs

from llmspell import serde
from llmspell.errors import IntegrityError, SerializationError, ValidationError
from llmspell.ids import new_id
from llmspell.serde import check_json, utcnow

if TYPE_CHECKING:
    from llmspell.plugins.events.backend import EventLog

__all__ = [
    "KernelEvent",
    "PluginEvent",
    "AgentEvent",
    "ToolEvent",
    "ModelEvent",
    "StateEvent",
    "SessionEvent",
    "ArtifactEvent",
    "WorkflowEvent",
    "HookEvent",
    "KernelStarted",
    "KernelStopping",
    "StateChanged",
    "WorkflowStarted",
    "WorkflowStep",
    "WorkflowFinished",
    "WorkflowFailed",
    "HookBreaker",
    "FAMILIES",
    "SYSTEM_TYPES",
    "Event",
    "state_projection",
    "payload_field",
    "check_event_class",
    "Projection",
    "ProjectionResult",
    "StreamInfo",
    "MalformedEventError",
    "TopicPattern",
    "check_type",
    "check_stream",
    "compile_patterns",
    "EventService",
    "Subscription",
    "TriggerInfo",
    "Triggers",
    "Handler",
]


T = TypeVar("T")


S = TypeVar("S")


E = TypeVar("E", bound="Event")


@attrs.frozen
class Event:
    """One thing that happened, with standard metadata.

    ``id`` is a UUIDv7 (time-ordered, unique across processes); ``time`` is UTC;
    ``stream`` and ``seq`` are set by the log when the event is appended (``seq`` counts
    1, 2, 3 ... without gaps within a stream); ``schema_version`` is the version of the
    payload's shape for this type. The payload is JSON data (dicts, lists, strings,
    numbers, booleans, None).
    """

    type: str
    payload: dict[str, Any] = attrs.Factory(dict)
    id: str = attrs.field(factory=new_id)
    time: datetime = attrs.field(factory=utcnow)
    source: str = ""
    session_id: str | None = None
    user_id: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    stream: str | None = None
    seq: int | None = None
    schema_version: int = 1

    #: The type name a typed subclass stands for (None on the generic ``Event``).
    TYPE: ClassVar[str | None] = None
    #: Payload keys a typed event must carry when it is published.
    REQUIRED: ClassVar[tuple[str, ...]] = ()
    #: The current payload schema version of a typed event.
    VERSION: ClassVar[int] = 1

    @classmethod
    def create(cls: builtins.type[E], payload: Mapping[str, Any] | None = None, **meta: Any) -> E:
        """Build a typed event: ``StateChanged.create({...}, session_id=sid)``."""
        if cls.TYPE is None:
            raise ValidationError(f"{cls.__name__}.create needs a typed event class; use Event(type, payload)")
        meta.setdefault("schema_version", cls.VERSION)
        event = cls(cls.TYPE, dict(payload or {}), **meta)
        event.check()
        return event

    def check(self) -> None:
        """Raise :class:`ValidationError` if a payload key of a typed event is missing."""
        if self.REQUIRED:
            missing = [k for k in self.REQUIRED if k not in self.payload]
            if missing:
                raise ValidationError(
                    f"event {self.type!r} needs payload key(s) {', '.join(missing)}; "
                    f"got {', '.join(sorted(self.payload)) or 'none'}"
                )

    def with_position(self: E, stream: str | None, seq: int | None) -> E:
        """A copy placed at ``seq`` of ``stream`` (what a log returns after appending)."""
        return type(self)(
            self.type, self.payload, self.id, self.time, self.source, self.session_id, self.user_id,
            self.correlation_id, self.causation_id, stream, seq, self.schema_version,
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe data of every field (stream and seq included)."""
        data = _envelope(self, True)
        check_json(data)
        return data


class payload_field(Generic[T]):
    """Typed read access to one payload key of a typed event.

    ``scope = payload_field[str]("scope")`` in a subclass makes ``event.scope`` return
    ``event.payload.get("scope", default)``. Not an attrs field: nothing changes in storage.
    """

    def __init__(self, key: str | None = None, default: T | None = None, doc: str = "") -> None:
        self.key = key or ""
        self.default = default
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        if not self.key:
            self.key = name

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> payload_field[T]: ...
    @overload
    def __get__(self, obj: Event, objtype: type | None = None) -> T | None: ...
    def __get__(self, obj: Event | None, objtype: type | None = None) -> T | payload_field[T] | None:
        if obj is None:
            return self
        value: T | None = obj.payload.get(self.key, self.default)
        return value


def check_event_class(type_name: str, cls: object) -> type[Event]:
    """Validate a registration of ``llmspell_register_event_types``; return the class.

    ``type_name`` is a type (``agent.started``) or a family (``agent.**``): events of the
    family with no class of their own are read back as the family's class.
    """
    check_type(type_name.removesuffix(".**") if isinstance(type_name, str) else type_name)
    if not (isinstance(cls, type) and issubclass(cls, Event)):
        raise ValidationError(f"event type {type_name!r}: {cls!r} is not a subclass of llmspell.plugins.events.api.Event")
    extra = {f.name for f in attrs.fields(cls)} - {f.name for f in attrs.fields(Event)}
    if extra:
        raise ValidationError(
            f"event type {type_name!r}: {cls.__name__} adds field(s) {', '.join(sorted(extra))}; typed "
            "events keep their data in the payload (use payload_field for typed access)"
        )
    if cls.TYPE is not None and cls.TYPE != type_name and not type_name.endswith(".**"):
        raise ValidationError(f"event class {cls.__name__} stands for {cls.TYPE!r}, not {type_name!r}")
    return cls


def _identity(value: Any) -> Any:
    return value


@attrs.frozen
class Projection(Generic[S]):
    """A deterministic fold of a stream into a state.

    ``apply(state, event) -> state`` must depend only on its arguments (no clock, no
    randomness, no I/O), so that folding the same events always gives the same state.
    It may change ``state`` in place and return it. ``types`` limits the events passed
    to ``apply`` (patterns; empty: all). ``dump``/``load`` turn the state into JSON data
    and back for snapshots; bump ``version`` when ``apply`` or the state's shape
    changes, and snapshots made by another version are ignored.
    """

    name: str
    initial: Callable[[], S]
    apply: Callable[[S, Event], S]
    types: tuple[str, ...] = ()
    version: int = 1
    dump: Callable[[S], Any] = _identity
    load: Callable[[Any], S] = _identity

    def matches(self) -> TopicPattern | None:
        return compile_patterns(self.types) if self.types else None


#: A subscriber: called with each event, in order; may be sync or async.
Handler = Callable[["Event"], Any]


@attrs.frozen
class StreamInfo:
    """One stream of the log."""

    name: str
    last_seq: int
    last_time: datetime | None = None


@attrs.frozen
class ProjectionResult(Generic[S]):
    """The state of a projection, the last sequence folded and how it was reached."""

    state: S
    seq: int
    snapshot_seq: int = 0
    """The sequence of the snapshot the fold started from (0: from the beginning)."""
    applied: int = 0
    """Events passed to ``apply`` in this run."""


@runtime_checkable
class Subscription(Protocol):
    """A handler attached to the bus with its own bounded queue and counters."""

    id: str
    name: str
    pattern: Any
    policy: str
    maxsize: int
    delivered: int
    dropped: int
    errors: int

    @property
    def pending(self) -> int: ...

    @property
    def active(self) -> bool: ...

    def unsubscribe(self) -> None:
        """Stop: the handler is not called again; queued events are discarded."""

    async def drain(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 - the documented API takes a timeout
        """Wait until every queued event has been handled."""


class TriggerInfo(Protocol):
    """A registered trigger (see :class:`Triggers`); its counters come from its subscription."""

    @property
    def name(self) -> str: ...

    @property
    def patterns(self) -> tuple[str, ...]: ...

    @property
    def group(self) -> str | None:
        """The work-sharing group it belongs to, or None (every process handles every event)."""
        ...

    @property
    def fired(self) -> int:
        """Events handled."""
        ...

    @property
    def errors(self) -> int:
        """Events whose handler raised."""
        ...


class Triggers(Protocol):
    """Handlers and agents run for matching events, by name (``kernel.events.triggers``).

    A trigger added with a ``group`` joins that work-sharing group at the transport: with a
    consumer-group transport each event of the group goes to one process of it.
    """

    def add(
        self,
        pattern: str | Sequence[str],
        handler: Handler,
        *,
        name: str | None = None,
        group: str | None = None,
        predicate: Callable[[Event], bool] | None = None,
        stream: str | None = None,
        policy: str | None = None,
        maxsize: int | None = None,
    ) -> TriggerInfo:
        """Run ``handler(event)`` (sync or async) for matching events; returns the trigger."""
        ...

    def on(self, pattern: str | Sequence[str], **options: Any) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`add`."""
        ...

    def agent(
        self,
        pattern: str | Sequence[str],
        agent: Any,
        *,
        input: Callable[[Event], Any] | None = None,
        options: Mapping[str, Any] | Callable[[Event], Mapping[str, Any]] | None = None,
        reply: str | None = None,
        name: str | None = None,
        **trigger_options: Any,
    ) -> TriggerInfo:
        """Run ``agent`` (an instance or a registered name) with ``kernel.run`` for matching
        events; with ``reply``, publish its output as a ``reply`` event caused by the event."""
        ...

    def remove(self, name: str) -> None:
        """Remove a trigger by name (its queued events are discarded)."""
        ...

    def get(self, name: str) -> TriggerInfo: ...

    def __iter__(self) -> Iterator[TriggerInfo]: ...

    def __len__(self) -> int: ...

    def __contains__(self, name: object) -> bool: ...

    async def join_all(self) -> None:
        """Join every group at the transport, and wait until triggers added since have joined."""
        ...


@runtime_checkable
class EventService(Protocol):
    """Publish, subscribe, read, replay and project events (``kernel.events``).

    The default implementation is ``llmspell.plugins.events.EventBus``; see
    ``docs/events.md`` for the behaviour every implementation must keep.
    """

    @property
    def log(self) -> EventLog:
        """The log backend (``[events] backend``): appends that keep the events' ids and
        sequence numbers (a session import) and tools that read raw records use it."""
        ...

    @property
    def triggers(self) -> Triggers:
        """The triggers of this service: handlers and agents run for matching events."""
        ...

    async def publish(
        self,
        event: Event | str,
        payload: Any = None,
        *,
        source: str = "",
        session_id: str | None = None,
        user_id: str | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        stream: str | None = None,
        cause: Event | None = None,
    ) -> Event:
        """Publish an event (or build one from a type and a payload); returns it as logged.

        The stream is ``stream``, else the event's, else its session id, else (for the
        types of ``[events] log_unscoped``) the system stream; with a stream the event is
        appended to the log before it is delivered. ``cause`` fills the causation and
        correlation ids and the session and user from the event this one reacts to.
        """
        ...

    async def publish_many(self, events: Sequence[Event | tuple[str, Mapping[str, Any]]]) -> list[Event]:
        """Publish several events; those with a stream are appended in one atomic batch."""
        ...

    def subscribe(
        self,
        pattern: str | Sequence[str],
        handler: Handler,
        *,
        policy: str | None = None,
        maxsize: int | None = None,
        name: str | None = None,
        stream: str | None = None,
        group: str | None = None,
    ) -> Subscription:
        """Attach ``handler`` (sync or async) to events matching ``pattern``; see :class:`Subscription`."""
        ...

    def unsubscribe(self, subscription: Subscription) -> None: ...

    async def wait_for(
        self,
        pattern: str | Sequence[str],
        predicate: Callable[[Event], bool] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the documented API takes a timeout
        *,
        stream: str | None = None,
    ) -> Event:
        """The next matching event delivered from now on; ``DeadlineExceeded`` after ``timeout``."""
        ...

    def read(
        self, stream: str, from_seq: int = 1, to_seq: int | None = None, *,
        limit: int | None = None, malformed: str = "raise",
    ) -> AsyncIterator[Event]:
        """The logged events of ``stream`` in order (``malformed="skip"`` skips unreadable records)."""
        ...

    def tail(
        self, stream: str | None = None, *, types: str | Sequence[str] | None = None, last: int = 10,
        follow: bool = False, poll_interval: float | None = None,
    ) -> AsyncIterator[Event]:
        """The last ``last`` logged events, then (``follow``) new ones from any process."""
        ...

    async def query(
        self, types: str | Sequence[str] | None = None, *, stream: str | None = None,
        since: datetime | None = None, until: datetime | None = None, limit: int | None = None,
        reverse: bool = False,
    ) -> list[Event]:
        """Logged events by type pattern and time range ``[since, until)``, by time."""
        ...

    async def get(self, event_id: str) -> Event | None: ...

    async def replay(
        self, stream: str, handler: Handler | Subscription, *, from_seq: int = 1, to_seq: int | None = None,
        types: str | Sequence[str] | None = None, malformed: str = "raise",
    ) -> int:
        """Give the stored events of ``stream`` to a handler or a subscription, in order."""
        ...

    async def project(
        self, stream: str, projection: Projection[S], *, to_seq: int | None = None,
        snapshot: bool = True, snapshot_every: int | None = None,
    ) -> ProjectionResult[S]:
        """Fold ``stream`` into ``projection``'s state, from its latest snapshot."""
        ...

    async def last_seq(self, stream: str) -> int: ...

    async def streams(self, prefix: str = "") -> list[StreamInfo]: ...

    async def delete_stream(self, stream: str) -> int:
        """Delete a whole stream (a deleted session's history) and its snapshots."""
        ...

    async def flush(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 - the documented API takes a timeout
        """Wait until every subscriber has handled every event queued so far."""
        ...

    def stats(self) -> Mapping[str, Any]: ...

    def wants(self, type_name: str, *, session_id: str | None = None, stream: str | None = None) -> bool:
        """Whether an event of this type could reach anything (log, subscriber, hook,
        transport) if it were published now: a publisher may skip building one that would not."""
        ...

    async def live(self, stream: str, projection: Projection[S], **options: Any) -> Any:
        """A projection of ``stream`` kept up to date from the bus (started; close it when done)."""
        ...

    def workflow(self, name: str, **options: Any) -> Any:
        """A workflow run that emits its started, step and finished events here."""
        ...

    @property
    def malformed(self) -> Sequence[str]:
        """Records that could not be read and were skipped (``malformed="skip"``)."""
        ...


_SEGMENT = r"[A-Za-z0-9_\-]+"


_TYPE_RE = re.compile(rf"{_SEGMENT}(?:\.{_SEGMENT})*")


MAX_TYPE_LENGTH = 200


_valid_types: set[str] = set()


def check_type(name: object) -> str:
    """Return ``name`` if it is a valid event type name, else raise :class:`ValidationError`."""
    if name in _valid_types:
        return name
    if not isinstance(name, str):
        raise ValidationError(f"an event type must be a string, got {type(name).__name__} {name!r}")
    if len(name) > MAX_TYPE_LENGTH or not _TYPE_RE.fullmatch(name):
        raise ValidationError(
            f"invalid event type {name!r}: use dotted segments of letters, digits, '_' and '-' "
            f"(like 'agent.started'), at most {MAX_TYPE_LENGTH} characters"
        )
    if len(_valid_types) < 100_000:
        _valid_types.add(name)
    return name


class TopicPattern:
    """One or more compiled topic patterns; ``match(type_name) -> bool``."""

    __slots__ = ("_exact", "_regex", "patterns", "prefixes")

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns: tuple[str, ...] = tuple(patterns)
        if not self.patterns:
            raise ValidationError("at least one topic pattern is needed")
        exact: set[str] = set()
        regexes: list[str] = []
        prefixes: list[str] = []
        for pattern in self.patterns:
            segments = _split(pattern)
            if "*" not in segments and "**" not in segments:
                exact.add(pattern)
                prefixes.append(pattern)
                continue
            literal = []
            for seg in segments:
                if seg in ("*", "**"):
                    break
                literal.append(seg)
            prefixes.append(".".join(literal) + "." if literal else "")
            regexes.append(".".join(_segment_regex(s) for s in segments))
        self._exact = frozenset(exact)
        self._regex = re.compile("|".join(f"(?:{r})" for r in regexes)) if regexes else None
        self.prefixes: tuple[str, ...] = tuple(prefixes)
        """Literal prefix of each pattern (``agent.`` for ``agent.*``): index hints for backends."""

    @property
    def matches_all(self) -> bool:
        return "" in self.prefixes

    def match(self, type_name: str) -> bool:
        """Whether ``type_name`` matches any of the patterns."""
        if type_name in self._exact:
            return True
        return self._regex is not None and self._regex.fullmatch(type_name) is not None

    __call__ = match

    def __repr__(self) -> str:
        return f"TopicPattern({', '.join(self.patterns)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TopicPattern) and other.patterns == self.patterns

    def __hash__(self) -> int:
        return hash(self.patterns)


def _split(pattern: object) -> list[str]:
    if not isinstance(pattern, str) or not pattern:
        raise ValidationError(f"a topic pattern must be a non-empty string, got {pattern!r}")
    segments = pattern.split(".")
    for seg in segments:
        if seg in ("*", "**"):
            continue
        if "*" in seg or not re.fullmatch(_SEGMENT, seg):
            raise ValidationError(
                f"invalid topic pattern {pattern!r}: segments are names, '*' (one segment) "
                "or '**' (one or more segments), separated by dots"
            )
    return segments


def _segment_regex(segment: str) -> str:
    if segment == "*":
        return r"[^.]+"
    if segment == "**":
        return r"[^.]+(?:\.[^.]+)*"
    return re.escape(segment)


@lru_cache(maxsize=1024)
def _compile(patterns: tuple[str, ...]) -> TopicPattern:
    return TopicPattern(patterns)


def compile_patterns(patterns: str | Iterable[str] | TopicPattern) -> TopicPattern:
    """A :class:`TopicPattern` from one pattern, several, or an already compiled one."""
    if isinstance(patterns, TopicPattern):
        return patterns
    if isinstance(patterns, str):
        return _compile((patterns,))
    return _compile(tuple(patterns))


MAX_STREAM_LENGTH = 512


def check_stream(name: object) -> str:
    """Return ``name`` if it can name a stream (a non-empty string without control characters)."""
    if type(name) is not str or not name or len(name) > MAX_STREAM_LENGTH or not name.isprintable():
        raise ValidationError(
            f"invalid stream name {name!r}: use a non-empty printable string of at most "
            f"{MAX_STREAM_LENGTH} characters"
        )
    return name


_OPTIONAL = ("session_id", "user_id", "correlation_id", "causation_id")


class MalformedEventError(IntegrityError):
    """A stored or received event cannot be read; names its stream and sequence number."""

    def __init__(self, stream: str | None, seq: int | None, reason: str) -> None:
        self.stream = stream
        self.seq = seq
        self.reason = reason
        where = f"stream {stream!r} seq {seq}" if stream is not None else "an event without a stream"
        super().__init__(f"malformed event at {where}: {reason}")


# -- the envelope: how an event is written down (the log's codec reads it back) ------------

ENVELOPE_VERSION = 1
"""The version of the stored event envelope (``"v"``); a newer one is refused when read."""

_time_out = serde.converter.get_unstructure_hook(datetime)


def _envelope(event: Event, position: bool) -> dict[str, Any]:
    """The envelope of ``event`` as data (``position``: with its stream and seq)."""
    when = event.time
    data: dict[str, Any] = {
        "v": ENVELOPE_VERSION,
        "id": event.id,
        "type": check_type(event.type),
        "time": when.isoformat() if when.tzinfo is UTC else _time_out(when),
        "payload": event.payload,
    }
    if type(event.payload) is not dict:
        raise SerializationError(f"event payload must be a dict, not {type(event.payload).__name__}", path="$.payload")
    if event.source:
        data["source"] = event.source
    for key in _OPTIONAL:
        value = getattr(event, key)
        if value is not None:
            data[key] = value
    if event.schema_version != 1:
        data["schema_version"] = event.schema_version
    if position:
        data["stream"] = event.stream
        data["seq"] = event.seq
    return data


# -- state.changed: state rebuilt from its events ---------------------------------------


def _apply_state(state: dict[str, Any], event: Event) -> dict[str, Any]:
    payload = event.payload
    scope, key = payload.get("scope"), payload.get("key")
    if not isinstance(scope, str) or not isinstance(key, str):
        return state
    owner = payload.get("owner") or ""
    bucket = state.setdefault(scope, {}).setdefault(str(owner), {})
    current = bucket.get(key)
    version = payload.get("new_version")
    if current is not None:
        held = current.get("seq")
        if event.seq is not None and held is not None:
            if event.seq <= held:
                return state  # folded already (or older): applying twice changes nothing
        elif isinstance(version, int) and isinstance(current.get("version"), int) and current["version"] >= version:
            return state
    entry: dict[str, Any] = {"version": version, "seq": event.seq}
    if payload.get("deleted"):
        entry["deleted"] = True
    else:
        entry["value"] = payload.get("value")
    bucket[key] = entry
    return state


def state_projection(name: str = "state") -> Projection[dict[str, Any]]:
    """The projection that folds ``state.changed`` events back into the state they wrote;
    sessions rebuild and snapshot their state with it.

    The state is ``{scope: {owner: {key: {"version": n, "seq": s, "value": v}}}}`` where
    ``seq`` is the stream position of the event that wrote it; a deleted key keeps
    ``{"version": n, "seq": s, "deleted": True}``. An event at or before the position
    already held for its key is ignored, so folding an event twice (or an older one
    again) changes nothing; events without a position fall back to comparing
    ``new_version``. :func:`llmspell.plugins.events.state_values` flattens the state to
    ``{(scope, owner, key): value}``. See :mod:`llmspell.plugins.events._projections`.
    """
    return Projection(name=name, initial=dict, apply=_apply_state, types=("state.changed",), version=1)


# -- the typed system events: kernel, plugin, agent, tool, model, state, session, artifact,
# workflow and hook events. Each family has a base class registered for ``<family>.**``, so an
# event of that family whose exact type has no class of its own (``agent.paused``) is still read
# back as the family class; each known type has a class registered under its name. Typed classes
# add no fields: the payload keys are read with ``payload_field`` and only the workflow and hook
# events, which the events plugin and the kernel publish themselves, insist on theirs
# (``REQUIRED``).

# -- families -------------------------------------------------------------------------


@attrs.frozen
class KernelEvent(Event):
    """``kernel.**``: the kernel started or is stopping."""


@attrs.frozen
class PluginEvent(Event):
    """``plugin.**``: a plugin was loaded, started or failed."""

    plugin = payload_field[str]("plugin")


@attrs.frozen
class AgentEvent(Event):
    """``agent.**``: an agent's lifecycle and runs."""

    agent = payload_field[str]("agent", doc="The agent's name or id.")
    agent_type = payload_field[str]("agent_type")


@attrs.frozen
class ToolEvent(Event):
    """``tool.**``: tool calls."""

    tool = payload_field[str]("tool")


@attrs.frozen
class ModelEvent(Event):
    """``model.**``: model-provider calls."""

    provider = payload_field[str]("provider")
    model = payload_field[str]("model")


@attrs.frozen
class StateEvent(Event):
    """``state.**``: state writes."""

    scope = payload_field[str]("scope")
    owner = payload_field[str]("owner")
    key = payload_field[str]("key")


@attrs.frozen
class SessionEvent(Event):
    """``session.**``: session lifecycle."""

    status = payload_field[str]("status")


@attrs.frozen
class ArtifactEvent(Event):
    """``artifact.**``: artifact versions saved, read and deleted."""

    name = payload_field[str]("name")
    version = payload_field[int]("version")


@attrs.frozen
class WorkflowEvent(Event):
    """``workflow.**``: workflow runs (see :mod:`llmspell.plugins.events._workflow`)."""

    REQUIRED: ClassVar[tuple[str, ...]] = ("workflow", "run_id")
    workflow = payload_field[str]("workflow")
    run_id = payload_field[str]("run_id")


@attrs.frozen
class HookEvent(Event):
    """``hook.**``: hook isolation (circuit breakers)."""


# -- types ----------------------------------------------------------------------------


@attrs.frozen
class KernelStarted(KernelEvent):
    """The kernel started; ``plugins`` lists the loaded plugins."""

    TYPE = "kernel.started"
    plugins = payload_field[list[str]]("plugins", doc="Names of the loaded plugins.")


@attrs.frozen
class KernelStopping(KernelEvent):
    """The kernel is about to stop."""

    TYPE = "kernel.stopping"


@attrs.frozen
class StateChanged(StateEvent):
    """A state key was written or deleted.

    Payload: ``scope``, ``owner``, ``key``, ``old_version``, ``new_version``, ``value``
    (the new value; None when deleted) and ``deleted``.
    """

    TYPE = "state.changed"
    old_version = payload_field[int]("old_version")
    new_version = payload_field[int]("new_version")
    value = payload_field[Any]("value")
    deleted = payload_field[bool]("deleted", False)


@attrs.frozen
class WorkflowStarted(WorkflowEvent):
    """A workflow run started (``input`` in the payload, if any)."""

    TYPE = "workflow.started"


@attrs.frozen
class WorkflowStep(WorkflowEvent):
    """One step of a run: ``step`` (name), ``index`` (0-based) and ``status``."""

    TYPE = "workflow.step"
    REQUIRED: ClassVar[tuple[str, ...]] = ("workflow", "run_id", "step", "index", "status")
    step = payload_field[str]("step")
    index = payload_field[int]("index")
    status = payload_field[str]("status", doc="started, finished or failed")


@attrs.frozen
class WorkflowFinished(WorkflowEvent):
    """A workflow run finished (``steps``, ``output``)."""

    TYPE = "workflow.finished"


@attrs.frozen
class WorkflowFailed(WorkflowEvent):
    """A workflow run failed (``steps``, ``error``)."""

    TYPE = "workflow.failed"
    error = payload_field[str]("error")


@attrs.frozen
class HookBreaker(HookEvent):
    """A hook's circuit breaker changed ``state`` (open, half-open, closed)."""

    TYPE = "hook.breaker"
    REQUIRED: ClassVar[tuple[str, ...]] = ("hook", "point", "state")
    hook = payload_field[str]("hook")
    point = payload_field[str]("point")
    state = payload_field[str]("state")


def _simple(base: type[Event], type_name: str) -> type[Event]:
    """A typed class with no payload accessors of its own."""
    name = "".join(part.capitalize() for part in type_name.replace("-", "_").split(".")[1].split("_"))
    family = type_name.split(".")[0].capitalize()
    cls = type(f"{family}{name}", (base,), {"TYPE": type_name, "__doc__": f"``{type_name}``."})
    cls.__module__ = __name__
    return attrs.frozen(cls)


FAMILIES: dict[str, type[Event]] = {
    "kernel.**": KernelEvent,
    "plugin.**": PluginEvent,
    "agent.**": AgentEvent,
    "tool.**": ToolEvent,
    "model.**": ModelEvent,
    "state.**": StateEvent,
    "session.**": SessionEvent,
    "artifact.**": ArtifactEvent,
    "workflow.**": WorkflowEvent,
    "hook.**": HookEvent,
}

_SIMPLE = {
    PluginEvent: ("plugin.loaded", "plugin.started", "plugin.failed"),
    AgentEvent: ("agent.created", "agent.initialized", "agent.started", "agent.finished",
                 "agent.failed", "agent.stopped", "agent.handoff"),
    ToolEvent: ("tool.called", "tool.finished", "tool.failed"),
    ModelEvent: ("model.called", "model.finished", "model.failed"),
    SessionEvent: ("session.created", "session.suspended", "session.resumed", "session.completed",
                   "session.failed", "session.expired", "session.forked", "session.deleted"),
    ArtifactEvent: ("artifact.saved", "artifact.loaded", "artifact.deleted"),
}

#: Every typed system event: type name -> class.
SYSTEM_TYPES: dict[str, type[Event]] = {
    str(cls.TYPE): cls
    for cls in (KernelStarted, KernelStopping, StateChanged, WorkflowStarted, WorkflowStep,
                WorkflowFinished, WorkflowFailed, HookBreaker)
}
for _base, _names in _SIMPLE.items():
    for _name in _names:
        SYSTEM_TYPES[_name] = _simple(_base, _name)

globals().update({cls.__name__: cls for cls in SYSTEM_TYPES.values()})
