"""Turning what ``publish`` was given into the event to publish: class, checks, stream.

An :class:`EventBuilder` belongs to one event service: it knows the registered event
classes (through the codec's lookup), which unscoped types go to the system stream, and
the ``event_before_publish`` hook point, and caches what it learned about each type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from llmspell.errors import ValidationError
from llmspell.ids import new_id
from llmspell.plugins._values import MAPPING_DEPTH
from llmspell.plugins.events.api import Event, check_type, compile_patterns
from llmspell.serde import check_json, is_json, utcnow

if TYPE_CHECKING:
    from llmspell.hooks import Point
    from llmspell.registry import Registry

    from ._config import EventsConfig

__all__ = ["EventBuilder", "TypeInfo"]

TypeInfo = tuple[type[Event], str | None, int, bool]
"""What publishing needs of an event type: (class, stream when unscoped, schema version,
whether it has required payload keys)."""


def _as_dict(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, Mapping):
        raise ValidationError(f"event payload must be a mapping, got {type(payload).__name__}")
    return dict(payload)


class EventBuilder:
    """Builds the events one service publishes (see the module docstring).

    ``types`` is the ``event type`` registry, ``cls_for`` the codec's class lookup and
    ``publish_point`` the ``event_before_publish`` hook point. ``type_info`` and
    ``type_count`` are read by the service's publishing hot path: the cache is valid
    while ``type_count`` equals the number of registered types.
    """

    def __init__(self, config: EventsConfig, types: Registry[Any], cls_for: Callable[[str], type[Event]],
                 publish_point: Point) -> None:
        self.types = types
        self.cls_for = cls_for
        self.publish_point = publish_point
        self.unscoped = (
            compile_patterns(config.log_unscoped) if config.system_stream and config.log_unscoped else None
        )
        self.system_stream = config.system_stream or None
        self.type_info: dict[str, TypeInfo] = {}
        self.type_count = -1

    def describe(self, type_name: str) -> TypeInfo:
        """What publishing needs of a type (see :data:`TypeInfo`), checked and cached."""
        check_type(type_name)
        if self.type_count != len(self.types):
            self.type_info.clear()
            self.type_count = len(self.types)
        unscoped = self.system_stream if self.unscoped is not None and self.unscoped.match(type_name) else None
        cls = self.cls_for(type_name)
        info = (cls, unscoped, cls.VERSION, bool(cls.REQUIRED))
        if len(self.type_info) < 10_000:
            self.type_info[type_name] = info
        return info

    def stream_for(self, type_name: str, stream: str | None, session_id: str | None) -> str | None:
        if stream is not None:
            return stream
        if session_id is not None:
            return session_id
        if self.unscoped is not None and self.unscoped.match(type_name):
            return self.system_stream
        return None

    def build(self, event: Event | str, payload: Any, meta: dict[str, Any]) -> Event:
        """The event to publish from a type name and payload, or from an Event, with ``meta``."""
        cause: Event | None = meta.pop("cause", None)
        if cause is not None:
            meta["causation_id"] = meta.get("causation_id") or cause.id
            meta["correlation_id"] = meta.get("correlation_id") or cause.correlation_id or cause.id
            meta["session_id"] = meta.get("session_id") or cause.session_id
            meta["user_id"] = meta.get("user_id") or cause.user_id
        if type(event) is str:
            check_type(event)
            if payload is None:
                payload = {}
            elif type(payload) is not dict:
                payload = _as_dict(payload)
            if not is_json(payload, MAPPING_DEPTH):
                check_json(payload, "$.payload", max_depth=MAPPING_DEPTH)
            cls = self.cls_for(event)
            session_id = meta.get("session_id")
            built = cls(
                event, payload, new_id(), utcnow(), meta.get("source", ""), session_id, meta.get("user_id"),
                meta.get("correlation_id"), meta.get("causation_id"),
                self.stream_for(event, meta.get("stream"), session_id), None, cls.VERSION,
            )
        elif isinstance(event, Event):
            if payload is not None:
                raise ValidationError("publish got an Event and a payload; put the payload in the Event")
            built = self.adopt(event, meta)
            if type(built.payload) is not dict or not is_json(built.payload, MAPPING_DEPTH):
                check_json(built.payload, "$.payload", max_depth=MAPPING_DEPTH)
                raise ValidationError(f"event payload must be a dict, got {type(built.payload).__name__}")
        else:
            raise ValidationError(f"publish takes an Event or a type name, got {type(event).__name__}")
        if built.REQUIRED:
            built.check()
        return built

    def adopt(self, event: Event, meta: dict[str, Any]) -> Event:
        """An Event instance as it will be published: its class, metadata and stream settled."""
        if event.seq is None and not any(meta.values()):  # as given: only the stream may need setting
            info = self.type_info.get(event.type)
            if info is None or self.type_count != len(self.types):
                info = self.describe(event.type)
            if type(event) is info[0]:
                if event.stream is not None:
                    return event
                target = event.session_id if event.session_id is not None else info[1]
                return event if target is None else event.with_position(target, None)
        check_type(event.type)
        changes = {k: v for k, v in meta.items() if v is not None and v != ""}
        fields = {a: getattr(event, a) for a in ("type", "payload", "id", "time", "source", "session_id", "user_id",
                                                  "correlation_id", "causation_id", "stream", "schema_version")}
        fields.update(changes)
        fields["stream"] = self.stream_for(event.type, fields["stream"], fields["session_id"])
        cls = self.cls_for(event.type)
        if type(event) is cls and all(getattr(event, k) == v for k, v in fields.items()) and event.seq is None:
            return event
        return cls(**fields)

    async def hook(self, event: Event) -> Event:
        """Run ``event_before_publish`` on ``event`` (call it when the point is active)."""
        call = await self.publish_point(request=event, event=event)
        result: Any = call.result if call.replaced else call.request
        if id(result) == id(event):  # (not `is`: that would make mypy see `event` as Any)
            return event
        if not isinstance(result, Event):
            raise ValidationError(f"an event_before_publish hook replaced the event with {type(result).__name__}")
        return self.adopt(result, {})
