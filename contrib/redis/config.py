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
from typing import Any

import attrs

from llmspell.config import secret

__all__ = ["RedisConfig"]

_PREFIX = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if isinstance(value, bool) or not value > 0:
        raise ValueError(f"{attribute.name} must be greater than 0, got {value!r}")


def _url(instance: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(
            f"{attribute.name} must start with redis://, rediss:// or unix:// "
            "(for example redis://127.0.0.1:6379/0)"
        )


def _prefix(instance: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if not _PREFIX.fullmatch(value):
        raise ValueError(
            f"{attribute.name} {value!r} must be 1 to 64 letters, digits, '_', '-', '.' or ':'"
        )


@attrs.frozen
class RedisConfig:
    """``[redis]``: where the Redis server is and how the backends use it."""

    url: str = secret("redis://127.0.0.1:6379/0", validator=_url)
    """Server URL (``redis://[user:password@]host:port/db``, ``rediss://`` for TLS,
    ``unix:///path/to.sock``). Also ``LLMSPELL_REDIS_URL``. Never printed."""
    prefix: str = attrs.field(default="llmspell", validator=_prefix)
    """Every key starts with ``{prefix:service}:``; deployments sharing a server use
    different prefixes."""
    connect_timeout: float = attrs.field(default=5.0, validator=_positive)
    """Seconds to wait for a connection before a call fails with BackendUnavailable."""
    timeout: float = attrs.field(default=5.0, validator=_positive)
    """Seconds to wait for a reply before a call fails with BackendUnavailable."""
    max_connections: int = attrs.field(default=64, validator=_positive)
    """Connections per backend (state, sessions, log, transport each have a pool)."""
    bus_maxlen: int = attrs.field(default=100_000, validator=_positive)
    """Approximate number of recent events kept in the bus stream (transport and groups)."""
    block: float = attrs.field(default=1.0, validator=_positive)
    """Seconds a transport read blocks waiting for new events before it polls again."""
    group_batch: int = attrs.field(default=32, validator=_positive)
    """Events a work-sharing group member takes at once (acknowledged once handled)."""
    claim_idle: float = attrs.field(default=30.0, validator=_positive)
    """Seconds an event may stay unacknowledged by a member before another member takes it
    over (the member died, or its handler is stuck)."""
