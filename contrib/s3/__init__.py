"""S3 blob storage for llmspell artifacts (``pip install "llmspell[s3]"``).

Registered as the ``s3`` plugin: the ``[s3]`` config section and the ``s3`` artifact
blob store (``[artifacts] backend = "s3"``), which speaks the S3 protocol to AWS S3 or
any compatible server (MinIO, Ceph, R2 ...). With ``[artifacts] metadata = "postgres"``
(the ``postgres`` plugin) artifacts are shared by every host. The client library
(aiobotocore) is imported only when the store is created; without it, selecting the
store fails at startup with the ``pip install`` line to run. ``docs/backends/s3.md`` is
the guide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmspell import hookimpl

from .config import S3Config

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["S3Config"]


def _store(kernel: Kernel) -> Any:
    from .store import S3BlobStore

    return S3BlobStore(kernel.config.section("s3"))


@hookimpl
def llmspell_register_config(register: Any) -> None:
    register("s3", S3Config, "S3 bucket, endpoint and credentials for the s3 artifact store")


@hookimpl
def llmspell_register_artifact_backends(register: Any) -> None:
    register("s3", _store, "S3-protocol bucket (AWS, MinIO, ...), multipart and streamed (extra: s3)")
