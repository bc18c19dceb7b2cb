"""The SPI of the artifacts capability: everything its backend authors implement or need.

Backends (the defaults here, ``llmspell.contrib`` and third-party packages) import from
this module and from :mod:`llmspell.plugins.artifacts.api`, never from the plugin's
implementation modules.

The name checks (:func:`check_name`, :func:`check_scope`, :func:`check_owner`,
:func:`check_blob_key`, :func:`check_tag`, :func:`check_content_type`,
:func:`check_version`) are the ones the service applies; stores that build keys or
paths from names check them again with these.

**Validation of artifact names, scope ids and blob keys.**

The rule for a **name** (documented in ``docs/artifacts.md``):

* 1 to 256 characters and at most 1024 bytes of UTF-8;
* segments separated by ``/``; no empty segment (so no leading, trailing or doubled
  ``/``: a name is never absolute), no ``.`` or ``..`` segment, no segment that starts or
  ends with a space;
* characters: Unicode letters, digits and combining marks, the space, and
  ``- _ . ~ + = , ( ) [ ] !``; nothing else: no NUL or control characters, no ``\\``,
  ``:``, ``@``, no invisible format characters, no look-alike slashes or dots;
* the name must already be in Unicode NFKC form (so full-width dots and slashes (U+FF0E, U+FF0F) and other
  compatibility look-alikes are refused rather than silently folded), and one word (a run
  of letters) may not mix Latin, Greek and Cyrillic letters (``paypal`` spelt with a Cyrillic U+0430 for an ``a``).

Names never become file paths (blobs are stored under their content hash), so the rule
is defence in depth and keeps names portable. **Scope ids** (session, user and app ids)
are 1 to 128 characters of ``A-Z a-z 0-9 . _ @ + = -``, not ``.`` or ``..``.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import attrs

from llmspell import serde
from llmspell.errors import ValidationError, deprecated
from llmspell.plugins._values import dumps_data
from llmspell.plugins.artifacts.api import SCOPES
from llmspell.serde import utcnow

from .api import SCHEMA_VERSION, ArtifactAcl, ArtifactId, ArtifactMeta, ArtifactPage

__all__ = [
    "ArtifactQuery",
    "BlobInfo",
    "BlobRecord",
    "BlobWriter",
    "BlobStore",
    "ArtifactIndex",
    "StartAlias",
    "Encoder",
    "Decoder",
    "Codec",
    "CodecOptions",
    "KeyProvider",
    "encode_cursor",
    "decode_cursor",
    "BLOB_KEY",
    "check_name",
    "check_scope",
    "check_owner",
    "check_blob_key",
    "check_tag",
    "check_content_type",
    "check_version",
]


def encode_cursor(meta: ArtifactMeta) -> str:
    """The page cursor that continues after ``meta`` (opaque to callers)."""
    ref = meta.ref
    raw = dumps_data([ref.scope, ref.owner, ref.name, ref.version])
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_cursor(cursor: str) -> tuple[str, str, str, int]:
    """``(scope, owner, name, version)`` after which a page continues; :class:`ValidationError`
    naming the cursor for one no index returned."""
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
    ``created_before`` is exclusive (``created < created_before``), like every upper time
    bound. An index sets ``next_cursor`` of its page when more items follow. A ``limit``
    that is not an integer from 1 raises :class:`~llmspell.errors.ValidationError` naming
    ``limit`` when the query is built; a cursor no index returned raises one naming the
    cursor (:func:`decode_cursor`).
    """

    scope: str | None = None
    owner: str | None = None
    prefix: str = ""
    tag: str | None = None
    content_type: str | None = None
    latest_only: bool = True
    created_before: datetime | None = None
    limit: int = attrs.field(default=100, validator=lambda _self, _attr, value: _check_limit(value))
    cursor: str | None = None


def _check_limit(value: object) -> None:
    if type(value) is not int or not 1 <= value <= 2**63 - 1:
        shown = repr(value) if type(value) is not int or abs(value) < 2**80 else "a larger integer"
        raise ValidationError(f"ArtifactQuery limit must be an integer from 1 to {2**63 - 1}, got {shown:.60}")


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


