"""What the console and ``mcp serve`` share as HTTP servers: loopback names, security
headers and the listening socket."""

from __future__ import annotations

import socket

from llmspell.errors import LlmspellError

__all__ = ["LOOPBACK", "SECURITY_HEADERS", "bind"]

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                                 b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
)

def bind(host: str, port: int, *, what: str = "console",
         hint: str = " (choose another with --port, or --port 0 for any free one)") -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free port); errors start with ``what``."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise LlmspellError(f"{what}: cannot resolve the host {host!r}: {exc}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise LlmspellError(f"{what}: cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock
