"""The Redis and NATS servers the contrib tests use, and per-test isolation on them.

The shared servers (``REDIS_URL``, ``NATS_URL``; CI starts them with
``scripts/services.sh``) hold other tests' data: every test works under a fresh key
prefix or stream prefix and removes what it wrote afterwards. A server that is not
running fails the test with what to start, it is never skipped.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

REDIS_URL = os.environ.get("LLMSPELL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NATS_URL = os.environ.get("LLMSPELL_TEST_NATS_URL", "nats://127.0.0.1:4222")


def require(url: str, what: str) -> None:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=2).close()
    except OSError as exc:
        pytest.fail(f"{what} is not reachable at {url} ({exc}); start it with: bash scripts/services.sh")


def new_prefix() -> str:
    return f"t{uuid.uuid4().hex[:16]}"


def drop_redis_prefix(prefix: str, url: str = REDIS_URL) -> None:
    """Delete every key under ``{prefix:*}``."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{{{prefix}:*", count=1000))
        for start in range(0, len(keys), 500):
            client.unlink(*keys[start : start + 500])
    finally:
        client.close()


def drop_nats_prefix(prefix: str, url: str = NATS_URL) -> None:
    """Delete every JetStream stream (KV buckets included) whose name starts with the prefix's."""
    import nats

    from llmspell.contrib.nats.naming import stream_prefix

    async def drop() -> None:
        nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
        try:
            js = nc.jetstream()
            names = [info.config.name for info in await js.streams_info()]
            wanted = stream_prefix(prefix)
            for name in names:
                if name.startswith(wanted) or name.startswith("KV_" + wanted):
                    await js.delete_stream(name)
        finally:
            await nc.close()

    asyncio.run(drop())


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    require(REDIS_URL, "Redis")
    prefix = new_prefix()
    yield prefix
    drop_redis_prefix(prefix)


@pytest.fixture
def nats_prefix() -> Iterator[str]:
    require(NATS_URL, "NATS")
    prefix = new_prefix()
    yield prefix
    drop_nats_prefix(prefix)
