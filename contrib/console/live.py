"""The live timeline: server-sent events with each event appended to a session's stream.

The stream is read through the event service, polled every ``[console]
live_poll_interval`` seconds, so events written by any process on the same backend show
up (the bus alone only reaches this process). A reconnecting browser sends
``Last-Event-ID`` (the last sequence number it saw) and gets what it missed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from .reading import check_session_id, event_row
from .web import int_param

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["live", "KEEPALIVE"]

#: Seconds of silence after which a comment line keeps the connection open.
KEEPALIVE = 15.0


async def live(request: Request) -> Response:
    sid = check_session_id(request.path_params["sid"])
    kernel = request.app.state.kernel
    await kernel.sessions.get(sid)
    after = int_param(request, "after") or 0
    resumed = request.headers.get("last-event-id", "")
    if resumed.isdigit() and len(resumed) < 19:
        after = max(after, int(resumed))
    interval = request.app.state.settings.live_poll_interval
    return StreamingResponse(_stream(kernel, sid, after, interval), media_type="text/event-stream",
                             headers={"x-accel-buffering": "no"})


async def _stream(kernel: Kernel, sid: str, after: int, interval: float) -> AsyncIterator[bytes]:
    yield b"retry: 2000\n\n"
    quiet = 0.0
    while True:
        last = await kernel.events.last_seq(sid)
        if last < after:  # the stream was deleted and started again
            after = 0
        if last > after:
            async for event in kernel.events.read(sid, after + 1, last, malformed="skip"):
                data = json.dumps(event_row(event), ensure_ascii=False)
                yield f"id: {event.seq}\nevent: llmspell\ndata: {data}\n\n".encode()
            after = last
            quiet = 0.0
        else:
            quiet += interval
            if quiet >= KEEPALIVE:
                yield b": keepalive\n\n"
                quiet = 0.0
        await asyncio.sleep(interval)
