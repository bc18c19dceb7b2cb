"""The console's HTML pages: sessions, one session, state history, run tree, audit, plugins and hooks."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from llmspell.plugins.artifacts.api import AUDIT_STREAM
from llmspell.plugins.state.api import check_key

from .reading import (
    artifact_rows,
    audit_fields,
    check_session_id,
    event_page,
    list_sessions,
    pretty,
    session_row,
    state_history,
    state_items,
)
from .runtree import RUN_TYPES, build_traces
from .web import MAX_FORM, Problem, int_param, query_url, render, text_param

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["home", "sessions", "session", "state_key", "runs", "audit", "plugins", "confirm", "act", "ACTIONS"]

#: What a session page may do, and what each does, for the confirmation page.
ACTIONS = {
    "suspend": "Suspend this session: it stays stored and can be resumed.",
    "resume": "Resume this session: it becomes active again.",
    "delete": "Delete this session with its state, events and session artifacts. This cannot be undone.",
}
STATUSES = ("active", "suspended", "interrupted", "completed", "failed", "expired", "archived")


def _done(request: Request) -> str:
    """The action just done, for the flash line (only the console's own words are shown)."""
    done = request.query_params.get("done", "")
    return done if done in ("suspended", "resumed", "deleted") else ""


def _kernel(request: Request) -> Any:
    return request.app.state.kernel


async def _session(request: Request) -> Any:
    sid = check_session_id(request.path_params["sid"])
    return await _kernel(request).sessions.get(sid)


async def home(request: Request) -> Response:
    return RedirectResponse("/sessions", status_code=303)


async def sessions(request: Request) -> Response:
    user, app, status = text_param(request, "user"), text_param(request, "app"), text_param(request, "status")
    cursor = text_param(request, "cursor", limit=1024) or None
    rows, next_cursor = await list_sessions(
        _kernel(request), user=user, app=app, status=status, cursor=cursor,
        limit=request.app.state.settings.sessions_per_page,
    )
    return render(
        request, "sessions.html", rows=rows, user=user, app=app, status=status, statuses=STATUSES,
        next_url=query_url("/sessions", user=user, app=app, status=status, cursor=next_cursor) if next_cursor else None,
        first_url=query_url("/sessions", user=user, app=app, status=status) if cursor else None,
        done=_done(request),
    )


async def session(request: Request) -> Response:
    found = await _session(request)
    kernel = _kernel(request)
    before = int_param(request, "before", minimum=1)
    events = await event_page(kernel, found.id, before, request.app.state.settings.events_per_page)
    return render(
        request, "session.html", s=session_row(found), sid_url=quote(found.id, safe=""),
        events=events, live=before is None, state=await state_items(kernel, found.id),
        artifacts=await artifact_rows(kernel, found.id), done=_done(request),
    )


async def state_key(request: Request) -> Response:
    found = await _session(request)
    key = check_key(request.query_params.get("key", ""))
    kernel = _kernel(request)
    current = await kernel.state.scope("session", found.id).get_versioned(key)
    history = await state_history(kernel, found.id, key)
    if current is None and not history:
        raise Problem(404, f"session {found.id!r} has no state key {key!r}")
    return render(request, "state.html", s=session_row(found), sid_url=quote(found.id, safe=""), key=key,
                  current=current, current_value=pretty(current.value) if current is not None else "",
                  history=history)


async def runs(request: Request) -> Response:
    found = await _session(request)
    events = await _kernel(request).events.query(list(RUN_TYPES), stream=found.id, reverse=True, limit=5000)
    traces = build_traces(events)
    shown = int_param(request, "traces", minimum=1) or 20
    return render(request, "runs.html", s=session_row(found), sid_url=quote(found.id, safe=""),
                  traces=traces[:shown], total=len(traces), more=len(traces) > shown, shown=shown)


async def audit(request: Request) -> Response:
    """The audit stream, newest first: who was refused what, and why."""
    before = int_param(request, "before", minimum=1)
    events = await event_page(_kernel(request), AUDIT_STREAM, before, request.app.state.settings.events_per_page,
                              extra=audit_fields)
    return render(request, "audit.html", events=events)


async def plugins(request: Request) -> Response:
    kernel = _kernel(request)
    rows = [
        {"name": p.name, "source": p.source, "module": p.module or "",
         "package": f"{p.distribution or ''} {p.version or ''}".strip(),
         "hooks": [h.removeprefix("llmspell_") for h in p.hooks]}
        for p in kernel.plugins
    ]
    services = [{"kind": kind.__name__, "plugin": plugin, "impl": type(instance).__name__}
                for kind, plugin, instance in kernel.services.items()]
    return render(request, "plugins.html", plugins=rows, blocked=kernel.blocked, services=services,
                  backends=_backends(kernel), hooks=_hooks(kernel))


def _backends(kernel: Kernel) -> list[tuple[str, str]]:
    out = []
    for section, keys in (("state", ("backend",)), ("sessions", ("backend",)), ("events", ("backend", "transport")),
                          ("artifacts", ("backend", "metadata"))):
        config = kernel.config.sections.get(section)
        for key in keys:
            value = getattr(config, key, None)
            if value is not None:
                out.append((f"{section}.{key}", str(value)))
    return out


def _hooks(kernel: Kernel) -> list[dict[str, Any]]:
    """Hook functions per point: this process's counters where it called them, else the
    hooks plugin's record of the last kernel that stopped on this data directory."""
    recorded: list[dict[str, Any]] = []
    if any(p.name == "hooks" for p in kernel.plugins):
        from llmspell.plugins.hooks.api import describe

        recorded = describe(kernel)
    live = {(s.point, s.name): s for s in kernel.hook_stats()}
    rows = []
    for row in recorded:
        stats = live.get((row["point"], row["name"]))
        if stats is not None and (stats.calls or stats.skipped):
            row = {**row, **stats.as_dict(), "wrapper": row["wrapper"], "from": "this process"}
        else:
            row = {**row, "from": "last run" if row["calls"] or row["skipped"] else ""}
        calls = row["calls"]
        row["avg_ms"] = f"{row['total_time'] / calls * 1000:.3f}" if calls else ""
        rows.append(row)
    return rows


async def confirm(request: Request) -> Response:
    action = request.path_params["action"]
    if action not in ACTIONS:
        raise Problem(404, "no such page")
    found = await _session(request)
    return render(request, "confirm.html", s=session_row(found), sid_url=quote(found.id, safe=""),
                  action=action, what=ACTIONS[action])


async def act(request: Request) -> Response:
    """Do a confirmed session action (the only writes the console makes)."""
    action = request.path_params["action"]
    if action not in ACTIONS:
        raise Problem(404, "no such page")
    body = await request.body()
    if len(body) > MAX_FORM:
        raise Problem(413, "form too large")
    given = parse_qs(body.decode("utf-8", "replace")).get("csrf", [""])[0]
    if not hmac.compare_digest(given.encode(), request.app.state.csrf.encode()):
        raise Problem(403, "the form is stale or did not come from this console; reload the page and try again")
    found = await _session(request)
    sessions = _kernel(request).sessions
    if action == "delete":
        await sessions.delete(found.id)
        return RedirectResponse(query_url("/sessions", done="deleted"), status_code=303)
    await (sessions.suspend if action == "suspend" else sessions.resume)(found.id)
    done = {"suspend": "suspended", "resume": "resumed"}[action]
    return RedirectResponse(query_url(f"/sessions/{quote(found.id, safe='')}", done=done), status_code=303)
