"""The artifact service (``kernel.artifacts``): save, load, open, stat, versions, list, copy.

:class:`ArtifactStore` owns an :class:`~.base.ArtifactCore` (backends, codecs, scopes,
permission checks) and the parts built on it, and hands them its other methods: writing
blobs (:mod:`.writes`), deletion, grants and retention (:mod:`.lifecycle`), gc and key
rotation (:mod:`.maintenance`). The rules for principals and permissions are in
:mod:`.acl`. See ``docs/artifacts.md`` for the guide.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import mimetypes
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from llmspell import serde
from llmspell.context import ExecutionContext, Principal
from llmspell.errors import NotFoundError, ValidationError
from llmspell.plugins._values import check_int, check_mapping
from llmspell.plugins.artifacts.api import (
    ArtifactAcl,
    ArtifactId,
    ArtifactMeta,
    ArtifactPage,
    ArtifactRef,
    ArtifactScope,
    SaveRequest,
)
from llmspell.plugins.artifacts.backend import (
    ArtifactIndex,
    ArtifactQuery,
    BlobStore,
    Codec,
    KeyProvider,
    encode_cursor,
)

from ._acl import acting, principal_key
from ._base import ArtifactCore
from ._config import ArtifactsConfig
from ._lifecycle import Lifecycle, RetentionReport
from ._maintenance import GcReport, Maintenance, RotationReport
from ._streams import decode_blob
from ._writes import BlobSaver
from .backend import check_content_type, check_name, check_tag

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["ArtifactStore", "ArtifactReader"]

log = logging.getLogger("llmspell.artifacts")
T = TypeVar("T")


def _tags(tags: object) -> tuple[str, ...]:
    """One tag or a list of them, each checked."""
    if isinstance(tags, str):
        return (check_tag(tags),)
    if not isinstance(tags, Iterable) or isinstance(tags, bytes | Mapping):
        raise ValidationError(f"tags must be a tag or a list of tags, got {type(tags).__name__} {tags!r:.60}")
    return tuple(check_tag(t) for t in tags)


def _names(argument: str, names: object) -> tuple[str, ...]:
    if isinstance(names, str) or not isinstance(names, Iterable) or not all(isinstance(n, str) for n in names):
        raise ValidationError(f"{argument} must be a list of names, got {names!r:.60}")
    return tuple(names)


class ArtifactReader:
    """An open artifact version: ``async for chunk in reader``, or ``await reader.read()``.

    ``meta`` describes the version. The content is verified as it streams; a mismatch
    raises :class:`~llmspell.errors.IntegrityError` before the last chunk is handed out.
    Use it as an async context manager, or call ``aclose()`` when stopping early.
    """

    def __init__(self, meta: ArtifactMeta, chunks: AsyncIterator[bytes]) -> None:
        self.meta = meta
        self._chunks = chunks

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks

    async def read(self) -> bytes:
        """The whole remaining content (mind the size: this holds it in memory)."""
        return b"".join([chunk async for chunk in self._chunks])

    async def aclose(self) -> None:
        closer = getattr(self._chunks, "aclose", None)
        if closer is not None:
            await closer()

    async def __aenter__(self) -> ArtifactReader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class ArtifactStore:
    """The default :class:`~llmspell.plugins.artifacts.api.ArtifactService`."""

    def __init__(
        self,
        kernel: Kernel,
        config: ArtifactsConfig,
        store: BlobStore,
        index: ArtifactIndex,
        codecs: dict[str, Codec],
        keys: KeyProvider | None = None,
    ) -> None:
        core = self.core = ArtifactCore(kernel, config, store, index, codecs, keys)
        self.kernel = kernel
        self.config = config
        self.store = store
        self.index = index
        self.codecs = codecs
        self.options = core.options
        self.denials = core.denials
        """The most recent permission denials (each is also published as ``artifact.denied``)."""
        self.saver = BlobSaver(core)
        self.lifecycle = Lifecycle(core)
        self.maintenance = Maintenance(core)

    def run(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run CPU work (hashing, codecs) on the service's own thread."""
        return self.core.run(fn, *args)

    async def start(self) -> None:
        await self.core.start()

    async def close(self) -> None:
        await self.core.close()

    # -- save -------------------------------------------------------------------------

    async def save(
        self,
        name: str,
        data: Any,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        tags: Iterable[str] = (),
        session_id: str | None = None,
        user_id: str | None = None,
        scope: ArtifactScope | str | None = None,
        owner: str | None = None,
        codecs: Iterable[str] | None = None,
        ctx: ExecutionContext | None = None,
        principal: Principal | str | None = None,
    ) -> ArtifactRef:
        """Save ``data`` as the next version of ``name``; returns its :class:`ArtifactRef`.

        ``data``: bytes, an (async) iterable of bytes, or a binary file-like object.
        The scope is ``scope=``/``owner=``, else ``session_id=``, else ``user_id=``, else the
        context's session or user, else the app scope. ``codecs`` overrides the chain
        configured for the scope.
        """
        core = self.core
        who = acting(ctx, principal)
        where = core.scope_for(scope, owner, session_id, user_id, ctx)
        request = SaveRequest(
            name=check_name(name),
            scope=where,
            content_type=self._content_type(name, content_type),
            principal=principal_key(who),
            tags=_tags(tags),
            metadata=check_mapping(metadata, "metadata"),
            codecs=tuple(self.config.chain_for(where.kind) if codecs is None else _names("codecs", codecs)),
        )
        if self.kernel.hook.artifact_before_save:
            call = await self.kernel.hook.artifact_before_save(ctx=ctx, request=request)
            if not isinstance(call.request, SaveRequest):
                raise ValidationError(f"an artifact_before_save hook replaced the request with {call.request!r}")
            request = call.request
            check_name(request.name)
            core.scope_id(request.scope)
        id_ = ArtifactId(request.scope.kind, request.scope.id, request.name)
        acl = await self.index.get_acl(id_)
        if acl is None:
            owned_by = await core.natural_owner(request.scope, who, ctx, user_id)
            await core.require_create(who, owned_by, id_)
            acl = ArtifactAcl(id=id_, owned_by=owned_by)
        else:
            await core.require(who, acl, "write", id_)
        chain = [core.codec(n) for n in request.codecs]
        token = uuid.uuid4().hex
        small = self.saver.small(data, chain)
        if small is None:
            blob, size, sha = await self.saver.store_blob(data, chain, token)
        else:
            blob, size, sha = small[0], small[0].size, small[0].sha256
        meta = ArtifactMeta(
            ref=id_.at(0), size=size, sha256=sha, content_type=request.content_type, creator=request.principal,
            blob=blob.key, tags=request.tags, metadata=request.metadata, codecs=blob.codecs, stored_size=blob.stored_size,
        )
        try:
            if small is None:
                meta = await self.index.commit(meta, acl=acl, blob=blob, lease=token)  # releases the lease
            else:  # the blob's row and the version in one transaction (nothing was leased)
                meta = await self.index.commit(meta, acl=acl, blob=blob, small=small[1])  # type: ignore[call-arg]
        except BaseException:
            if small is None:
                await self.index.release(token)
            raise
        ref = meta.ref
        await self._after_save(ref, ctx)
        return ref

    def _content_type(self, name: str, given: str | None) -> str:
        if given is not None:
            return check_content_type(given)
        return mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"

    async def _after_save(self, ref: ArtifactRef, ctx: ExecutionContext | None) -> None:
        await self.kernel.hook.artifact_saved(ctx=ctx, ref=ref)
        await self.kernel.emit("artifact.saved", {"ref": str(ref)}, source="artifacts")
        policy = self.config.policy_for(ref.scope)
        if policy is not None and policy.keep_last is not None:
            await self.lifecycle.keep_last(ref.id, policy.keep_last)

    # -- read -------------------------------------------------------------------------

    async def open(self, ref: ArtifactRef | str, *, version: int | None = None, chunk_size: int | None = None, **where: Any) -> ArtifactReader:
        """Open one version for streaming (the latest unless ``version`` or a ref names one)."""
        core = self.core
        ctx = where.get("ctx")
        if chunk_size is not None:
            check_int(chunk_size, "chunk_size", minimum=1, maximum=1 << 30)
        meta = await core.resolve(ref, version, "read", where)
        await self.kernel.hook.artifact_loaded(ctx=ctx, ref=meta.ref)
        chunks = decode_blob(self.store, meta, self.codecs, self.options, chunk_size or self.config.chunk_size, self.run)
        return ArtifactReader(meta, chunks)

    async def load(self, ref: ArtifactRef | str, *, version: int | None = None, **where: Any) -> bytes:
        """The whole content of one version, verified (use :meth:`open` for large ones)."""
        reader = await self.open(ref, version=version, **where)
        async with reader:
            return await reader.read()

    async def stat(self, ref: ArtifactRef | str, *, version: int | None = None, **where: Any) -> ArtifactMeta:
        """The metadata of one version."""
        return await self.core.resolve(ref, version, "read", where)

    async def versions(self, name: ArtifactRef | str, **where: Any) -> list[ArtifactMeta]:
        """Every live version of an artifact, oldest first."""
        core = self.core
        id_ = core.id_for(name, where)
        acl = await self.index.get_acl(id_)
        if acl is None:
            raise NotFoundError(f"no artifact {id_}")
        await core.require(core.who(where), acl, "read", id_)
        return await self.index.versions(id_)

    async def list(
        self,
        *,
        prefix: str = "",
        tag: str | None = None,
        content_type: str | None = None,
        all_versions: bool = False,
        limit: int = 100,
        cursor: str | None = None,
        **where: Any,
    ) -> ArtifactPage:
        """Artifacts the principal may read, ordered by scope, owner and name; paginated.

        Filters: the scope (``session_id=``, ``user_id=``, ``scope=`` with ``owner=``; none:
        every scope), a name ``prefix``, a ``tag``, a ``content_type`` (``"image/*"`` for a
        family). Pass the page's ``next_cursor`` as ``cursor`` for the next page.
        """
        core = self.core
        if type(limit) is not int or not 1 <= limit <= 1000:
            raise ValidationError(f"limit must be an integer from 1 to 1000, got {limit!r:.60}")
        if not isinstance(prefix, str):
            raise ValidationError(f"prefix must be a string, got {type(prefix).__name__}")
        if tag is not None:
            check_tag(tag)
        if content_type is not None:
            check_content_type(content_type, pattern=True)
        if type(all_versions) is not bool:
            raise ValidationError(f"all_versions must be True or False, got {all_versions!r:.60}")
        if cursor is not None and not isinstance(cursor, str):
            raise ValidationError(f"cursor must be a string from a page's next_cursor, got {type(cursor).__name__}")
        who = core.who(where)
        scope_kind, owner = core.filter_scope(where)
        acls: dict[ArtifactId, ArtifactAcl | None] = {}
        found: list[ArtifactMeta] = []
        while True:
            query = ArtifactQuery(
                scope=scope_kind, owner=owner, prefix=prefix, tag=tag, content_type=content_type,
                latest_only=not all_versions, limit=limit, cursor=cursor,
            )
            page = await self.index.query(query)
            for i, meta in enumerate(page.items):
                id_ = meta.ref.id
                if id_ not in acls:
                    acls[id_] = await self.index.get_acl(id_)
                acl = acls[id_]
                if acl is not None and core.allowed(who, acl, "read"):
                    found.append(meta)
                if len(found) == limit:
                    more = i < len(page.items) - 1 or page.next_cursor is not None
                    return ArtifactPage(tuple(found), encode_cursor(meta) if more else None)
            if page.next_cursor is None:
                return ArtifactPage(tuple(found), None)
            cursor = page.next_cursor

    async def copy(
        self,
        ref: ArtifactRef | str,
        name: str,
        *,
        version: int | None = None,
        to: ArtifactScope | None = None,
        tags: Iterable[str] | None = None,
        **where: Any,
    ) -> ArtifactRef:
        """Save version ``ref`` again as ``name`` (in scope ``to``, default the same scope).

        Needs read on the source and write (or ownership) at the target. No bytes are
        copied: the new version points at the same blob.
        """
        core = self.core
        ctx = where.get("ctx")
        who = core.who(where)
        if to is not None and not isinstance(to, ArtifactScope):
            raise ValidationError(f"to must be an ArtifactScope (ArtifactScope.user('u1') ...), got {to!r:.60}")
        new_tags = None if tags is None else _tags(tags)
        source = await core.resolve(ref, version, "read", where)
        scope = to or ArtifactScope(source.ref.scope, source.ref.owner)
        core.scope_id(scope)
        id_ = ArtifactId(scope.kind, scope.id, check_name(name))
        acl = await self.index.get_acl(id_)
        if acl is None:
            owned_by = await core.natural_owner(scope, who, ctx, None)
            await core.require_create(who, owned_by, id_)
            acl = ArtifactAcl(id=id_, owned_by=owned_by)
        else:
            await core.require(who, acl, "write", id_)
        token = uuid.uuid4().hex
        blob = await self.saver.existing(source.blob, token)
        if blob is None:
            raise NotFoundError(f"{source.ref}: its blob {source.blob} is missing")
        meta = attrs.evolve(
            source, ref=id_.at(0), creator=principal_key(who), created=serde.utcnow(),
            tags=source.tags if new_tags is None else new_tags,
        )
        try:
            meta = await self.index.commit(meta, acl=acl, blob=blob, lease=token)  # releases the lease
        except BaseException:
            await self.index.release(token)
            raise
        await self._after_save(meta.ref, ctx)
        return meta.ref

    # -- deletion, grants, sessions and retention (see .lifecycle) ------------------------

    async def delete(
        self, ref: ArtifactRef | str, *, version: int | None = None, all_versions: bool = False, **where: Any
    ) -> builtins.list[ArtifactRef]:
        """Delete one version (a ref, or ``version=``) or every version (a bare name, or
        ``all_versions=True``); returns the deleted refs. Needs ``delete``."""
        return await self.lifecycle.delete(ref, version=version, all_versions=all_versions, **where)

    async def acl(self, ref: ArtifactRef | str, **where: Any) -> ArtifactAcl:
        """Owner and grants of an artifact (needs ``read``)."""
        return await self.lifecycle.acl(ref, **where)

    async def grant(
        self, ref: ArtifactRef | str, grantee: Any, permissions: Iterable[str] | str = ("read",), **where: Any
    ) -> ArtifactAcl:
        """Give ``grantee`` permissions on every version of an artifact. Needs ``share``."""
        return await self.lifecycle.grant(ref, grantee, permissions, **where)

    async def revoke(
        self, ref: ArtifactRef | str, grantee: Any, permissions: Iterable[str] | str | None = None, **where: Any
    ) -> ArtifactAcl:
        """Take permissions (default: all) back from ``grantee``. Needs ``share``."""
        return await self.lifecycle.revoke(ref, grantee, permissions, **where)

    async def delete_session(self, session_id: str) -> int:
        """Delete every artifact of a session now; returns the number of versions deleted."""
        return await self.lifecycle.delete_session(session_id)

    async def session_ended(self, session_id: str, *, at: datetime | None = None) -> int:
        """Note that a session ended; with ``session_end_days = 0`` its artifacts go at once."""
        return await self.lifecycle.session_ended(session_id, at=at)

    async def apply_retention(self, *, now: datetime | None = None, dry_run: bool = False, **where: Any) -> RetentionReport:
        """Apply the configured retention policies to every scope (an admin operation)."""
        return await self.lifecycle.apply_retention(now=now, dry_run=dry_run, **where)

    # -- gc and key rotation (see .maintenance) ---------------------------------------------

    async def gc(self, *, dry_run: bool = False, grace: float | None = None,
                 on_progress: Callable[[int, int], Any] | None = None, **where: Any) -> GcReport:
        """Remove blobs no version refers to and uploads left by crashes (an admin operation)."""
        return await self.maintenance.gc(dry_run=dry_run, grace=grace, on_progress=on_progress, **where)

    async def rotate_keys(self, *, batch: int = 100, **where: Any) -> RotationReport:
        """Re-encrypt every blob sealed with an older key under the current key (admin)."""
        return await self.maintenance.rotate_keys(batch=batch, **where)
