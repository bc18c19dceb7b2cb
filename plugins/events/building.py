"""Turning what ``publish`` was given into the event to publish: class, checks, stream."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from llmspell.errors import ValidationError
from llmspell.ids import new_id
from llmspell.plugins.events.api import Event, check_type
from llmspell.serde import MAPPING_DEPTH, check_json, is_json, utcnow

if TYPE_CHECKING:
    from llmspell.plugins.events.api import TopicPattern
    from llmspell.registry import Registry

__all__ = ["BuildingMixin"]


def _as_dict(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, Mapping):
        raise ValidationError(f"event payload must be a mapping, got {type(payload).__name__}")
    return dict(payload)


class BuildingMixin:
    """Event building for :class:`~llmspell.plugins.events.service.EventBus`."""

    _type_info: dict[str, tuple[type[Event], str | None, int, bool]]
    _type_count: int
    _type_registry: Registry[Any]
    _unscoped: TopicPattern | None
    _system_stream: str | None
    _publish_point: Any
    _cls_for: Callable[[str], type[Event]]

    def _describe(self, type_name: str) -> tuple[type[Event], str | None, int, bool]:
        """(class, stream when unscoped, schema version, has required keys) of a type, checked and cached."""
        check_type(type_name)
        if self._type_count != len(self._type_registry):
            self._type_info.clear()
            self._type_count = len(self._type_registry)
        unscoped = self._system_stream if self._unscoped is not None and self._unscoped.match(type_name) else None
        cls = self._cls_for(type_name)
        info = (cls, unscoped, cls.VERSION, bool(cls.REQUIRED))
        if len(self._type_info) < 10_000:
            self._type_info[type_name] = info
        return info

    def _stream_for(self, type_name: str, stream: str | None, session_id: str | None) -> str | None:
        if stream is not None:
            return stream
        if session_id is not None:
            return session_id
        if self._unscoped is not None and self._unscoped.match(type_name):
            return self._system_stream
        return None

    def _build(self, event: Event | str, payload: Any, meta: dict[str, Any]) -> Event:
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
            cls = self._cls_for(event)
            session_id = meta.get("session_id")
            built = cls(
                event, payload, new_id(), utcnow(), meta.get("source", ""), session_id, meta.get("user_id"),
                meta.get("correlation_id"), meta.get("causation_id"),
                self._stream_for(event, meta.get("stream"), session_id), None, cls.VERSION,
            )
        elif isinstance(event, Event):
            if payload is not None:
                raise ValidationError("publish got an Event and a payload; put the payload in the Event")
            built = self._adopt(event, meta)
            if type(built.payload) is not dict or not is_json(built.payload, MAPPING_DEPTH):
                check_json(built.payload, "$.payload", max_depth=MAPPING_DEPTH)
                raise ValidationError(f"event payload must be a dict, got {type(built.payload).__name__}")
        else:
            raise ValidationError(f"publish takes an Event or a type name, got {type(event).__name__}")
        if built.REQUIRED:
            built.check()
        return built

    def _adopt(self, event: Event, meta: dict[str, Any]) -> Event:
        """An Event instance as it will be published: its class, metadata and stream settled."""
        if event.seq is None and not any(meta.values()):  # as given: only the stream may need setting
            info = self._type_info.get(event.type)
            if info is None or self._type_count != len(self._type_registry):
                info = self._describe(event.type)
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
        fields["stream"] = self._stream_for(event.type, fields["stream"], fields["session_id"])
        cls = self._cls_for(event.type)
        if type(event) is cls and all(getattr(event, k) == v for k, v in fields.items()) and event.seq is None:
            return event
        return cls(**fields)

    async def _hook(self, event: Event) -> Event:
        call = await self._publish_point(request=event, event=event)
        result: Any = call.result if call.replaced else call.request
        if id(result) == id(event):  # (not `is`: that would make mypy see `event` as Any)
            return event
        if not isinstance(result, Event):
            raise ValidationError(f"an event_before_publish hook replaced the event with {type(result).__name__}")
        return self._adopt(result, {})

