"""The ``[s3]`` configuration section.

Example ``llmspell.toml``::

    [artifacts]
    backend = "s3"               # blobs in S3
    metadata = "postgres"        # metadata in PostgreSQL: artifacts shared by every host

    [s3]
    bucket = "acme-artifacts"
    prefix = "llmspell/"         # every key of this deployment starts with it
    region = "eu-west-1"
    # endpoint_url = "https://minio.internal:9000"   # any S3-protocol server
    # access_key_id / secret_access_key: better LLMSPELL_S3_ACCESS_KEY_ID and
    # LLMSPELL_S3_SECRET_ACCESS_KEY, or the usual AWS credential chain when unset
    part_size = 8388608          # bytes per multipart part (5 MiB .. 5 GiB)
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from llmspell.config import secret

__all__ = ["S3Config"]

MIB = 1 << 20
GIB = 1 << 30
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if isinstance(value, bool) or not value > 0:
        raise ValueError(f"{attribute.name} must be greater than 0, got {value!r}")


@attrs.frozen
class S3Config:
    """``[s3]``: the bucket, where it is, the credentials and the transfer sizes."""

    bucket: str = "llmspell"
    """Bucket name (it must exist unless ``create_bucket`` is set)."""
    prefix: str = ""
    """Key prefix of this deployment inside the bucket (``""`` or ending in ``/``)."""
    endpoint_url: str | None = None
    """Another S3-protocol server (MinIO, Ceph, R2 ...); unset: AWS S3."""
    region: str | None = None
    access_key_id: str | None = secret(None)
    """Unset (with the secret): the AWS credential chain (environment, profile, instance role)."""
    secret_access_key: str | None = secret(None)
    session_token: str | None = secret(None)
    addressing_style: str = "auto"
    """``auto``, ``path`` (most self-hosted servers) or ``virtual``."""
    part_size: int = attrs.field(default=8 * MIB)
    """Bytes per multipart part; an artifact smaller than this is one PUT."""
    max_concurrency: int = attrs.field(default=4, validator=_positive)
    """Parts in flight at once per transfer (memory held: about (this + 1) x part_size)."""
    max_single_copy: int = attrs.field(default=5 * GIB)
    """Objects up to this size are copied with one CopyObject; larger ones part by part."""
    copy_part_size: int = attrs.field(default=512 * MIB)
    """Bytes per part of a multipart server-side copy."""
    connect_timeout: float = attrs.field(default=5.0, validator=_positive)
    read_timeout: float = attrs.field(default=60.0, validator=_positive)
    """Seconds without data before a request fails with BackendUnavailable."""
    retries: int = 3
    """Attempts per request for errors S3 says are worth retrying."""
    create_bucket: bool = False
    """Create the bucket at startup when it is missing (for development servers)."""

    def __attrs_post_init__(self) -> None:
        if not _BUCKET.fullmatch(self.bucket):
            raise ValueError(f"bucket {self.bucket!r} is not a valid S3 bucket name")
        if self.prefix and (not self.prefix.endswith("/") or self.prefix.startswith("/")):
            raise ValueError(f"prefix {self.prefix!r} must end with '/' and not start with one (or be empty)")
        if self.addressing_style not in ("auto", "path", "virtual"):
            raise ValueError(f"addressing_style {self.addressing_style!r} is not one of 'auto', 'path', 'virtual'")
        for name, low, high in (("part_size", 5 * MIB, 5 * GIB), ("copy_part_size", 5 * MIB, 5 * GIB)):
            value = getattr(self, name)
            if isinstance(value, bool) or not low <= value <= high:
                raise ValueError(f"{name} must be between {low} and {high} bytes (S3's part limits), got {value!r}")
        if not 0 < self.max_single_copy <= 5 * GIB:
            raise ValueError(f"max_single_copy must be between 1 and {5 * GIB} bytes, got {self.max_single_copy!r}")
        if self.retries < 1:
            raise ValueError(f"retries must be at least 1, got {self.retries}")
