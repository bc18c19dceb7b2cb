"""The console as an ASGI application over one kernel."""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from llmspell.errors import LlmspellError, NotFoundError, PermissionDenied, ValidationError

from . import files, live, pages
from .guard import Guard
from .settings import ConsoleSettings
from .web import Problem, render

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["create_app", "STATIC"]

log = logging.getLogger("llmspell.console")
HERE = Path(__file__).parent

#: The only files served under /static/, with their content types.
STATIC = {"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"}


def _static_files() -> dict[str, bytes]:
    return {name: (HERE / "static" / name).read_bytes() for name in STATIC}


async def _static(request: Request) -> Response:
    name = request.path_params["name"]
    body = request.app.state.static.get(name)
    if body is None:
        raise Problem(404, "no such file")
    return Response(body, media_type=STATIC[name])


async def _problem(request: Request, exc: Exception) -> Response:
    if isinstance(exc, Problem):
        status, message = exc.status, exc.message
    elif isinstance(exc, NotFoundError):
        status, message = 404, str(exc)
    elif isinstance(exc, ValidationError | ValueError):
        status, message = 400, str(exc)
    elif isinstance(exc, PermissionDenied):
        status, message = 403, str(exc)
    elif isinstance(exc, HTTPException):
        status, message = exc.status_code, str(exc.detail)
    elif isinstance(exc, LlmspellError):
        status, message = 500, f"{type(exc).__name__}: {exc}"
    else:
        log.exception("console error on %s", request.url.path)
        status, message = 500, "internal error (see the console's log)"
    return render(request, "error.html", http_status=status, status_code=status, message=message)


def create_app(kernel: Kernel, settings: ConsoleSettings | None = None, *, token: str | None = None,
               loopback_only: bool = True) -> Any:
    """The console over ``kernel``, guarded by ``token`` (None: no token check).

    If the kernel is not started yet, the app starts it when the server starts and stops
    it when the server stops; a started kernel (an application's own) is left running.
    ``loopback_only`` refuses requests whose Host is not 127.0.0.1 or localhost (DNS
    rebinding); turn it off when listening on another interface.
    """
    settings = settings or kernel.config.sections.get("console") or ConsoleSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if kernel.started:
            yield
            return
        async with kernel:
            yield

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    routes = [
        Route("/", pages.home),
        Route("/sessions", pages.sessions),
        Route("/sessions/{sid}", pages.session),
        Route("/sessions/{sid}/runs", pages.runs),
        Route("/sessions/{sid}/live", live.live),
        Route("/sessions/{sid}/state", pages.state_key),
        Route("/sessions/{sid}/artifact/{name:path}", files.artifact),
        Route("/sessions/{sid}/raw/{name:path}", files.raw),
        Route("/sessions/{sid}/download/{name:path}", files.download),
        Route("/sessions/{sid}/{action}", pages.confirm, methods=["GET"]),
        Route("/sessions/{sid}/{action}", pages.act, methods=["POST"]),
        Route("/audit", pages.audit),
        Route("/plugins", pages.plugins),
        Route("/static/{name}", _static),
    ]
    # the known kinds are answered by the exception middleware; anything else is a 500
    # (logged, and re-raised by Starlette for the server's log)
    handlers: dict[Any, Any] = {kind: _problem for kind in (Problem, LlmspellError, ValueError, HTTPException, Exception)}
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
    app.state.kernel = kernel
    app.state.settings = settings
    app.state.templates = Jinja2Templates(env=env)
    app.state.csrf = secrets.token_urlsafe(24)
    app.state.static = _static_files()
    return Guard(app, token=token, loopback_only=loopback_only)
