"""The public contract of the artifacts capability: what users and other plugins call.

Artifacts: the contract of the artifact service, blob stores, metadata indexes and codecs.

The artifact service (``kernel.artifacts``) is provided by a plugin (the default one is
``llmspell.plugins.artifacts``). It keeps versioned binary artifacts in two backends chosen
by name: a :class:`BlobStore` holds content-addressed bytes, an :class:`ArtifactIndex`
holds everything else (versions, ownership and grants, blob records, leases). Codecs
(:class:`Codec`) transform blob bytes on the way in and out (compression, encryption).

Every record here is a frozen attrs class that round-trips through :mod:`llmspell.serde`
and carries a ``schema_version``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from llmspell.context import ExecutionContext, Principal
from llmspell.errors import IntegrityError, ValidationError
from llmspell.serde import utcnow

if TYPE_CHECKING:
    from llmspell import Kernel
    from llmspell.plugins.artifacts.backend import ArtifactIndex, BlobStore

log = logging.getLogger("llmspell.audit")

__all__ = [
    "principal_key",
    "record_denial",
    "AUDIT_STREAM",
    "SCOPES",
    "PERMISSIONS",
    "ArtifactScope",
    "ArtifactId",
    "ArtifactRef",
    "ArtifactMeta",
    "ArtifactAcl",
    "ArtifactPage",
    "WrongKeyError",
    "SaveRequest",
    "ArtifactService",
]

#: The event stream of denials and other audit records (``llmspell events replay audit``).
AUDIT_STREAM = "audit"


#: The scopes an artifact can live in.
SCOPES: tuple[str, ...] = ("session", "user", "app")


#: The permissions checked against the acting principal.
PERMISSIONS: tuple[str, ...] = ("read", "write", "delete", "share")


SCHEMA_VERSION = 1


class WrongKeyError(IntegrityError):
    """An encrypted blob cannot be opened with the configured key (wrong or missing key)."""


@attrs.frozen
class ArtifactScope:
    """Where artifacts live: ``session/<session id>``, ``user/<user id>`` or ``app/<name>``."""

    kind: str
    id: str

    @classmethod
    def session(cls, session_id: str) -> ArtifactScope:
        return cls("session", session_id)

    @classmethod
    def user(cls, user_id: str) -> ArtifactScope:
        return cls("user", user_id)

    @classmethod
    def app(cls, name: str = "app") -> ArtifactScope:
        return cls("app", name)

    def __str__(self) -> str:
        return f"{self.kind}/{self.id}"


@attrs.frozen
class ArtifactId:
    """One artifact (all its versions): a name inside a scope."""

    scope: str
    owner: str
    """The id the scope belongs to: the session id, the user id or the app name."""
    name: str

    def at(self, version: int) -> ArtifactRef:
        return ArtifactRef(self.scope, self.owner, self.name, version)

    def __str__(self) -> str:
        return f"artifact:{self.scope}/{self.owner}/{self.name}"


@attrs.frozen
class ArtifactRef:
    """One immutable version of an artifact; ``str(ref)`` is ``artifact:scope/owner/name@N``."""

    scope: str
    owner: str
    """The id the scope belongs to: the session id, the user id or the app name."""
    name: str
    version: int

    @property
    def id(self) -> ArtifactId:
        return ArtifactId(self.scope, self.owner, self.name)

    @classmethod
    def parse(cls, text: str) -> ArtifactRef:
        """Read ``artifact:scope/owner/name@N`` (as printed by ``str(ref)``)."""
        body = text.removeprefix("artifact:")
        head, sep, version = body.rpartition("@")
        scope, _, rest = head.partition("/")
        owner, _, name = rest.partition("/")
        if not text.startswith("artifact:") or not sep or not version.isdigit() or not (scope and owner and name):
            raise ValidationError(f"{text!r} is not an artifact reference (artifact:scope/owner/name@version)")
        return cls(scope, owner, name, int(version))

    def __str__(self) -> str:
        return f"artifact:{self.scope}/{self.owner}/{self.name}@{self.version}"


@attrs.frozen
class ArtifactMeta:
    """The metadata of one artifact version (what ``stat`` returns)."""

    ref: ArtifactRef
    size: int
    sha256: str
    """Hex sha-256 of the content (the plaintext, before any codec)."""
    content_type: str
    creator: str
    """The principal that saved this version (``user:u1``, ``system:system`` ...)."""
    blob: str
    """Key of the content-addressed blob holding the bytes."""
    created: datetime = attrs.field(factory=utcnow)
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = attrs.Factory(dict)
    codecs: tuple[str, ...] = ()
    """The codec chain applied to the stored bytes, in encoding order."""
    stored_size: int = 0
    schema_version: int = SCHEMA_VERSION


@attrs.frozen
class ArtifactAcl:
    """Owner and grants of one artifact (shared by all its versions)."""

    id: ArtifactId
    owned_by: str
    """The owning principal as ``kind:id``; it holds every permission."""
    grants: dict[str, tuple[str, ...]] = attrs.Factory(dict)
    """Grantee (``user:u2``, ``app:demo``, ``user:*`` for every user) -> sorted permissions."""
    schema_version: int = SCHEMA_VERSION


@attrs.frozen
class SaveRequest:
    """What ``artifact_before_save`` hooks see as ``call.request`` (replace it to change the save)."""

    name: str
    scope: ArtifactScope
    content_type: str
    principal: str
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = attrs.Factory(dict)
    codecs: tuple[str, ...] = ()


@attrs.frozen
class ArtifactPage:
    """One page of results; ``next_cursor`` is None on the last page."""

    items: tuple[ArtifactMeta, ...]
    next_cursor: str | None = None


@runtime_checkable
class ArtifactService(Protocol):
    """Versioned, scoped binary artifacts (``kernel.artifacts``); see ``docs/artifacts.md``."""

    @property
    def store(self) -> BlobStore:
        """The blob store holding the content (``[artifacts] backend``)."""
        ...

    @property
    def index(self) -> ArtifactIndex:
        """The metadata index (``[artifacts] metadata``): versions, ACLs and blob records; a
        session import commits the exported versions to it as they were."""
        ...

    async def save(self, name: str, data: Any, **options: Any) -> ArtifactRef: ...

    async def load(self, ref: Any, **options: Any) -> bytes: ...

    async def open(self, ref: Any, **options: Any) -> Any: ...

    async def stat(self, ref: Any, **options: Any) -> ArtifactMeta: ...

    async def versions(self, name: Any, **options: Any) -> list[ArtifactMeta]: ...

    async def delete(self, ref: Any, **options: Any) -> list[ArtifactRef]: ...

    async def copy(self, ref: Any, name: str, **options: Any) -> ArtifactRef: ...

    async def delete_session(self, session_id: str) -> int:
        """Delete every artifact of a session (called by the sessions service)."""

    async def gc(
        self, *, dry_run: bool = False, grace: float | None = None,
        on_progress: Callable[[int, int], Any] | None = None,
    ) -> Any:
        """Remove blobs no version refers to and uploads left by crashes (an admin operation);
        ``on_progress(done, total)`` as it goes."""
        ...

    async def list(self, **options: Any) -> ArtifactPage: ...

    async def grant(
        self, ref: ArtifactRef | str, grantee: Any, permissions: Iterable[str] | str = ("read",), **where: Any
    ) -> ArtifactAcl:
        """Give ``grantee`` permissions on every version of an artifact. Needs ``share``."""
        ...

    async def revoke(
        self, ref: ArtifactRef | str, grantee: Any, permissions: Iterable[str] | str | None = None, **where: Any
    ) -> ArtifactAcl:
        """Take permissions (default: all) back from ``grantee``. Needs ``share``."""
        ...

    async def session_ended(self, session_id: str, *, at: datetime | None = None) -> int:
        """Note that a session ended; with ``session_end_days = 0`` its artifacts go at once."""
        ...

    async def apply_retention(self, *, now: datetime | None = None, dry_run: bool = False, **where: Any) -> Any:
        """Apply the configured retention policies to every scope (an admin operation)."""
        ...

    async def rotate_keys(self, *, batch: int = 100, **where: Any) -> Any:
        """Re-encrypt every blob sealed with an older key under the current key (admin)."""
        ...

    @property
    def denials(self) -> Sequence[Mapping[str, str]]:
        """The most recent permission denials (each is also published as ``artifact.denied``)."""
        ...


def principal_key(principal: Principal) -> str:
    """``kind:id`` of a principal, as grants and audit records name it."""
    return f"{principal.kind}:{principal.id}"


async def record_denial(
    kernel: Kernel, principal: Principal | str, resource: str, permission: str, reason: str, *, kind: str = "artifact",
    ctx: ExecutionContext | None = None,
) -> dict[str, str]:
    """Append a denial to the audit stream of the event log; returns the record.

    The event is ``<kind>.denied`` (``artifact.denied``, ``state.denied``) with the
    payload ``principal``, ``<kind>`` (the resource), ``permission`` and ``reason``, and,
    given the ``ctx`` of the refused call, its session and user ids in the envelope.
    Never raises: a denial stands whether or not it could be recorded.
    """
    who = principal_key(principal) if isinstance(principal, Principal) else str(principal)
    record = {"principal": who, kind: resource, "permission": permission, "reason": reason}
    log.info("denied: %s may not %s %s (%s)", who, permission, resource, reason)
    where = {} if ctx is None else {"session_id": ctx.session_id, "user_id": ctx.user_id}
    await kernel.emit(f"{kind}.denied", record, source=f"{kind}s", stream=AUDIT_STREAM, audit=True, **where)
    return record
