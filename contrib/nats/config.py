"""The ``[nats]`` configuration section, shared by every NATS backend.

Example ``llmspell.toml``::

    [events]
    backend = "nats"         # the append-only log on JetStream
    transport = "nats"       # cross-process delivery and work-sharing groups
    [state]
    backend = "nats"         # JetStream key-value

    [nats]
    servers = "nats://nats-1:4222,nats://nats-2:4222"   # or LLMSPELL_NATS_SERVERS
    prefix = "llmspell"

``servers``, ``user``, ``password``, ``token`` and ``creds`` are secrets: ``llmspell
config`` prints them as ``***``.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from llmspell.config import secret

__all__ = ["NatsConfig"]

_PREFIX = re.compile(r"[A-Za-z0-9_-]{1,32}")


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if isinstance(value, bool) or not value > 0:
        raise ValueError(f"{attribute.name} must be greater than 0, got {value!r}")


def _servers(instance: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    urls = [u.strip() for u in value.split(",") if u.strip()]
    if not urls or not all(u.startswith(("nats://", "tls://", "ws://", "wss://")) for u in urls):
        raise ValueError(
            f"{attribute.name} must be one or more comma-separated URLs starting with nats://, tls://, "
            "ws:// or wss:// (for example nats://127.0.0.1:4222)"
        )


def _prefix(instance: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if not _PREFIX.fullmatch(value):
        raise ValueError(f"{attribute.name} {value!r} must be 1 to 32 letters, digits, '_' or '-'")


def _one_of(*allowed: str) -> Any:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: str) -> None:
        if value not in allowed:
            raise ValueError(f"{attribute.name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")

    return check


@attrs.frozen
class NatsConfig:
    """``[nats]``: where the NATS servers are and how the backends use JetStream."""

    servers: str = secret("nats://127.0.0.1:4222", validator=_servers)
    """Server URLs, comma-separated. Also ``LLMSPELL_NATS_SERVERS``. Never printed."""
    user: str | None = secret(None)
    password: str | None = secret(None)
    token: str | None = secret(None)
    creds: str | None = secret(None)
    """Path of a ``.creds`` file (NATS decentralised auth)."""
    prefix: str = attrs.field(default="llmspell", validator=_prefix)
    """Subjects start with ``<prefix>.``; streams and the key-value bucket are named
    ``<prefix>_log``, ``<prefix>_ids``, ``<prefix>_snap``, ``<prefix>_bus`` and
    ``<prefix>_state``. Deployments sharing a server use different prefixes."""
    connect_timeout: float = attrs.field(default=5.0, validator=_positive)
    """Seconds to wait for a connection at start."""
    timeout: float = attrs.field(default=5.0, validator=_positive)
    """Seconds to wait for JetStream's reply before a call fails with BackendUnavailable."""
    storage: str = attrs.field(default="file", validator=_one_of("file", "memory"))
    """Where JetStream keeps the streams llmspell creates (``memory`` does not survive a
    server restart)."""
    replicas: int = attrs.field(default=1, validator=_positive)
    """Replicas of each stream in a JetStream cluster."""
    duplicate_window: float = attrs.field(default=120.0, validator=_positive)
    """Seconds JetStream remembers message ids to drop a retried publish."""
    claim_timeout: float = attrs.field(default=30.0, validator=_positive)
    """Seconds after which an event id claimed by an append that never finished (its
    process died) may be taken over by another append of the same id."""
    bus_max_age: float = attrs.field(default=24 * 3600.0, validator=_positive)
    """Seconds the bus stream keeps events for the transport and the groups."""
    bus_max_msgs: int = attrs.field(default=1_000_000, validator=_positive)
    """Events the bus stream keeps at most (the oldest are discarded)."""
    ack_wait: float = attrs.field(default=30.0, validator=_positive)
    """Seconds a work-sharing group member may hold an event without acknowledging it
    before JetStream redelivers it to another member (renewed while a handler runs)."""
    group_batch: int = attrs.field(default=32, validator=_positive)
    """Events a work-sharing group member takes at once (acknowledged once handled)."""
