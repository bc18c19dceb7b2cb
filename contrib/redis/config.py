"""The ``[redis]`` configuration section, shared by every Redis backend.

Example ``llmspell.toml``::

    [state]
    backend = "redis"
    [sessions]
    backend = "redis"
    [events]
    backend = "redis"
    transport = "redis"

    [redis]
    url = "redis://:secret@cache.internal:6379/0"   # or LLMSPELL_REDIS_URL
    prefix = "llmspell"

``url`` is a secret: ``llmspell config`` prints it as ``***``.
"""

from __future__ import annotations

import re

import attrs

from llmspell.config import secret

__all__ = ["RedisConfig", "problems"]

_PREFIX = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")


@attrs.frozen
class RedisConfig:
    """``[redis]``: where the Redis server is and how the backends use it."""

    url: str = secret("redis://127.0.0.1:6379/0")
    """Server URL (``redis://[user:password@]host:port/db``, ``rediss://`` for TLS,
    ``unix:///path/to.sock``). Also ``LLMSPELL_REDIS_URL``. Never printed."""
    prefix: str = "llmspell"
    """Every key starts with ``{prefix:service}:``; deployments sharing a server use
    different prefixes."""
    connect_timeout: float = 5.0
    """Seconds to wait for a connection before a call fails with BackendUnavailable."""
    timeout: float = 5.0
    """Seconds to wait for a reply before a call fails with BackendUnavailable."""
    max_connections: int = 64
    """Connections per backend (state, sessions, log, transport each have a pool)."""
    bus_maxlen: int = 100_000
    """Approximate number of recent events kept in the bus stream (transport and groups)."""
    block: float = 1.0
    """Seconds a transport read blocks waiting for new events before it polls again."""
    group_batch: int = 32
    """Events a work-sharing group member takes at once (acknowledged once handled)."""
    claim_idle: float = 30.0
    """Seconds an event may stay unacknowledged by a member before another member takes it
    over (the member died, or its handler is stuck)."""


def problems(config: RedisConfig) -> list[str]:
    """Every bad value of ``config``, one line each, starting with its ``redis.<field>`` path."""
    out = []
    if not config.url.startswith(("redis://", "rediss://", "unix://")):
        out.append("redis.url: must start with redis://, rediss:// or unix:// (for example redis://127.0.0.1:6379/0)")
    if not _PREFIX.fullmatch(config.prefix):
        out.append(f"redis.prefix: {config.prefix!r} must be 1 to 64 letters, digits, '_', '-', '.' or ':'")
    for name in ("connect_timeout", "timeout", "max_connections", "bus_maxlen", "block", "group_batch", "claim_idle"):
        value = getattr(config, name)
        if not value > 0:
            out.append(f"redis.{name}: must be greater than 0, got {value!r}")
    return out
