"""Small helpers shared by the console's handlers: rendering, parameters, problems."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response

from llmspell.errors import ValidationError

__all__ = ["Problem", "render", "int_param", "text_param", "artifact_path", "query_url", "MAX_FORM"]

#: Largest form body a POST may carry (the forms hold one hidden field).
MAX_FORM = 4096


class Problem(Exception):
    """An answer other than 200 for the error page: ``Problem(404, "no session 'x'")``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def render(request: Request, template: str, http_status: int = 200, **context: Any) -> Response:
    state = request.app.state
    context.setdefault("csrf", state.csrf)
    context.setdefault("nav", "")
    context.setdefault("data_dir", str(state.kernel.data_dir))
    response: Response = state.templates.TemplateResponse(request, template, context, status_code=http_status)
    return response


def int_param(request: Request, name: str, *, minimum: int = 0) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise ValidationError(f"{name} must be a whole number, got {raw[:40]!r}")
    value = int(raw)
    if value < minimum:
        raise ValidationError(f"{name} must be at least {minimum}")
    return value


def text_param(request: Request, name: str, limit: int = 256) -> str:
    value = request.query_params.get(name, "").strip()
    if len(value) > limit or not value.isprintable():
        raise ValidationError(f"{name} is too long or holds control characters")
    return value


def artifact_path(kind: str, session_id: str, name: str, version: int | None = None) -> str:
    """``/sessions/<id>/<kind>/<name>`` with every part escaped for a URL."""
    url = f"/sessions/{quote(session_id, safe='')}/{kind}/{quote(name, safe='/')}"
    return f"{url}?version={version}" if version is not None else url


def query_url(path: str, **params: Any) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{path}?{urlencode(kept)}" if kept else path
