"""The ``[artifacts]`` configuration section.

Example::

    [artifacts]
    backend = "filesystem"          # blob store: filesystem (default) or memory
    metadata = "sqlite"             # metadata index: sqlite (default) or memory
    codecs = ["zstd"]               # default codec chain, in encoding order
    key_id = "2025-01"              # the key new blobs are sealed with (aesgcm)
    # key = "..."                   # 32 bytes, base64 or hex; better: LLMSPELL_ARTIFACTS_KEY

    [artifacts.scope_codecs]
    session = ["zstd", "aesgcm"]    # a chain per scope overrides the default

    [artifacts.retention.session]
    keep_last = 5
    session_end_days = 7
"""

from __future__ import annotations

import attrs

from llmspell.config import secret

__all__ = ["ArtifactsConfig", "RetentionPolicy"]


@attrs.frozen
class RetentionPolicy:
    """When versions go away; ``None`` means never."""

    keep_last: int | None = None
    """Keep only the newest N versions of each name (applied on save and by sweeps)."""
    max_age_days: float | None = None
    """Delete versions older than this many days (by sweeps)."""
    session_end_days: float | None = None
    """Session scope: delete a session's artifacts this many days after it ended (0: at once)."""

    def __attrs_post_init__(self) -> None:
        if self.keep_last is not None and self.keep_last < 1:
            raise ValueError(f"keep_last must be at least 1, got {self.keep_last}")
        for name in ("max_age_days", "session_end_days"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative, got {value}")


@attrs.frozen
class ArtifactsConfig:
    """Settings of the artifact service."""

    backend: str = "filesystem"
    """Blob store by registered name (``filesystem``, ``memory``, or a plugin's)."""
    metadata: str = "sqlite"
    """Metadata index by registered name (``sqlite``, ``memory``, or a plugin's)."""
    path: str = "artifacts"
    """Directory of the embedded backends, relative to the data directory."""
    chunk_size: int = 1 << 20
    """Bytes per streamed chunk (reads, writes, ``open`` chunks)."""
    frame_size: int = 256 * 1024
    """Plaintext bytes per codec frame (zstd, aesgcm): what a decoder holds at most."""
    codecs: list[str] = attrs.Factory(list)
    """Default codec chain in encoding order (``zstd``, ``aesgcm``)."""
    scope_codecs: dict[str, list[str]] = attrs.Factory(dict)
    """A codec chain per scope (``session``, ``user``, ``app``), overriding ``codecs``."""
    key: str | None = secret(None)
    """The current encryption key: 32 bytes as base64 or hex."""
    key_id: str = "default"
    """Id of ``key``; stored with every blob it seals."""
    old_keys: dict[str, str] = secret(attrs.Factory(dict))  # noqa: RUF009
    """Earlier keys by id, to read older blobs until ``rotate_keys`` re-seals them."""
    key_provider: str | None = None
    """``module:function`` returning a KeyProvider, instead of ``key`` and ``old_keys``."""
    compression_level: int = 3
    min_compression_ratio: float = 0.95
    """Store a frame uncompressed unless zstd gets it below this share of its size."""
    retention: dict[str, RetentionPolicy] = attrs.Factory(dict)
    """Policies by scope (``session``, ``user``, ``app``) or ``"*"`` for all scopes."""
    gc_grace_seconds: float = 3600.0
    """gc leaves blobs and uploads younger than this alone (saves in flight)."""
    lease_seconds: float = 3600.0
    """How long a save in flight protects the blob it is committing from gc."""
    app: str = "app"
    """Owner id of the app scope when none is given."""
    max_size: int | None = None
    """Refuse artifacts larger than this many bytes."""
    fsync: bool = True
    """fsync blobs and their directories before a save returns (durability)."""

    def __attrs_post_init__(self) -> None:
        if self.chunk_size < 4096 or self.chunk_size > 64 << 20:
            raise ValueError(f"chunk_size must be between 4096 and {64 << 20}, got {self.chunk_size}")
        if self.frame_size < 4096 or self.frame_size > 16 << 20:
            raise ValueError(f"frame_size must be between 4096 and {16 << 20}, got {self.frame_size}")
        unknown = sorted(set(self.scope_codecs) - {"session", "user", "app"})
        if unknown:
            raise ValueError(f"scope_codecs: unknown scope(s) {', '.join(unknown)} (allowed: session, user, app)")
        unknown = sorted(set(self.retention) - {"session", "user", "app", "*"})
        if unknown:
            raise ValueError(f"retention: unknown scope(s) {', '.join(unknown)} (allowed: session, user, app, *)")
        if not 0 < self.min_compression_ratio <= 1:
            raise ValueError(f"min_compression_ratio must be in (0, 1], got {self.min_compression_ratio}")

    def chain_for(self, scope: str) -> list[str]:
        return list(self.scope_codecs.get(scope, self.codecs))

    def policy_for(self, scope: str) -> RetentionPolicy | None:
        return self.retention.get(scope) or self.retention.get("*")
