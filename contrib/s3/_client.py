"""The S3 client (aiobotocore, imported lazily) and the mapping of its errors onto llmspell's."""

from __future__ import annotations

import asyncio
from typing import Any

from llmspell.errors import BackendUnavailable, MissingExtraError

from .config import S3Config

__all__ = ["import_aiobotocore", "client_context", "error_code", "unavailable", "TRANSIENT", "NOT_FOUND"]

NOT_FOUND = frozenset({"404", "NoSuchKey", "NoSuchUpload", "NotFound"})
_SETUP = {
    "NoSuchBucket": "the bucket does not exist: create it or set [s3] create_bucket = true",
    "AccessDenied": "access denied: check the credentials and the bucket policy",
    "InvalidAccessKeyId": "the access key id is not known to the server ([s3] access_key_id)",
    "SignatureDoesNotMatch": "the secret access key is wrong ([s3] secret_access_key)",
    "ExpiredToken": "the session token expired ([s3] session_token)",
}


def import_aiobotocore() -> Any:
    try:
        import aiobotocore.session
    except ImportError:
        raise MissingExtraError("the S3 blob store", "s3", "aiobotocore") from None
    return aiobotocore.session


def client_context(config: S3Config) -> Any:
    """An async context manager yielding a configured aiobotocore S3 client."""
    session_module = import_aiobotocore()
    from aiobotocore.config import AioConfig

    options = AioConfig(
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        retries={"max_attempts": config.retries, "mode": "standard"},
        max_pool_connections=max(10, config.max_concurrency * 2),
        s3={"addressing_style": config.addressing_style},
        # Checksums only where S3 requires them: a streamed multipart upload computes none
        # in Python, and ranged reads could not be checked anyway; artifacts carry sha-256.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return session_module.get_session().create_client(
        "s3",
        region_name=config.region,
        endpoint_url=config.endpoint_url,
        aws_access_key_id=config.access_key_id,
        aws_secret_access_key=config.secret_access_key,
        aws_session_token=config.session_token,
        config=options,
    )


def error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return None if code is None else str(code)
    return None


def TRANSIENT() -> tuple[type[BaseException], ...]:  # noqa: N802 - a lazily built constant
    """Exceptions meaning the server could not be reached or stopped answering."""
    import aiohttp
    from botocore.exceptions import BotoCoreError

    return (BotoCoreError, aiohttp.ClientError, asyncio.TimeoutError, OSError)


def unavailable(where: str, exc: BaseException) -> BackendUnavailable:
    code = error_code(exc)
    if code in _SETUP:
        return BackendUnavailable(f"S3 at {where}: {_SETUP[code]} ({code})")
    text = str(exc).strip().splitlines()
    return BackendUnavailable(f"S3 at {where} is unavailable: {text[0] if text else type(exc).__name__}")
