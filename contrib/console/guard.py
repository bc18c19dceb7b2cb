"""The console's front door: Host check, the token on every request, security headers.

A pure ASGI middleware, so that it also guards streamed responses (the live timeline,
downloads). The token may come as ``?token=`` (the URL printed at start), as the
``llmspell_console_<port>`` cookie the console sets after a good ``?token=`` (HttpOnly,
SameSite=Strict, so other sites cannot use it), or as ``Authorization: Bearer``. It is
compared in constant time. A page opened with ``?token=`` is redirected to the same URL
without it, so the token does not stay in the address bar or the history.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

from .._http import LOOPBACK, SECURITY_HEADERS

__all__ = ["Guard", "SECURITY_HEADERS", "LOOPBACK"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_REFUSED = (b"<!doctype html><title>llmspell console</title><h1>403 Forbidden</h1>"
            b"<p>This console needs its access token: open the URL printed by <code>llmspell console</code>.</p>")


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in scope.get("headers", ()):
        name = key.decode("latin-1").lower()
        text = value.decode("latin-1")
        out[name] = f"{out[name]}; {text}" if name == "cookie" and name in out else text
    return out


def _hostname(host: str) -> str:
    if host.startswith("["):  # [::1]:8765
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Guard:
    """Wraps the console app; ``token=None`` turns the token check off (``--no-token``)."""

    def __init__(self, app: ASGIApp, *, token: str | None, loopback_only: bool) -> None:
        self.app = app
        self.token = token.encode() if token else None
        self.loopback_only = loopback_only

    @staticmethod
    def cookie_name(scope: Scope) -> str:
        server = scope.get("server") or ("", 0)
        return f"llmspell_console_{server[1] or 0}"

    def _given(self, scope: Scope, headers: dict[str, str]) -> tuple[bytes | None, bool]:
        """The presented token and whether it came in the query string."""
        for key, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
            if key == "token":
                return value.encode("utf-8", "surrogateescape"), True
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            return auth[7:].strip().encode("utf-8", "surrogateescape"), False
        if "cookie" in headers:
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(headers["cookie"])
            except Exception:  # noqa: BLE001 - a malformed cookie header is just no token
                return None, False
            morsel = jar.get(self.cookie_name(scope))
            if morsel is not None:
                return morsel.value.encode("utf-8", "surrogateescape"), False
        return None, False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await self._plain(send, 403, b"only HTTP is served here")
            return
        headers = _headers(scope)
        if self.loopback_only and _hostname(headers.get("host", "")).lower() not in LOOPBACK:
            await self._plain(send, 400, b"unexpected Host header (the console answers to 127.0.0.1 and localhost)")
            return
        from_query = False
        if self.token is not None:
            given, from_query = self._given(scope, headers)
            if given is None or not hmac.compare_digest(given, self.token):
                await self._plain(send, 403, _REFUSED, html=True)
                return
            if from_query and scope["method"] == "GET" and "text/html" in headers.get("accept", ""):
                await self._strip_token(scope, send)
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {bytes(name).lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in SECURITY_HEADERS if name not in present]  # a handler's own (stricter) ones stay
                if from_query:
                    extra.append((b"set-cookie", self._cookie(scope)))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _cookie(self, scope: Scope) -> bytes:
        assert self.token is not None
        return self.cookie_name(scope).encode() + b"=" + self.token + b"; Path=/; HttpOnly; SameSite=Strict"

    async def _strip_token(self, scope: Scope, send: Send) -> None:
        query = [(k, v) for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
                 if k != "token"]
        path = scope.get("raw_path") or scope["path"].encode()
        path = b"/" + path.lstrip(b"/\\")  # never a protocol-relative //host redirect
        location = path + (b"?" + urlencode(query).encode() if query else b"")
        await send({"type": "http.response.start", "status": 303, "headers": [
            (b"location", location), (b"set-cookie", self._cookie(scope)), (b"content-length", b"0"),
            *SECURITY_HEADERS,
        ]})
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    async def _plain(send: Send, status: int, body: bytes, *, html: bool = False) -> None:
        kind = b"text/html; charset=utf-8" if html else b"text/plain; charset=utf-8"
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", kind), (b"content-length", str(len(body)).encode()), *SECURITY_HEADERS,
        ]})
        await send({"type": "http.response.body", "body": body})
