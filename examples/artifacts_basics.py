"""Artifacts in a few lines: save, load, versions, streams, listing, sharing, gc.

Run it with ``python examples/artifacts_basics.py``; it works in a temporary data
directory and removes it at the end.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile

from llmspell import Kernel, PermissionDenied, Principal


async def main(data_dir: str) -> None:
    config = {"artifacts": {"codecs": ["zstd"]}}  # compress what compresses; skip what does not
    async with Kernel(config, data_dir=data_dir) as kernel:
        arts = kernel.artifacts

        # Save and load. A session's artifacts belong to the session's user.
        alice = await kernel.context(session_id="session-1", user_id="alice")
        ref = await arts.save("report.md", b"# Q1\n\nAll good.\n", ctx=alice, tags=["report"])
        print("saved", ref)
        print("loaded", (await arts.load(ref, ctx=alice)).decode().splitlines()[0])

        # Every save of a name makes a new immutable version.
        ref2 = await arts.save("report.md", b"# Q1\n\nAll good. Really.\n", ctx=alice, tags=["report"])
        print("versions", [m.ref.version for m in await arts.versions("report.md", ctx=alice)])
        meta = await arts.stat(ref2, ctx=alice)
        print("stat", meta.size, "bytes", meta.content_type, "by", meta.creator)

        # Large artifacts stream in and out; neither side holds the whole blob.
        async def chunks():
            for i in range(64):
                yield bytes([i]) * 65536

        big = await arts.save("data/big.bin", chunks(), ctx=alice)
        digest = hashlib.sha256()
        async with await arts.open(big, ctx=alice) as reader:
            async for chunk in reader:
                digest.update(chunk)
        print("streamed", reader.meta.size, "bytes, sha256 ok:", digest.hexdigest() == reader.meta.sha256)

        # Listing: by scope, prefix, tag or content type, a page at a time.
        page = await arts.list(ctx=alice, tag="report")
        print("listed", [str(m.ref) for m in page.items])

        # Access control: bob cannot read alice's artifact until she grants it.
        bob = Principal.user("bob")
        try:
            await arts.load(ref2, principal=bob)
        except PermissionDenied as exc:
            print("denied:", exc)
        await arts.grant(ref2, bob, ["read"], ctx=alice)
        print("after grant bob reads", len(await arts.load(ref2, principal=bob)), "bytes")
        await arts.revoke(ref2, bob, ctx=alice)

        # Identical content is stored once; deleting frees it at the next gc.
        copy = await arts.copy(big, "data/copy.bin", ctx=alice)
        print("copy shares the blob:", (await arts.stat(copy, ctx=alice)).blob == (await arts.stat(big, ctx=alice)).blob)
        await arts.delete("data/big.bin", ctx=alice)
        await arts.delete("data/copy.bin", ctx=alice)
        report = await arts.gc(grace=0)
        print("gc freed", report.bytes_freed, "bytes in", len(report.blobs), "blob(s)")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(os.path.join(tmp, "data")))
