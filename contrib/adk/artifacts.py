"""ADK's ``BaseArtifactService`` on llmspell's artifact service.

``Runner(..., artifact_service=LlmspellArtifactService(kernel))``. Behaviour follows ADK's
``InMemoryArtifactService``: versions count 0, 1, 2 ... per file (an ADK version is the
position among the file's live llmspell versions, so after a delete the next save is
version 0 again), ``user:`` files are shared by a user's sessions, references to other
artifacts (``artifact://`` URIs) are resolved on load.

A saved ``Part`` becomes one llmspell artifact version: its bytes (inline data or text)
are the content, stored content-addressed and de-duplicated, with any codecs the
artifact service is configured with; the rest of the ``Part`` and ADK's custom metadata
are the version's metadata.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, cast

from google.adk.artifacts import artifact_util
from google.adk.artifacts.base_artifact_service import ArtifactVersion, BaseArtifactService, ensure_part
from google.adk.errors.input_validation_error import InputValidationError
from google.genai import types

from llmspell.errors import NotFoundError, SerializationError, ValidationError
from llmspell.plugins.artifacts.api import ArtifactMeta, ArtifactScope
from llmspell.serde import check_json

from .._interop import Bridge
from .names import artifact_name, filename_of, session_id, user_owner, user_prefix

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["LlmspellArtifactService"]


def _scope(app_name: str, user_id: str, filename: str, session_id_: str | None) -> ArtifactScope:
    artifact_util.validate_path_segment(app_name, "app_name")
    artifact_util.validate_path_segment(user_id, "user_id")
    if filename.startswith("user:"):
        return ArtifactScope.user(user_owner(user_id))
    if session_id_ is None:
        raise InputValidationError("Session ID must be provided for session-scoped artifacts.")
    artifact_util.validate_path_segment(session_id_, "session_id")
    return ArtifactScope.session(session_id(app_name, user_id, session_id_))


def _split(part: types.Part) -> tuple[bytes, str, dict[str, Any], str | None]:
    """(content, content type, the rest of the part as JSON, ADK's mime type) of a part.

    The content is left out of the dump (JSON mode would base64-encode it only to drop it).
    """
    content: dict[str, Any] = (
        {"inline_data": {"data"}} if part.inline_data is not None else {"text": True} if part.text is not None else {}
    )
    rest = part.model_dump(mode="json", exclude_none=True, exclude=content)
    if part.inline_data is not None:
        mime = part.inline_data.mime_type
        return part.inline_data.data or b"", mime or "application/octet-stream", rest, mime
    if part.text is not None:
        return part.text.encode("utf-8"), "text/plain; charset=utf-8", rest, "text/plain"
    if part.file_data is not None:
        mime = None if artifact_util.is_artifact_ref(part) else part.file_data.mime_type
        return b"", "application/json", rest, mime
    raise InputValidationError("Not supported artifact type.")


def _join(data: bytes, meta: ArtifactMeta) -> types.Part:
    adk = meta.metadata.get("adk", {})
    rest = copy.deepcopy(adk.get("part", {}))
    kind = adk.get("kind")
    part = types.Part.model_validate(rest)
    if kind == "inline":
        inline = part.inline_data or types.Blob()
        return part.model_copy(update={"inline_data": inline.model_copy(update={"data": data})})
    if kind == "text":
        return part.model_copy(update={"text": data.decode("utf-8")})
    return part


class LlmspellArtifactService(BaseArtifactService):
    """ADK artifacts as llmspell artifacts (versioned, scoped, de-duplicated)."""

    def __init__(self, kernel: Kernel, *, loop: Any = None) -> None:
        self.kernel = kernel
        self.bridge = Bridge(kernel, loop)

    async def _versions(self, name: str, scope: ArtifactScope) -> list[ArtifactMeta]:
        try:
            versions: list[ArtifactMeta] = await self.kernel.artifacts.versions(name, scope=scope)
        except NotFoundError:
            return []
        return versions

    # -- saving ---------------------------------------------------------------------

    async def save_artifact(
        self, *, app_name: str, user_id: str, filename: str, artifact: types.Part | dict[str, Any],
        session_id: str | None = None, custom_metadata: dict[str, Any] | None = None,
    ) -> int:
        return await self.bridge.run(self._save(app_name, user_id, filename, artifact, session_id, custom_metadata))

    async def _save(
        self, app_name: str, user_id: str, filename: str, artifact: types.Part | dict[str, Any],
        session_id_: str | None, custom: dict[str, Any] | None,
    ) -> int:
        if not filename.startswith("user:"):
            if session_id_ is None:
                raise InputValidationError("Session ID must be provided for session-scoped artifacts.")
            artifact_util._validate_session_id_for_flat_storage(session_id_)
        part = ensure_part(artifact)
        scope = _scope(app_name, user_id, filename, session_id_)
        if part.file_data is not None and artifact_util.is_artifact_ref(part):
            parsed = artifact_util.parse_artifact_uri(cast(str, part.file_data.file_uri))
            if not parsed:
                raise InputValidationError(f"Invalid artifact reference URI: {part.file_data.file_uri}")
            artifact_util.validate_artifact_reference_scope(
                app_name=app_name, user_id=user_id, session_id=session_id_, parsed_uri=parsed
            )
        data, content_type, rest, mime = _split(part)
        kind = "inline" if part.inline_data is not None else "text" if part.text is not None else "file"
        try:
            check_json(custom or {}, "$.custom_metadata")
            name = artifact_name(app_name, filename)
        except (SerializationError, ValidationError) as exc:
            raise InputValidationError(str(exc)) from exc
        ref = await self.kernel.artifacts.save(
            name, data, content_type=content_type, scope=scope,
            metadata={"adk": {"kind": kind, "part": rest, "mime_type": mime, "custom": copy.deepcopy(custom or {})}},
        )
        versions = [m.ref.version for m in await self._versions(name, scope)]
        return versions.index(ref.version)

    # -- loading --------------------------------------------------------------------

    async def load_artifact(
        self, *, app_name: str, user_id: str, filename: str, session_id: str | None = None, version: int | None = None,
    ) -> types.Part | None:
        return await self.bridge.run(
            self._load(app_name, user_id, filename, session_id, version, artifact_util._MAX_ARTIFACT_REFERENCE_DEPTH)
        )

    async def _meta(
        self, app_name: str, user_id: str, filename: str, session_id_: str | None, version: int | None
    ) -> ArtifactMeta | None:
        scope = _scope(app_name, user_id, filename, session_id_)
        versions = await self._versions(artifact_name(app_name, filename), scope)
        if not versions:
            return None
        if version is None:
            return versions[-1]
        return versions[version] if 0 <= version < len(versions) else None

    async def _load(
        self, app_name: str, user_id: str, filename: str, session_id_: str | None, version: int | None, depth: int,
    ) -> types.Part | None:
        if version is None:  # the latest: one lookup, not the list of every version
            scope = _scope(app_name, user_id, filename, session_id_)
            try:
                reader = await self.kernel.artifacts.open(artifact_name(app_name, filename), scope=scope)
            except NotFoundError:
                return None
            async with reader:
                part = _join(await reader.read(), reader.meta)
        else:
            meta = await self._meta(app_name, user_id, filename, session_id_, version)
            if meta is None:
                return None
            part = _join(await self.kernel.artifacts.load(meta.ref), meta)
        if artifact_util.is_artifact_ref(part):
            assert part.file_data is not None
            parsed = artifact_util.resolve_artifact_reference(
                file_uri=cast(str, part.file_data.file_uri), app_name=app_name, user_id=user_id,
                session_id=session_id_, remaining_depth=depth,
            )
            return await self._load(
                parsed.app_name, parsed.user_id, parsed.filename, parsed.session_id, parsed.version, depth - 1
            )
        # a part with text or inline bytes is neither empty nor the rewind tombstone (an
        # inline part with no bytes): only the others are compared (pydantic equality is slow)
        content = part.text is not None or (part.inline_data is not None and bool(part.inline_data.data))
        if not content and (part == types.Part() or artifact_util._is_rewind_tombstone(part)):
            return None
        return part

    # -- listing and deleting -------------------------------------------------------

    async def list_artifact_keys(self, *, app_name: str, user_id: str, session_id: str | None = None) -> list[str]:
        return await self.bridge.run(self._keys(app_name, user_id, session_id))

    async def _keys(self, app_name: str, user_id: str, session_id_: str | None) -> list[str]:
        artifact_util.validate_path_segment(app_name, "app_name")
        artifact_util.validate_path_segment(user_id, "user_id")
        scopes = [(ArtifactScope.user(user_owner(user_id)), user_prefix(app_name))]
        if session_id_ is not None:
            artifact_util.validate_path_segment(session_id_, "session_id")
            scopes.append((ArtifactScope.session(session_id(app_name, user_id, session_id_)), ""))
        names: list[str] = []
        for scope, prefix in scopes:
            cursor = None
            while True:
                page = await self.kernel.artifacts.list(scope=scope, prefix=prefix, limit=1000, cursor=cursor)
                names += [filename_of(m.ref.name) for m in page.items if "/" not in m.ref.name[len(prefix) :]]
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
        return sorted(names)

    async def delete_artifact(
        self, *, app_name: str, user_id: str, filename: str, session_id: str | None = None
    ) -> None:
        async def delete() -> None:
            scope = _scope(app_name, user_id, filename, session_id)
            try:
                await self.kernel.artifacts.delete(artifact_name(app_name, filename), scope=scope, all_versions=True)
            except NotFoundError:
                return

        await self.bridge.run(delete())

    async def list_versions(
        self, *, app_name: str, user_id: str, filename: str, session_id: str | None = None
    ) -> list[int]:
        async def versions() -> list[int]:
            scope = _scope(app_name, user_id, filename, session_id)
            return list(range(len(await self._versions(artifact_name(app_name, filename), scope))))

        return await self.bridge.run(versions())

    @staticmethod
    def _version(index: int, meta: ArtifactMeta) -> ArtifactVersion:
        adk = meta.metadata.get("adk", {})
        return ArtifactVersion(
            version=index, canonical_uri=str(meta.ref), custom_metadata=copy.deepcopy(adk.get("custom", {})),
            create_time=meta.created.timestamp(), mime_type=adk.get("mime_type"),
        )

    async def list_artifact_versions(
        self, *, app_name: str, user_id: str, filename: str, session_id: str | None = None
    ) -> list[ArtifactVersion]:
        async def listing() -> list[ArtifactVersion]:
            scope = _scope(app_name, user_id, filename, session_id)
            metas = await self._versions(artifact_name(app_name, filename), scope)
            return [self._version(i, m) for i, m in enumerate(metas)]

        return await self.bridge.run(listing())

    async def get_artifact_version(
        self, *, app_name: str, user_id: str, filename: str, session_id: str | None = None, version: int | None = None,
    ) -> ArtifactVersion | None:
        async def one() -> ArtifactVersion | None:
            scope = _scope(app_name, user_id, filename, session_id)
            metas = await self._versions(artifact_name(app_name, filename), scope)
            if not metas:
                return None
            index = len(metas) - 1 if version is None else version
            return self._version(index, metas[index]) if 0 <= index < len(metas) else None

        return await self.bridge.run(one())
