"""Events: the event model and the contract of the event service, log and transport.

The event service (``kernel.events``) is provided by a plugin (the default one is
``llmspell.plugins.events``); its append-only log is an :class:`EventLog` chosen with
``[events] backend`` and its bus transport an :class:`EventTransport` chosen with
``[events] transport``. ``docs/events.md`` is the guide.

An :class:`Event` is immutable. Its ``type`` is a dotted name (see
:mod:`llmspell._topics` for names and patterns); a *typed* event is an attrs subclass of
``Event`` registered for one type name with ``llmspell_register_event_types``. Typed
classes add no fields: they name the type, document and check the payload keys and give
typed access to them (:class:`payload_field`), so a typed event and a plain one are
stored identically and an event of a type the reader does not know is read back as a
plain ``Event`` with nothing lost.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar, overload

import attrs

from ._eventcodec import ENVELOPE_VERSION, EventCodec, MalformedEventError, type_lookup
from ._eventproto import (
    AppendResult,
    EventLog,
    EventTransport,
    Handler,
    ProjectionResult,
    Snapshot,
    StreamInfo,
    TransportInbox,
)
from ._eventservice import EventService, Subscription
from ._topics import TopicPattern, check_stream, check_type, compile_patterns
from .errors import ValidationError
from .ids import new_id
from .serde import utcnow

__all__ = [
    "Event",
    "payload_field",
    "check_event_class",
    "Projection",
    "ProjectionResult",
    "Snapshot",
    "StreamInfo",
    "AppendResult",
    "EventCodec",
    "type_lookup",
    "ENVELOPE_VERSION",
    "MalformedEventError",
    "TopicPattern",
    "check_type",
    "check_stream",
    "compile_patterns",
    "EventService",
    "EventLog",
    "EventTransport",
    "TransportInbox",
    "Subscription",
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
        return EventCodec.envelope(self, position=True)


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
        raise ValidationError(f"event type {type_name!r}: {cls!r} is not a subclass of llmspell.events.Event")
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
