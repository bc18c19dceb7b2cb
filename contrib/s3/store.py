"""The ``s3`` blob store: content-addressed blobs in an S3 bucket.

Layout under ``[s3] prefix`` in ``[s3] bucket``::

    blobs/<sha-256 hex>[-<chain tag>]   one object per blob (keys come from hashes only)
    uploads/<32 hex>                    multipart uploads in progress, and uploads that
                                        completed but were not yet copied into place

A blob's key is known only once all its bytes are hashed, and S3 needs the key before
a multipart upload starts. So a writer streams into a multipart upload at
``uploads/<id>`` (one part of ``part_size`` bytes in memory per part in flight, at most
``max_concurrency`` of them), and ``commit`` completes it and copies it server-side
into ``blobs/<key>`` (one CopyObject, or part by part above ``max_single_copy``), then
deletes the upload object: the approach of Docker's registry on S3. A blob smaller than
one part never needs the copy: ``commit`` PUTs it under its key. S3 makes a completed
object visible atomically, so a visible blob is always complete; a failed or abandoned
upload stays under ``uploads/`` (``uploads()`` lists it; ``abort_upload`` and gc remove
it). Reads stream with ranged GETs and resume from where a broken connection stopped,
pinned to the object's ETag.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from llmspell.errors import BackendUnavailable, NotFoundError, ValidationError
from llmspell.plugins.artifacts.backend import BlobInfo, StartAlias, check_blob_key

from ._client import NOT_FOUND, TRANSIENT, client_context, error_code, unavailable
from .config import S3Config

__all__ = ["S3BlobStore"]

_UPLOAD = re.compile(r"[0-9a-f]{32}")
_RESUMES = 3


class _Writer:
    """One upload: a multipart upload at ``uploads/<id>``, started by the first write."""

    def __init__(self, store: S3BlobStore) -> None:
        self.store = store
        self.id = uuid.uuid4().hex
        self.key = store.upload_key(self.id)
        self.size = 0
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[asyncio.Task[dict[str, Any]]] = []
        self._done = False

    async def write(self, data: bytes) -> None:
        if self._done:
            raise ValidationError("this upload is already committed or aborted")
        if self._upload_id is None:
            response = await self.store.call("create_multipart_upload", Key=self.key)
            self._upload_id = response["UploadId"]
        self._buffer += data
        self.size += len(data)
        part_size = self.store.config.part_size
        while len(self._buffer) >= part_size:
            part = bytes(memoryview(self._buffer)[:part_size])  # one copy, no temporary slice
            del self._buffer[:part_size]
            await self._send(part)

    async def _send(self, part: bytes) -> None:
        """Start uploading one part; wait for the oldest when too many are in flight."""
        in_flight = [t for t in self._parts if not t.done()]
        if len(in_flight) >= self.store.config.max_concurrency:
            await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
        for task in self._parts:
            if task.done() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        number = len(self._parts) + 1
        self._parts.append(asyncio.ensure_future(self.store.call(
            "upload_part", Key=self.key, UploadId=self._upload_id, PartNumber=number, Body=part,
        )))

    async def commit(self, key: str) -> int:
        check_blob_key(key)
        if self._done:
            raise ValidationError("this upload is already committed or aborted")
        target = self.store.blob_key(key)
        try:
            if not self._parts:  # small: one PUT under the final key, no copy
                body = bytes(self._buffer)
                self._buffer = bytearray()
                await self.store.call("put_object", Key=target, Body=body)
                await self._abort_multipart()
            else:
                if self._buffer:
                    await self._send(bytes(self._buffer))
                    self._buffer = bytearray()
                results = await asyncio.gather(*self._parts)
                parts = [{"ETag": r["ETag"], "PartNumber": i} for i, r in enumerate(results, 1)]
                await self.store.call("complete_multipart_upload", Key=self.key, UploadId=self._upload_id,
                                      MultipartUpload={"Parts": parts})
                self._upload_id = None
                await self.store.copy(self.key, target, self.size)
                await self.store.call("delete_object", Key=self.key)
        except BaseException:
            await self.abort()
            raise
        self._done = True
        return self.size

    async def _abort_multipart(self) -> None:
        upload_id, self._upload_id = self._upload_id, None
        if upload_id is not None:
            with contextlib.suppress(BackendUnavailable, _Missing):
                await self.store.call("abort_multipart_upload", Key=self.key, UploadId=upload_id)

    async def abort(self) -> None:
        self._done = True
        self._buffer = bytearray()
        for task in self._parts:
            task.cancel()
        if self._parts:
            await asyncio.gather(*self._parts, return_exceptions=True)
        self._parts.clear()
        await self._abort_multipart()
        with contextlib.suppress(BackendUnavailable, _Missing):
            await self.store.call("delete_object", Key=self.key)


class S3BlobStore(StartAlias):
    """A :class:`~llmspell.plugins.artifacts.backend.BlobStore` over the S3 protocol."""

    def __init__(self, config: S3Config) -> None:
        from ._client import import_aiobotocore

        import_aiobotocore()
        self.config = config
        self.bucket = config.bucket
        self.prefix = config.prefix
        self.where = f"{config.endpoint_url or 'AWS'} bucket {config.bucket!r}"
        self._client: Any = None
        self._stack: contextlib.AsyncExitStack | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def open(self) -> None:
        if self._client is not None:
            return
        stack = contextlib.AsyncExitStack()
        self._client = await stack.enter_async_context(client_context(self.config))
        self._stack = stack
        try:
            await self._check_bucket()
        except BaseException:
            await self.close()
            raise

    async def _check_bucket(self) -> None:
        try:
            await self.call("head_bucket")
        except BackendUnavailable:
            if not self.config.create_bucket:
                raise
            options: dict[str, Any] = {}
            if self.config.region and self.config.region != "us-east-1":
                options["CreateBucketConfiguration"] = {"LocationConstraint": self.config.region}
            try:
                await self.call("create_bucket", **options)
            except BackendUnavailable as exc:
                if "BucketAlreadyOwnedByYou" not in str(exc):
                    raise

    async def close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def health(self) -> list[str]:
        try:
            await self.call("head_bucket")
        except BackendUnavailable as exc:
            return [str(exc)]
        return []

    # -- keys and calls --------------------------------------------------------------------

    def blob_key(self, key: str) -> str:
        return f"{self.prefix}blobs/{check_blob_key(key)}"

    def upload_key(self, upload_id: str) -> str:
        return f"{self.prefix}uploads/{upload_id}"

    async def call(self, operation: str, **params: Any) -> Any:
        """One S3 request on this bucket; NotFound for a missing object, BackendUnavailable when unreachable."""
        from botocore.exceptions import ClientError

        client = self._client
        if client is None:
            raise BackendUnavailable(f"the S3 blob store for {self.where} is not started")
        try:
            return await getattr(client, operation)(Bucket=self.bucket, **params)
        except ClientError as exc:
            code = error_code(exc)
            if code in NOT_FOUND and operation != "head_bucket":
                raise _Missing(code) from None
            if code in ("NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch",
                        "ExpiredToken", "BucketAlreadyOwnedByYou") or operation == "head_bucket":
                raise unavailable(self.where, exc) from None
            raise
        except TRANSIENT() as exc:
            raise unavailable(self.where, exc) from None

    async def copy(self, source: str, target: str, size: int, metadata: dict[str, str] | None = None) -> None:
        """Server-side copy; part by part above ``max_single_copy``."""
        replace = {"MetadataDirective": "REPLACE", "Metadata": metadata} if metadata is not None else {}
        src = {"Bucket": self.bucket, "Key": source}
        if size <= self.config.max_single_copy:
            await self.call("copy_object", Key=target, CopySource=src, **replace)
            return
        created = await self.call("create_multipart_upload", Key=target, **({"Metadata": metadata} if metadata else {}))
        upload_id = created["UploadId"]
        step = self.config.copy_part_size
        limit = asyncio.Semaphore(self.config.max_concurrency)

        async def part(number: int, start: int) -> dict[str, Any]:
            async with limit:
                end = min(start + step, size) - 1
                result = await self.call("upload_part_copy", Key=target, UploadId=upload_id, PartNumber=number,
                                         CopySource=src, CopySourceRange=f"bytes={start}-{end}")
                return {"ETag": result["CopyPartResult"]["ETag"], "PartNumber": number}

        try:
            parts = await asyncio.gather(*(part(i, start) for i, start in enumerate(range(0, size, step), 1)))
            await self.call("complete_multipart_upload", Key=target, UploadId=upload_id,
                            MultipartUpload={"Parts": list(parts)})
        except BaseException:
            with contextlib.suppress(Exception):
                await self.call("abort_multipart_upload", Key=target, UploadId=upload_id)
            raise

    # -- the BlobStore protocol ------------------------------------------------------------

    async def writer(self) -> _Writer:
        return _Writer(self)

    async def read(self, key: str, *, offset: int = 0, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        from botocore.exceptions import ClientError

        target = self.blob_key(key)
        position = offset
        etag: str | None = None
        resumes = 0
        while True:
            params: dict[str, Any] = {"Key": target}
            if position:
                params["Range"] = f"bytes={position}-"
            if etag is not None:
                params["IfMatch"] = etag
            try:
                response = await self.call("get_object", **params)
            except _Missing:
                raise NotFoundError(f"blob {key} is missing from {self.where}") from None
            except ClientError as exc:
                if error_code(exc) == "InvalidRange":  # reading from the end: nothing left
                    return
                raise
            etag = response.get("ETag")
            body = response["Body"]
            try:
                while True:
                    chunk = await _read_up_to(body, chunk_size)
                    if not chunk:
                        return
                    position += len(chunk)
                    yield chunk
            except TRANSIENT() as exc:
                resumes += 1
                if resumes > _RESUMES:
                    raise unavailable(self.where, exc) from None
            finally:
                body.close()

    async def stat(self, key: str) -> BlobInfo | None:
        try:
            head = await self.call("head_object", Key=self.blob_key(key))
        except _Missing:
            return None
        return BlobInfo(key, int(head["ContentLength"]), head["LastModified"].timestamp())

    async def touch(self, key: str) -> bool:
        target = self.blob_key(key)
        info = await self.stat(key)
        if info is None:
            return False
        try:
            await self.copy(target, target, info.size, metadata={"llmspell-touched": f"{time.time():.6f}"})
        except _Missing:
            return False
        return True

    async def delete(self, key: str) -> int:
        target = self.blob_key(key)
        info = await self.stat(key)
        if info is None:
            return 0
        await self.call("delete_object", Key=target)
        return info.size

    async def blobs(self) -> AsyncIterator[BlobInfo]:
        start = f"{self.prefix}blobs/"
        async for item in self._objects(start):
            name = item["Key"][len(start):]
            try:
                check_blob_key(name)
            except ValidationError:
                continue
            yield BlobInfo(name, int(item["Size"]), item["LastModified"].timestamp())

    async def _objects(self, prefix: str) -> AsyncIterator[dict[str, Any]]:
        token: str | None = None
        while True:
            params: dict[str, Any] = {"Prefix": prefix, "MaxKeys": 1000}
            if token:
                params["ContinuationToken"] = token
            page = await self.call("list_objects_v2", **params)
            for item in page.get("Contents", ()):
                yield item
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    async def _multipart(self, prefix: str) -> AsyncIterator[dict[str, Any]]:
        marker: dict[str, str] = {}
        while True:
            page = await self.call("list_multipart_uploads", Prefix=prefix, **marker)
            for item in page.get("Uploads", ()):
                yield item
            if not page.get("IsTruncated"):
                return
            marker = {"KeyMarker": page.get("NextKeyMarker", ""), "UploadIdMarker": page.get("NextUploadIdMarker", "")}

    async def uploads(self) -> AsyncIterator[BlobInfo]:
        start = f"{self.prefix}uploads/"
        seen: dict[str, BlobInfo] = {}
        async for item in self._multipart(start):
            upload = item["Key"][len(start):]
            if _UPLOAD.fullmatch(upload):
                seen.setdefault(upload, BlobInfo(upload, 0, item["Initiated"].timestamp()))
        async for item in self._objects(start):
            upload = item["Key"][len(start):]
            if _UPLOAD.fullmatch(upload):
                seen[upload] = BlobInfo(upload, int(item["Size"]), item["LastModified"].timestamp())
        for upload in sorted(seen):
            yield seen[upload]

    async def abort_upload(self, upload_id: str) -> int:
        if not isinstance(upload_id, str) or not _UPLOAD.fullmatch(upload_id):
            raise ValidationError(f"invalid upload id {upload_id!r}")
        key = self.upload_key(upload_id)
        freed = 0
        async for item in self._multipart(key):
            if item["Key"] != key:
                continue
            with contextlib.suppress(_Missing):
                parts = await self.call("list_parts", Key=key, UploadId=item["UploadId"])
                freed += sum(int(p["Size"]) for p in parts.get("Parts", ()))
            with contextlib.suppress(_Missing):
                await self.call("abort_multipart_upload", Key=key, UploadId=item["UploadId"])
        try:
            head = await self.call("head_object", Key=key)
            await self.call("delete_object", Key=key)
            freed += int(head["ContentLength"])
        except _Missing:
            pass
        return freed

    def __repr__(self) -> str:
        return f"<S3BlobStore {self.where} prefix={self.prefix!r}>"


class _Missing(Exception):
    """An object or upload that does not exist (internal)."""


async def _read_up_to(body: Any, size: int) -> bytes:
    """Up to ``size`` bytes from a streaming body (fewer only at the end)."""
    first = await body.read(size)
    if len(first) >= size or not first:
        return bytes(first)
    pieces = [first]
    have = len(first)
    while have < size:
        more = await body.read(size - have)
        if not more:
            break
        pieces.append(more)
        have += len(more)
    return b"".join(pieces)