@runtime_checkable
class BlobWriter(Protocol):
    """An upload in progress (a temp file; an S3 multipart upload); every method is a coroutine."""

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

    ``read``, ``blobs`` and ``uploads`` are plain methods returning async iterators
    (write them as ``async def`` generators); every other method is a coroutine.
    """

    async def open(self) -> None:
        """Called once by the kernel when it starts (``start()``, the former name, still works)."""


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


class StartAlias:
    """``start()``, the former name of a blob store's or an index's ``open()``."""

    async def start(self) -> None:
        """Deprecated: the kernel calls ``open()``; goes in the next release."""
        deprecated(f"{type(self).__name__}.start() is deprecated: use open(); it goes in the next release")
        await self.open()  # type: ignore[attr-defined]


@runtime_checkable
class ArtifactIndex(Protocol):
    """Artifact metadata: versions, ownership and grants, blob records, leases.

    Every method is one transaction, so several processes (or hosts, with a shared SQL
    database) may use one index. Version numbers of a name are assigned here, increase
    and are never reused, also after deletion. Every method is a coroutine (``async def``).
    """

    async def open(self) -> None:
        """Called once by the kernel when it starts (``start()``, the former name, still works)."""


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

    async def query(self, query: ArtifactQuery) -> ArtifactPage:
        """One page of the versions ``query`` matches, in (scope, owner, name, version) order."""

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
        """Sessions that ended before ``before`` (exclusive: ``ended < before``)."""

    async def forget_session(self, session_id: str) -> None: ...


@runtime_checkable
class KeyProvider(Protocol):
    """Encryption keys by id; ``current`` names the key new blobs are sealed with (synchronous)."""

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
    """A streaming encoding of one blob; ``params`` is written to the blob header (synchronous)."""

    params: Mapping[str, Any]

    def update(self, data: bytes) -> Iterable[bytes]: ...

    def finish(self) -> Iterable[bytes]: ...


class Decoder(Protocol):
    """A streaming decoding (synchronous); outputs lazily, at most one frame at a time.

    ``finish`` raises :class:`~llmspell.errors.IntegrityError` for a truncated or
    tampered stream.
    """

    def update(self, data: bytes) -> Iterable[bytes]: ...

    def finish(self) -> Iterable[bytes]: ...


@runtime_checkable
class Codec(Protocol):
    """A reversible, streaming transformation of blob bytes (compression, encryption).

    Its methods are synchronous (the service runs them off the event loop where needed).
    """

    name: str

    def check(self, options: CodecOptions) -> None:
        """Raise if the codec cannot work (a missing package, no key) at startup."""

    def encoder(self, options: CodecOptions) -> Encoder: ...

    def decoder(self, params: Mapping[str, Any], options: CodecOptions) -> Decoder: ...


MAX_CHARS = 256


MAX_BYTES = 1024


_PUNCT = frozenset("-_.~+=,()[]! ")


_ID = re.compile(r"[A-Za-z0-9._@+=-]{1,128}")


BLOB_KEY = re.compile(r"[0-9a-f]{64}(-[0-9a-f]{8})?")


_TAG = re.compile(r"[^\x00-\x1f\x7f]{1,128}")


_SCRIPTS = ("LATIN", "GREEK", "CYRILLIC")


_TOKEN = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"


_CONTENT_TYPE = re.compile(
    rf"{_TOKEN}/{_TOKEN}(?: ?; ?{_TOKEN}=(?:{_TOKEN}|\"[\x20\x21\x23-\x5b\x5d-\x7e]{{0,128}}\"))*"
)


_CONTENT_FAMILY = re.compile(rf"{_TOKEN}/(?:{_TOKEN}|\*)")


MAX_VERSION = 2**63 - 1


def _bad(name: str, why: str) -> ValidationError:
    shown = name if len(name) <= 60 else name[:57] + "..."
    return ValidationError(f"invalid artifact name {shown!r}: {why}")


def _char_ok(ch: str) -> bool:
    if ch in _PUNCT:
        return True
    kind = unicodedata.category(ch)[0]
    if kind == "M":  # combining marks, but not the ones that draw a slash or a bar
        label = unicodedata.name(ch, "")
        return not any(word in label for word in ("OVERLAY", "SOLIDUS", "STROKE"))
    return kind in ("L", "N")


def check_name(name: object) -> str:
    """Return ``name`` if it follows the rule above, else raise ValidationError."""
    if not isinstance(name, str):
        raise ValidationError(f"an artifact name must be a string, got {type(name).__name__}")
    if not name:
        raise _bad(name, "it is empty")
    if len(name) > MAX_CHARS or len(name.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise _bad(name, f"longer than {MAX_CHARS} characters or {MAX_BYTES} bytes")
    if "\x00" in name:
        raise _bad(name, "it contains a NUL character")
    if name.startswith("/") or name.startswith("\\") or re.match(r"[A-Za-z]:", name):
        raise _bad(name, "it is an absolute path; names are relative, like 'reports/q1.md'")
    for ch in name:
        if ch == "/":
            continue
        if not _char_ok(ch):
            code = f"U+{ord(ch):04X}"
            label = unicodedata.name(ch, "unnamed character")
            raise _bad(name, f"character {code} ({label}) is not allowed")
    if unicodedata.normalize("NFKC", name) != name:
        raise _bad(name, "it is not in Unicode NFKC form (full-width or other look-alike characters)")
    for segment in name.split("/"):
        if segment in ("", ".", ".."):
            raise _bad(name, "empty, '.' and '..' path segments are not allowed")
        if segment != segment.strip(" "):
            raise _bad(name, "a path segment starts or ends with a space")
        for word in re.findall(r"[^\W\d_]+", segment):
            scripts = {unicodedata.name(ch, "").split(" ", 1)[0] for ch in word} & set(_SCRIPTS)
            if len(scripts) > 1:
                raise _bad(name, f"the word {word!r} mixes {' and '.join(sorted(scripts))} letters (look-alikes)")
    return name


def check_scope(scope: object) -> str:
    if scope not in SCOPES:
        raise ValidationError(f"unknown artifact scope {scope!r} (allowed: {', '.join(SCOPES)})")
    return str(scope)


def check_owner(owner: object, scope: str = "scope") -> str:
    """A scope id: session, user or app id."""
    if not isinstance(owner, str) or not _ID.fullmatch(owner) or owner in (".", ".."):
        raise ValidationError(
            f"invalid {scope} id {owner!r}: use 1 to 128 characters of A-Z a-z 0-9 . _ @ + = -"
        )
    return owner


def check_blob_key(key: object) -> str:
    """A blob key: 64 hex digits, optionally ``-`` and 8 hex digits (the codec chain)."""
    if not isinstance(key, str) or not BLOB_KEY.fullmatch(key):
        raise ValidationError(f"invalid blob key {key!r}: expected a sha-256 hex digest")
    return key


def check_tag(tag: object) -> str:
    if not isinstance(tag, str) or not _TAG.fullmatch(tag):
        raise ValidationError(f"invalid tag {tag!r}: 1 to 128 printable characters")
    return tag


def check_content_type(content_type: object, *, pattern: bool = False) -> str:
    """A media type ``type/subtype`` with optional ``; name=value`` parameters (RFC 6838 tokens).

    No control characters (a CR or LF could split a header where the type is served),
    at most 255 characters. With ``pattern`` (a list filter) ``type/*`` is allowed too,
    without parameters.
    """
    rule = _CONTENT_FAMILY if pattern else _CONTENT_TYPE
    if not isinstance(content_type, str) or len(content_type) > 255 or not rule.fullmatch(content_type):
        form = "type/subtype or type/*" if pattern else "type/subtype, optionally with ; name=value parameters"
        raise ValidationError(f"invalid content type {content_type!r:.80} (content_type): expected {form}, printable ASCII")
    return content_type


def check_version(version: object, name: str = "version") -> int:
    """An artifact version: an integer from 1 to 2**63 - 1."""
    if type(version) is not int or not 1 <= version <= MAX_VERSION:
        shown = repr(version) if type(version) is not int or abs(version) < 2**80 else "a larger integer"
        raise ValidationError(f"{name} must be an integer from 1 to {MAX_VERSION}, got {shown:.60}")
    return version
