"""The stored form of an event: a JSON envelope, written and read through :mod:`llmspell.serde`.

Envelope (version 1)::

    {"v": 1, "id": "0190...", "type": "agent.started", "time": "2025-01-01T00:00:00+00:00",
     "payload": {...}, "source": "agents", "session_id": "...", "user_id": "...",
     "correlation_id": "...", "causation_id": "...", "schema_version": 1}

``source``, the ids and ``schema_version`` are left out when empty or default. A log
keeps ``stream`` and ``seq`` beside the envelope (they are where the event is, not what
it is); a transport sends them inside it (``position=True``). Reading is strict: a
record that is not such an envelope raises :class:`MalformedEventError` naming its
stream and sequence number. The class of a decoded event comes from the type registry;
an unregistered type gives a plain ``Event``, never an error.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import serde
from ._topics import check_type
from .errors import IntegrityError, SerializationError

if TYPE_CHECKING:
    from .events import Event

__all__ = ["ENVELOPE_VERSION", "EventCodec", "MalformedEventError", "type_lookup"]

ENVELOPE_VERSION = 1

_time_out = serde.converter.get_unstructure_hook(datetime)
_time_in = serde.converter.get_structure_hook(datetime)
_OPTIONAL = ("session_id", "user_id", "correlation_id", "causation_id")
_KNOWN = frozenset({"v", "id", "type", "time", "payload", "source", "schema_version", "stream", "seq", *_OPTIONAL})


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


class MalformedEventError(IntegrityError):
    """A stored or received event cannot be read; names its stream and sequence number."""

    def __init__(self, stream: str | None, seq: int | None, reason: str) -> None:
        self.stream = stream
        self.seq = seq
        self.reason = reason
        where = f"stream {stream!r} seq {seq}" if stream is not None else "an event without a stream"
        super().__init__(f"malformed event at {where}: {reason}")


def _envelope(event: Event, position: bool) -> dict[str, Any]:
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


class EventCodec:
    """Encodes events to JSON bytes and decodes them into registered classes.

    ``lookup(type_name)`` returns the registered class of a type or None (usually
    ``kernel.registry("event type").find``); it is consulted on every decode, so types
    registered later are honoured.
    """

    def __init__(self, lookup: Callable[[str], type[Event] | None] | None = None) -> None:
        from .events import Event

        self._lookup = lookup or (lambda _name: None)
        self._event = Event

    @classmethod
    def for_kernel(cls, kernel: Any) -> EventCodec:
        """The codec of a kernel: classes from its ``event type`` registry (families included)."""
        return cls(type_lookup(kernel.registry("event type")))

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
        return serde.dumps_data(_envelope(event, position))

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
