"""Serving the console with uvicorn: ``llmspell console`` and :func:`serve`."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from llmspell.errors import MissingExtraError

from .._http import LOOPBACK, bind
from .settings import ConsoleSettings

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["require_web", "bind", "serve", "console_url"]


def require_web() -> None:
    """Fail clearly when ``llmspell[web]`` is not installed."""
    for module, package in (("starlette", "starlette"), ("uvicorn", "uvicorn"), ("jinja2", "jinja2")):
        try:
            __import__(module)
        except ImportError:
            raise MissingExtraError("the web console", "web", package) from None


def console_url(host: str, port: int, token: str | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


async def serve(
    kernel: Kernel,
    settings: ConsoleSettings | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
    token: str | bool | None = True,
    on_ready: Callable[[str, int, str | None], Any] | None = None,
) -> None:
    """Serve the console over ``kernel`` until interrupted (Ctrl-C / SIGTERM).

    ``token=True`` makes a random token, a string uses that one, False/None disables the
    check. ``on_ready(url, port, token)`` is called once the socket listens.
    """
    require_web()
    import uvicorn

    from .app import create_app

    settings = settings or kernel.config.sections.get("console") or ConsoleSettings()
    host = settings.host if host is None else host
    port = settings.port if port is None else port
    secret = secrets.token_urlsafe(32) if token is True else (token or None)
    sock = bind(host, port)
    actual = sock.getsockname()[1]
    app = create_app(kernel, settings, token=secret, loopback_only=host in LOOPBACK)
    config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False,
                            timeout_graceful_shutdown=1, server_header=False)
    server = uvicorn.Server(config)
    if on_ready is not None:
        on_ready(console_url(host, actual, secret), actual, secret)
    try:
        await server.serve(sockets=[sock])
    finally:
        sock.close()
