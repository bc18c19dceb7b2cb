"""What the pages show, read through the kernel's services (never from backend files).

Every function takes the started kernel and returns plain data for the templates; the
services decide where it comes from (the embedded data directory, Redis, PostgreSQL ...).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from llmspell.errors import ValidationError
from llmspell.plugins.events.api import Event
from llmspell.plugins.sessions.api import Session, SessionStatus, is_session_id

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = [
    "check_session_id", "check_artifact_name", "pretty", "event_row", "session_row", "list_sessions",
    "state_items", "event_page", "artifact_rows", "state_history", "TEXT_TYPES", "IMAGE_TYPES",
]

#: Content types previewed as text (besides ``text/*``).
TEXT_TYPES = frozenset({"application/json", "application/xml", "application/yaml", "application/x-yaml",
                        "application/toml", "application/javascript", "application/x-ndjson"})
#: Raster image types previewed inline; SVG is not (it can carry script), only downloaded.
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def check_session_id(value: str) -> str:
    """A session id as the session service allows it, or ValidationError (a 400)."""
    if not is_session_id(value):
        raise ValidationError("invalid session id")
    return value


def check_artifact_name(value: str) -> str:
    """Refuse path tricks in an artifact name before the artifact service sees it."""
    if not value or len(value.encode("utf-8", "surrogatepass")) > 1024:
        raise ValidationError("invalid artifact name: empty or too long")
    if not value.isprintable() or "\\" in value or "\x00" in value:
        raise ValidationError("invalid artifact name: control characters or backslashes")
    if any(part in ("", ".", "..") for part in value.split("/")):
        raise ValidationError("invalid artifact name: empty, '.' or '..' path segments")
    return value


def pretty(value: Any, limit: int = 4000) -> str:
    """``value`` as indented JSON, cut at ``limit`` characters."""
    text = json.dumps(value, indent=2, default=str, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _summary(event: Event) -> str:
    payload = event.payload
    for key in ("output", "text", "error", "key", "ref", "status"):
        if key in payload and isinstance(payload[key], str | int):
            return f"{key}: {payload[key]}"[:160]
    text = json.dumps(payload, default=str, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= 160 else text[:159] + "…"


def event_row(event: Event) -> dict[str, Any]:
    """One timeline row (also the JSON of a live update)."""
    return {
        "seq": event.seq, "id": event.id, "type": event.type, "source": event.source,
        "time": event.time.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], "correlation_id": event.correlation_id,
        "agent": event.payload.get("agent") if isinstance(event.payload.get("agent"), str) else None,
        "summary": _summary(event), "payload": pretty(event.payload),
    }


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


def session_row(session: Session) -> dict[str, Any]:
    return {
        "id": session.id, "app": session.app, "user_id": session.user_id or "", "status": session.status.value,
        "title": session.title, "tags": list(session.tags), "created": _when(session.created_at),
        "updated": _when(session.updated_at), "last_active": _when(session.last_active_at),
        "expires": _when(session.expires_at), "ended": _when(session.ended_at), "parent_id": session.parent_id,
        "status_reason": session.status_reason, "ttl": session.ttl, "version": session.version,
        "metadata": pretty(session.metadata) if session.metadata else "",
        "can_suspend": session.status is SessionStatus.ACTIVE,
        "can_resume": session.status in (SessionStatus.SUSPENDED, SessionStatus.INTERRUPTED),
    }


async def list_sessions(kernel: Kernel, *, user: str, app: str, status: str, cursor: str | None,
                        limit: int) -> tuple[list[dict[str, Any]], str | None]:
    filters: dict[str, Any] = {"limit": limit, "cursor": cursor or None}
    if user:
        filters["user_id"] = user
    if app:
        filters["app"] = app
    if status:
        try:
            filters["status"] = (SessionStatus(status),)
        except ValueError:
            raise ValidationError(f"unknown status {status!r}") from None
    page = await kernel.sessions.list(**filters)
    return [session_row(s) for s in page.items], page.next_cursor


async def state_items(kernel: Kernel, session_id: str) -> list[dict[str, Any]]:
    """The session scope's keys with their current values and versions."""
    scope = kernel.state.scope("session", session_id)
    return [
        {"key": item.key, "version": item.version, "schema_version": item.schema_version, "value": pretty(item.value)}
        async for item in scope.scan()
    ]


def audit_fields(event: Event) -> dict[str, Any]:
    """The columns of an audit row: who was refused what, and why."""
    payload = event.payload
    resource = next((payload[k] for k in ("artifact", "state", "resource") if isinstance(payload.get(k), str)), "")
    return {"fields": {"principal": str(payload.get("principal", "")), "resource": resource,
                       "permission": str(payload.get("permission", "")), "reason": str(payload.get("reason", ""))}}


async def event_page(kernel: Kernel, session_id: str, before: int | None, size: int,
                     extra: Callable[[Event], dict[str, Any]] | None = None) -> dict[str, Any]:
    """One page of a stream (a session's, or ``audit``), newest first: the last ``size`` events before ``before``."""
    last = await kernel.events.last_seq(session_id)
    upto = last if before is None else min(before - 1, last)
    start = max(upto - size + 1, 1)
    rows = []
    if upto >= 1:
        rows = [event_row(e) | (extra(e) if extra else {})
                async for e in kernel.events.read(session_id, start, upto, malformed="skip")]
    rows.reverse()
    return {"rows": rows, "last_seq": last, "older": start if start > 1 else None,
            "newer": upto + size + 1 if upto < last else None, "first": start, "upto": upto}


async def artifact_rows(kernel: Kernel, session_id: str, limit: int = 200) -> list[dict[str, Any]]:
    page = await kernel.artifacts.list(session_id=session_id, limit=limit)
    return [
        {"name": m.ref.name, "version": m.ref.version, "size": m.size, "content_type": m.content_type,
         "created": _when(m.created), "creator": m.creator, "tags": list(m.tags), "sha256": m.sha256}
        for m in page.items
    ]


async def state_history(kernel: Kernel, session_id: str, key: str, limit: int = 200) -> list[dict[str, Any]]:
    """The writes of one session state key, newest first, from its ``state.changed`` events."""
    found = []
    for event in await kernel.events.query("state.changed", stream=session_id, reverse=True):
        payload = event.payload
        if payload.get("key") != key or payload.get("scope") != "session":
            continue
        found.append({
            "version": payload.get("new_version"), "old_version": payload.get("old_version"),
            "op": payload.get("op", "set"), "deleted": bool(payload.get("deleted")),
            "time": event.time.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], "seq": event.seq,
            "value": pretty(payload.get("value")),
        })
        if len(found) >= limit:
            break
    return found
