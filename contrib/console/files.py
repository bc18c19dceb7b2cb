"""Artifacts: a page with metadata, versions and a preview; inline images; downloads.

Bytes come from the artifact service (``kernel.artifacts.open``), streamed and verified
against their hash; a name never becomes a file path here. Names with path tricks are
refused with 400 before the service sees them. Only raster images are served inline
(SVG can carry script); everything else is a download (``Content-Disposition:
attachment``, sandboxed, never sniffed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from .reading import IMAGE_TYPES, TEXT_TYPES, check_artifact_name, check_session_id, session_row
from .web import Problem, artifact_path, int_param, render

__all__ = ["artifact", "raw", "download"]

_SANDBOX = "default-src 'none'; sandbox"


async def _open(request: Request) -> tuple[str, str, Any]:
    sid = check_session_id(request.path_params["sid"])
    name = check_artifact_name(request.path_params["name"])
    version = int_param(request, "version", minimum=1)
    kernel = request.app.state.kernel
    await kernel.sessions.get(sid)  # an unknown session is a 404 before anything else
    reader = await kernel.artifacts.open(name, version=version, session_id=sid)
    return sid, name, reader


def _previewable(content_type: str) -> str | None:
    base = content_type.split(";", 1)[0].strip().lower()
    if base in IMAGE_TYPES:
        return "image"
    if base.startswith("text/") or base in TEXT_TYPES or base.endswith(("+json", "+xml")):
        return "text"
    return None


async def artifact(request: Request) -> Response:
    sid, name, reader = await _open(request)
    kernel = request.app.state.kernel
    meta = reader.meta
    kind = _previewable(meta.content_type)
    text = None
    cut = False
    limit = request.app.state.settings.preview_bytes
    async with reader:
        if kind == "text":
            data = bytearray()
            async for chunk in reader:
                data += chunk
                if len(data) >= limit:
                    cut = len(data) > limit or meta.size > limit
                    break
            text = bytes(data[:limit]).decode("utf-8", "replace")
    versions = await kernel.artifacts.versions(name, session_id=sid)
    session = await kernel.sessions.get(sid)
    return render(
        request, "artifact.html", s=session_row(session), sid_url=quote(sid, safe=""), name=name, meta=meta,
        kind=kind, text=text, cut=cut, limit=limit,
        versions=[{"version": m.ref.version, "size": m.size, "created": m.created.strftime("%Y-%m-%d %H:%M:%S"),
                   "sha256": m.sha256, "url": artifact_path("artifact", sid, name, m.ref.version)} for m in versions],
        raw_url=artifact_path("raw", sid, name, meta.ref.version),
        download_url=artifact_path("download", sid, name, meta.ref.version),
    )


async def _chunks(reader: Any) -> AsyncIterator[bytes]:
    async with reader:
        async for chunk in reader:
            yield chunk


async def raw(request: Request) -> Response:
    """A raster image inline, for the preview."""
    _sid, _name, reader = await _open(request)
    base = reader.meta.content_type.split(";", 1)[0].strip().lower()
    if base not in IMAGE_TYPES:
        await reader.aclose()
        raise Problem(400, "only raster images are shown inline; download the artifact instead")
    return StreamingResponse(_chunks(reader), media_type=base, headers={
        "content-length": str(reader.meta.size), "content-disposition": "inline",
        "content-security-policy": _SANDBOX,
    })


async def download(request: Request) -> Response:
    _sid, name, reader = await _open(request)
    filename = name.rsplit("/", 1)[-1]
    fallback = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in filename) or "artifact"
    return StreamingResponse(_chunks(reader), media_type="application/octet-stream", headers={
        "content-length": str(reader.meta.size),
        "content-disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}",
        "content-security-policy": _SANDBOX,
        "x-llmspell-sha256": reader.meta.sha256,
    })
