"""A save hashes its content once; the memory store's loads trust only what the service vouched for."""

from __future__ import annotations

import asyncio
import hashlib
import os
from typing import Any

import pytest

from llmspell import Kernel
from llmspell.errors import IntegrityError


async def test_memory_blob_replaced_under_its_key_is_hashed_again(start_kernel: Any) -> None:
    """The memory store skips the load-time hash only for bytes the service vouched for;
    a blob committed under the key any other way loses the vouch and fails the check."""
    kernel = await start_kernel(backend="memory", metadata="memory")
    try:
        arts = kernel.artifacts
        ref = await arts.save("v.bin", b"a" * 1000)
        assert await arts.load(ref) == b"a" * 1000
        blob = (await arts.stat(ref)).blob
        writer = await arts.store.writer()
        await writer.write(b"b" * 1000)  # same size, other content, the same key
        await writer.commit(blob)
        with pytest.raises(IntegrityError, match="sha-256"):
            await arts.load(ref)
    finally:
        await kernel.stop()


@pytest.mark.parametrize("kind", [bytearray, memoryview])
async def test_a_buffer_changed_during_the_save_is_stored_as_hashed(akernel: Kernel, kind: Any) -> None:
    """The digest recorded is the digest of the bytes stored, even when the caller's buffer
    changes while the save runs (the content is hashed once, from a snapshot)."""
    buffer = bytearray(os.urandom(300 * 1024))  # large enough to be hashed off the event loop
    before = bytes(buffer)
    arts = akernel.artifacts
    saving = asyncio.ensure_future(arts.save("m.bin", kind(buffer)))
    await asyncio.sleep(0)
    buffer[0:4] = b"\0\0\0\0"
    ref = await saving
    loaded = await arts.load(ref)
    assert loaded in (before, bytes(buffer))
    meta = await arts.stat(ref)
    assert meta.sha256 == hashlib.sha256(loaded).hexdigest() and meta.size == len(loaded)


async def test_memory_store_vouches_only_for_plain_blobs(start_kernel: Any) -> None:
    kernel = await start_kernel(backend="memory", metadata="memory", codecs=["zstd"])
    try:
        arts = kernel.artifacts
        plain = await arts.save("p.txt", b"plain " * 100, codecs=[])
        coded = await arts.save("z.txt", b"zstd " * 100)
        assert arts.store.vouched((await arts.stat(plain)).blob) is not None
        assert arts.store.vouched((await arts.stat(coded)).blob) is None
        assert await arts.load(coded) == b"zstd " * 100
    finally:
        await kernel.stop()
