"""Artifacts: the contract of the artifact service, blob stores, metadata indexes and codecs.

The artifact service (``kernel.artifacts``) is provided by a plugin (the default one is
``llmspell.plugins.artifacts``). It keeps versioned binary artifacts in two backends chosen
by name: a :class:`BlobStore` holds content-addressed bytes, an :class:`ArtifactIndex`
holds everything else (versions, ownership and grants, blob records, leases). Codecs
(:class:`Codec`) transform blob bytes on the way in and out (compression, encryption).

Every record here is a frozen attrs class that round-trips through :mod:`llmspell.serde`
and carries a ``schema_version``.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import attrs

from . import serde
from .errors import IntegrityError, ValidationError
from .serde import utcnow

__all__ = [
    "SCOPES",
    "PERMISSIONS",
    "ArtifactScope",
    "ArtifactId",
    "ArtifactRef",
    "ArtifactMeta",
    "ArtifactAcl",
    "ArtifactQuery",
    "ArtifactPage",
    "BlobInfo",
    "BlobRecord",
    "BlobWriter",
    "BlobStore",
    "ArtifactIndex",
    "Encoder",
    "Decoder",
    "Codec",
    "CodecOptions",
    "KeyProvider",
    "WrongKeyError",
    "SaveRequest",
    "ArtifactService",
    "encode_cursor",
    "decode_cursor",
]

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


def encode_cursor(meta: ArtifactMeta) -> str:
    """The page cursor that continues after ``meta`` (opaque to callers)."""
    ref = meta.ref
    raw = serde.dumps_data([ref.scope, ref.owner, ref.name, ref.version])
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_cursor(cursor: str) -> tuple[str, str, str, int]:
    """``(scope, owner, name, version)`` after which a page continues."""
    try:
        scope, owner, name, version = serde.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        if not all(isinstance(v, str) for v in (scope, owner, name)) or type(version) is not int:
            raise TypeError
    except (ValueError, TypeError, UnicodeEncodeError):
        raise ValidationError(f"invalid page cursor {cursor!r}") from None
    return scope, owner, name, version


@attrs.frozen
class ArtifactQuery:
    """A filter over artifact versions for :meth:`ArtifactIndex.query`.

    Results are ordered by (scope, owner, name, version); ``cursor`` (from
    :func:`encode_cursor`) continues after that item. ``latest_only`` keeps the newest
    version of each name. ``content_type`` matches exactly, or a family with ``"text/*"``.
    An index sets ``next_cursor`` of its page when more items follow.
    """

    scope: str | None = None
    owner: str | None = None
    prefix: str = ""
    tag: str | None = None
    content_type: str | None = None
    latest_only: bool = True
    created_before: datetime | None = None
    limit: int = 100
    cursor: str | None = None


@attrs.frozen
class ArtifactPage:
    """One page of results; ``next_cursor`` is None on the last page."""

    items: tuple[ArtifactMeta, ...]
    next_cursor: str | None = None


@attrs.frozen
class BlobInfo:
    """A stored blob or an incomplete upload as a blob store lists it."""

    key: str
    size: int
    modified: float
    """Unix time of the last write or touch."""


@attrs.frozen
class BlobRecord:
    """What the index knows about a blob: its content hash, sizes, codecs and key id."""

    key: str
    sha256: str
    size: int
    stored_size: int
    codecs: tuple[str, ...] = ()
    key_id: str | None = None
    """Id of the encryption key the blob is sealed with, if it is encrypted."""
    created: datetime = attrs.field(factory=utcnow)
    schema_version: int = SCHEMA_VERSION


# -- backends ---------------------------------------------------------------------------


@runtime_checkable
class BlobWriter(Protocol):
    """An upload in progress (a temp file; an S3 multipart upload)."""

    async def write(self, data: bytes) -> None:
        """Append ``data`` (any size; the writer batches parts)."""

    async def commit(self, key: str) -> int:
        """Make the bytes visible under ``key`` atomically; returns the stored size."""

    async def abort(self) -> None:
        """Drop the upload; nothing becomes visible."""


@runtime_checkable
class BlobStore(Protocol):
    """Content-addressed blob storage: keys are derived from hashes, never from names.

    Keys match ``[0-9a-f]{64}`` optionally followed by ``-[0-9a-f]{8}``; a store rejects
    anything else with :class:`~llmspell.errors.ValidationError`. Writes go through a
    :class:`BlobWriter` (the key is known only once the content is hashed); a visible blob
    is always complete. Reads stream. Writing an existing key replaces it atomically.
    """

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def writer(self) -> BlobWriter:
        """Begin an upload."""

    def read(self, key: str, *, offset: int = 0, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        """Stream the stored bytes from ``offset``; NotFoundError when missing."""

    async def stat(self, key: str) -> BlobInfo | None: ...

    async def touch(self, key: str) -> bool:
        """Mark ``key`` as recently used (gc's grace period); False when missing."""

    async def delete(self, key: str) -> int:
        """Remove ``key``; returns the bytes freed (0 when it did not exist)."""

    def blobs(self) -> AsyncIterator[BlobInfo]:
        """Every visible blob (for mark-and-sweep)."""

    def uploads(self) -> AsyncIterator[BlobInfo]:
        """Incomplete uploads (left by a crash); ``key`` is the upload id."""

    async def abort_upload(self, upload_id: str) -> int:
        """Remove an incomplete upload; returns the bytes freed."""


@runtime_checkable
class ArtifactIndex(Protocol):
    """Artifact metadata: versions, ownership and grants, blob records, leases.

    Every method is one transaction, so several processes (or hosts, with a shared SQL
    database) may use one index. Version numbers of a name are assigned here, increase
    and are never reused, also after deletion.
    """

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def commit(
        self, meta: ArtifactMeta, *, acl: ArtifactAcl, blob: BlobRecord, lease: str | None = None
    ) -> ArtifactMeta:
        """Store ``meta`` as the next version of its name; returns it with that version.

        ``acl`` is stored only if the artifact has no live version yet; ``blob`` is
        recorded if new; ``lease`` is released. All in one transaction.
        """

    async def get(self, id: ArtifactId, version: int | None = None) -> ArtifactMeta | None:
        """One version, or the latest live one when ``version`` is None."""

    async def versions(self, id: ArtifactId) -> list[ArtifactMeta]: ...

    async def query(self, query: ArtifactQuery) -> ArtifactPage: ...

    async def delete(self, id: ArtifactId, versions: Sequence[int] | None = None) -> list[ArtifactMeta]:
        """Delete some versions (None: all, and the grants with them); returns what went."""

    async def get_acl(self, id: ArtifactId) -> ArtifactAcl | None: ...

    async def put_acl(self, acl: ArtifactAcl) -> None: ...

    async def lease(self, blob_key: str, token: str, ttl: float) -> None:
        """Protect ``blob_key`` from gc for ``ttl`` seconds while a save commits."""

    async def release(self, token: str) -> None: ...

    async def referenced(self, blob_keys: Sequence[str]) -> set[str]:
        """Those of ``blob_keys`` that a version or a live lease refers to."""

    async def get_blob(self, key: str) -> BlobRecord | None: ...

    async def put_blob(self, record: BlobRecord) -> None: ...

    async def list_blobs(self, *, after: str | None = None, limit: int = 100) -> list[BlobRecord]:
        """Blob records ordered by key, after ``after``."""

    async def drop_blobs(self, keys: Iterable[str]) -> None: ...

    async def end_session(self, session_id: str, at: datetime) -> None:
        """Remember that a session ended at ``at`` (for retention)."""

    async def ended_sessions(self, before: datetime) -> list[str]:
        """Sessions that ended before ``before``."""

    async def forget_session(self, session_id: str) -> None: ...


# -- codecs ---------------------------------------------------------------------------


@runtime_checkable
class KeyProvider(Protocol):
    """Encryption keys by id; ``current`` names the key new blobs are sealed with."""

    @property
    def current(self) -> str: ...

    def key(self, key_id: str) -> bytes | None: ...


@attrs.frozen
class CodecOptions:
    """What a codec may use: the frame size, a key provider, a compression level."""

    frame_size: int = 1 << 20
    keys: KeyProvider | None = None
    level: int = 3
    min_ratio: float = 0.95
    """Compression is skipped when it does not get below this share of the input."""


class Encoder(Protocol):
    """A streaming encoding of one blob; ``params`` is written to the blob header."""

    params: Mapping[str, Any]

    def update(self, data: bytes) -> Iterable[bytes]: ...

    def finish(self) -> Iterable[bytes]: ...


class Decoder(Protocol):
    """A streaming decoding; outputs lazily, at most one frame at a time.

    ``finish`` raises :class:`~llmspell.errors.IntegrityError` for a truncated or
    tampered stream.
    """

    def update(self, data: bytes) -> Iterable[bytes]: ...

    def finish(self) -> Iterable[bytes]: ...


@runtime_checkable
class Codec(Protocol):
    """A reversible, streaming transformation of blob bytes (compression, encryption)."""

    name: str

    def check(self, options: CodecOptions) -> None:
        """Raise if the codec cannot work (a missing package, no key) at startup."""

    def encoder(self, options: CodecOptions) -> Encoder: ...

    def decoder(self, params: Mapping[str, Any], options: CodecOptions) -> Decoder: ...


# -- the service ------------------------------------------------------------------------


@runtime_checkable
class ArtifactService(Protocol):
    """Versioned, scoped binary artifacts (``kernel.artifacts``); see ``docs/artifacts.md``."""

    async def save(self, name: str, data: Any, **options: Any) -> ArtifactRef: ...

    async def load(self, ref: Any, **options: Any) -> bytes: ...

    async def open(self, ref: Any, **options: Any) -> Any: ...

    async def stat(self, ref: Any, **options: Any) -> ArtifactMeta: ...

    async def versions(self, name: Any, **options: Any) -> list[ArtifactMeta]: ...

    async def delete(self, ref: Any, **options: Any) -> list[ArtifactRef]: ...

    async def copy(self, ref: Any, name: str, **options: Any) -> ArtifactRef: ...

    async def delete_session(self, session_id: str) -> int:
        """Delete every artifact of a session (called by the sessions service)."""

    async def gc(self, *, dry_run: bool = False, grace: float | None = None) -> Any: ...

    async def list(self, **options: Any) -> ArtifactPage: ...
