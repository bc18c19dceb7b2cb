"""What every operation of the artifact service uses: backends, codecs, scopes, principals,
permission checks.

The service owns one :class:`ArtifactCore` and builds its parts on it (writing blobs,
deleting and sharing, gc and key rotation).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from llmspell.context import ExecutionContext, Principal
from llmspell.errors import NotFoundError, PermissionDenied, ValidationError, deprecated
from llmspell.plugins.artifacts.api import ArtifactAcl, ArtifactId, ArtifactMeta, ArtifactRef, ArtifactScope
from llmspell.plugins.artifacts.backend import ArtifactIndex, BlobStore, Codec, CodecOptions, KeyProvider
from llmspell.plugins.sessions.api import SessionService

from ._acl import acting, allowed, principal_key, record_denial
from ._codecs import EncodeChain
from ._config import ArtifactsConfig
from .backend import check_name, check_owner, check_scope, check_version

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["ArtifactCore"]

log = logging.getLogger("llmspell.artifacts")
T = TypeVar("T")
_WHERE = frozenset({"session_id", "user_id", "scope", "owner", "ctx", "principal"})


class ArtifactCore:
    """Backends, codecs and the helpers every operation uses."""

    def __init__(
        self,
        kernel: Kernel,
        config: ArtifactsConfig,
        store: BlobStore,
        index: ArtifactIndex,
        codecs: dict[str, Codec],
        keys: KeyProvider | None = None,
    ) -> None:
        self.kernel = kernel
        self.config = config
        self.store = store
        self.index = index
        self.codecs = codecs
        self.options = CodecOptions(
            frame_size=config.frame_size, keys=keys, level=config.compression_level,
            min_ratio=config.min_compression_ratio,
        )
        self.denials: collections.deque[dict[str, str]] = collections.deque(maxlen=1000)
        """The most recent permission denials (each is also published as ``artifact.denied``)."""
        self._session_users: dict[str, str | None] = {}
        self._pool: ThreadPoolExecutor | None = None

    def run(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run CPU work (hashing, codecs) on the service's own thread.

        One dedicated thread keeps the number of malloc arenas, and so the memory of
        large transfers, small; it still runs beside the event loop and the store's I/O.
        """
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="llmspell-artifacts")
        return asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def start(self) -> None:
        used = {n for chain in [self.config.codecs, *self.config.scope_codecs.values()] for n in chain}
        for name in sorted(used):
            self.codec(name).check(self.options)
        for backend in (self.store, self.index):  # the kernel opens them; one with start() only is old
            starting = getattr(backend, "start", None)
            if getattr(backend, "open", None) is None and starting is not None:
                deprecated(f"{type(backend).__name__}.start() is deprecated: name it open(); it goes in the next release")
                await starting()

    async def close(self) -> None:
        """Stop the service's thread (the kernel closes the store and the index)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    # -- codecs -----------------------------------------------------------------------

    def codec(self, name: str) -> Codec:
        codec = self.codecs.get(name)
        if codec is None:
            raise ValidationError(f"unknown artifact codec {name!r}; registered: {', '.join(sorted(self.codecs)) or 'none'}")
        return codec

    def encoder(self, chain: list[Codec]) -> EncodeChain:
        return EncodeChain(chain, self.options)

    # -- where and who ----------------------------------------------------------------

    def scope_id(self, scope: ArtifactScope) -> ArtifactScope:
        check_scope(scope.kind)
        check_owner(scope.id, scope.kind)
        return scope

    def scope_for(
        self,
        scope: ArtifactScope | str | None,
        owner: str | None,
        session_id: str | None,
        user_id: str | None,
        ctx: ExecutionContext | None,
    ) -> ArtifactScope:
        """The scope of a call (see :meth:`~.service.ArtifactStore.save`)."""
        if isinstance(scope, ArtifactScope):
            return self.scope_id(scope)
        if scope is not None:
            kind = check_scope(scope)
            default = {"session": session_id, "user": user_id, "app": self.config.app}[kind]
            if kind == "session" and default is None and ctx is not None:
                default = ctx.session_id
            if kind == "user" and default is None and ctx is not None:
                default = ctx.user_id
            ident = owner or default
            if ident is None:
                raise ValidationError(f"scope {kind!r} needs an owner id (owner=, session_id= or user_id=)")
            return self.scope_id(ArtifactScope(kind, ident))
        if owner is not None:
            raise ValidationError("owner= needs scope= as well")
        if session_id is not None:
            return self.scope_id(ArtifactScope.session(session_id))
        if user_id is not None:
            return self.scope_id(ArtifactScope.user(user_id))
        if ctx is not None and ctx.session_id is not None:
            return self.scope_id(ArtifactScope.session(ctx.session_id))
        if ctx is not None and ctx.user_id is not None:
            return self.scope_id(ArtifactScope.user(ctx.user_id))
        return self.scope_id(ArtifactScope.app(self.config.app))

    def check_where(self, where: dict[str, Any]) -> None:
        unknown = sorted(set(where) - _WHERE)
        if unknown:
            raise TypeError(f"unexpected keyword argument(s): {', '.join(unknown)}")

    def who(self, where: dict[str, Any]) -> Principal:
        self.check_where(where)
        return acting(where.get("ctx"), where.get("principal"))

    def id_for(self, target: ArtifactRef | str, where: dict[str, Any]) -> ArtifactId:
        self.check_where(where)
        if isinstance(target, str) and target.startswith("artifact:"):
            target = ArtifactRef.parse(target)
        if isinstance(target, ArtifactRef):
            self.scope_id(ArtifactScope(target.scope, target.owner))
            return ArtifactId(target.scope, target.owner, check_name(target.name))
        if not isinstance(target, str):
            raise ValidationError(f"expected an artifact name or ArtifactRef, got {type(target).__name__}")
        scope = self.scope_for(where.get("scope"), where.get("owner"), where.get("session_id"), where.get("user_id"), where.get("ctx"))
        return ArtifactId(scope.kind, scope.id, check_name(target))

    def filter_scope(self, where: dict[str, Any]) -> tuple[str | None, str | None]:
        self.check_where(where)
        if not any(where.get(k) is not None for k in ("scope", "owner", "session_id", "user_id")):
            return None, None
        if where.get("scope") is not None and where.get("owner") is None and isinstance(where["scope"], str):
            kind = check_scope(where["scope"])
            ident = where.get("session_id") if kind == "session" else where.get("user_id") if kind == "user" else None
            return kind, ident
        scope = self.scope_for(where.get("scope"), where.get("owner"), where.get("session_id"), where.get("user_id"), None)
        return scope.kind, scope.id

    async def resolve(self, target: ArtifactRef | str, version: int | None, permission: str, where: dict[str, Any]) -> ArtifactMeta:
        """The metadata of a version the acting principal may ``permission``."""
        id_ = self.id_for(target, where)
        who = self.who(where)
        if version is None and isinstance(target, ArtifactRef):
            version = target.version
        elif version is None and isinstance(target, str) and target.startswith("artifact:"):
            version = ArtifactRef.parse(target).version
        if version is not None:
            check_version(version)
        acl = await self.index.get_acl(id_)
        if acl is None:
            raise NotFoundError(f"no artifact {id_}")
        await self.require(who, acl, permission, id_)
        meta = await self.index.get(id_, version)
        if meta is None:
            raise NotFoundError(f"no version {version} of {id_}" if version else f"no artifact {id_}")
        return meta

    async def natural_owner(self, scope: ArtifactScope, who: Principal, ctx: ExecutionContext | None, user_id: str | None) -> str:
        """The owner of a new artifact in ``scope`` (see :mod:`.acl`)."""
        if scope.kind == "user":
            return f"user:{scope.id}"
        if scope.kind == "app":
            return f"app:{scope.id}"
        user = user_id or await self.session_user(scope.id)
        if user is None and ctx is not None and ctx.session_id == scope.id:
            user = ctx.user_id
        return f"user:{user}" if user else principal_key(who)

    async def session_user(self, session_id: str) -> str | None:
        if session_id in self._session_users:
            return self._session_users[session_id]
        sessions = self.kernel.services.find(SessionService)
        user: str | None = None
        if sessions is not None:
            try:
                session = await sessions.get(session_id)
            except (NotFoundError, LookupError):
                session = None
            user = getattr(session, "user_id", None) if session is not None else None
            if len(self._session_users) > 4096:
                self._session_users.clear()
            self._session_users[session_id] = user
        return user

    # -- permission checks --------------------------------------------------------------

    def allowed(self, who: Principal, acl: ArtifactAcl, permission: str) -> bool:
        return allowed(who, acl, permission)

    async def require(self, who: Principal, acl: ArtifactAcl, permission: str, target: ArtifactId | ArtifactRef) -> None:
        if not allowed(who, acl, permission):
            await self.deny(who, permission, target)

    async def require_create(self, who: Principal, owned_by: str, target: ArtifactId) -> None:
        if not (who.is_admin or (principal_key(who) == owned_by and not who.is_anonymous)):
            await self.deny(who, "write", target)

    async def deny(self, who: Principal, permission: str, target: ArtifactId | ArtifactRef) -> None:
        reason = "the anonymous principal owns nothing" if who.is_anonymous else "not the owner and no grant"
        self.denials.append(await record_denial(self.kernel, who, str(target), permission, reason))
        raise PermissionDenied(principal_key(who), str(target), permission)
