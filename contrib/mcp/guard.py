"""The front door of ``llmspell mcp serve --http``: Host and Origin checks, then the token.

The same shape as the web console's guard (:mod:`llmspell.contrib.console.guard`; both take their headers from ``llmspell.contrib._http``): a pure
ASGI middleware around the MCP app, so it also guards streamed responses. Every request
must carry ``Authorization: Bearer <token>``, compared in constant time; without it, or
with another token, the answer is ``401`` with ``WWW-Authenticate: Bearer``. On a
loopback bind the ``Host`` header must name a loopback address (a page on another site
cannot reach the server by DNS rebinding), and a browser's ``Origin`` must be a loopback
one too; beyond loopback an ``Origin`` must be the server's own.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from .._http import LOOPBACK, SECURITY_HEADERS

__all__ = ["TokenGuard", "LOOPBACK", "is_loopback"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind address or a Host header's name) is this machine only."""
    name = host.strip("[]").lower()
    if name in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _hostname(host: str) -> str:
    if host.startswith("["):  # [::1]:8765
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class TokenGuard:
    """Wraps an ASGI app: ``token`` required on every request; ``loopback_only`` checks Host."""

    def __init__(self, app: ASGIApp, *, token: str, loopback_only: bool) -> None:
        if not token:
            raise ValueError("the MCP HTTP server needs a token")
        self.app = app
        self.token = token.encode()
        self.loopback_only = loopback_only
        self.refused = 0
        """Requests answered with 401 (no token, or a wrong one)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await _plain(send, 403, b"only HTTP is served here")
            return
        headers: dict[str, str] = {}
        for key, value in scope.get("headers", ()):
            headers.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
        host = headers.get("host", "")
        if self.loopback_only and not is_loopback(_hostname(host)):
            await _plain(send, 421, b"unexpected Host header (this server answers to 127.0.0.1 and localhost)")
            return
        origin = headers.get("origin")
        if origin is not None and not self._origin_ok(origin, host):
            await _plain(send, 403, b"cross-origin requests are refused")
            return
        auth = headers.get("authorization", "")
        given = auth[7:].strip().encode("utf-8", "surrogateescape") if auth[:7].lower() == "bearer " else b""
        if not given or not hmac.compare_digest(given, self.token):
            self.refused += 1
            await _plain(send, 401, b"this MCP server needs its token: Authorization: Bearer <token>",
                         extra=((b"www-authenticate", b'Bearer realm="llmspell"'),))
            return
        await self.app(scope, receive, send)

    def _origin_ok(self, origin: str, host: str) -> bool:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
        if self.loopback_only:
            return is_loopback(parts.hostname)
        return parts.netloc.lower() == host.lower()


async def _plain(send: Send, status: int, body: bytes, *, extra: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
        *extra, *SECURITY_HEADERS,
    ]})
    await send({"type": "http.response.body", "body": body})
