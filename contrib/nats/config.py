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

import attrs

from llmspell.config import secret

__all__ = ["NatsConfig", "problems"]

_PREFIX = re.compile(r"[A-Za-z0-9_-]{1,32}")


@attrs.frozen
class NatsConfig:
    """``[nats]``: where the NATS servers are and how the backends use JetStream."""

    servers: str = secret("nats://127.0.0.1:4222")
    """Server URLs, comma-separated. Also ``LLMSPELL_NATS_SERVERS``. Never printed."""
    user: str | None = secret(None)
    password: str | None = secret(None)
    token: str | None = secret(None)
    creds: str | None = secret(None)
    """Path of a ``.creds`` file (NATS decentralised auth)."""
    prefix: str = "llmspell"
    """Subjects start with ``<prefix>.``; streams and the key-value bucket are named
    ``<prefix>_log``, ``<prefix>_ids``, ``<prefix>_snap``, ``<prefix>_bus`` and
    ``<prefix>_state``. Deployments sharing a server use different prefixes."""
    connect_timeout: float = 5.0
    """Seconds to wait for a connection at start."""
    timeout: float = 5.0
    """Seconds to wait for JetStream's reply before a call fails with BackendUnavailable."""
    storage: str = "file"
    """Where JetStream keeps the streams llmspell creates (``memory`` does not survive a
    server restart)."""
    replicas: int = 1
    """Replicas of each stream in a JetStream cluster."""
    duplicate_window: float = 120.0
    """Seconds JetStream remembers message ids to drop a retried publish."""
    claim_timeout: float = 30.0
    """Seconds after which an event id claimed by an append that never finished (its
    process died) may be taken over by another append of the same id."""
    bus_max_age: float = 24 * 3600.0
    """Seconds the bus stream keeps events for the transport and the groups."""
    bus_max_msgs: int = 1_000_000
    """Events the bus stream keeps at most (the oldest are discarded)."""
    ack_wait: float = 30.0
    """Seconds a work-sharing group member may hold an event without acknowledging it
    before JetStream redelivers it to another member (renewed while a handler runs)."""
    group_batch: int = 32
    """Events a work-sharing group member takes at once (acknowledged once handled)."""


def problems(config: NatsConfig) -> list[str]:
    """Every bad value of ``config``, one line each, starting with its ``nats.<field>`` path."""
    out = []
    urls = [u.strip() for u in config.servers.split(",") if u.strip()]
    if not urls or not all(u.startswith(("nats://", "tls://", "ws://", "wss://")) for u in urls):
        out.append("nats.servers: must be one or more comma-separated URLs starting with nats://, tls://, ws:// "
                   "or wss:// (for example nats://127.0.0.1:4222)")
    if not _PREFIX.fullmatch(config.prefix):
        out.append(f"nats.prefix: {config.prefix!r} must be 1 to 32 letters, digits, '_' or '-'")
    if config.storage not in ("file", "memory"):
        out.append(f"nats.storage: must be 'file' or 'memory', got {config.storage!r}")
    for name in ("connect_timeout", "timeout", "replicas", "duplicate_window", "claim_timeout", "bus_max_age",
                 "bus_max_msgs", "ack_wait", "group_batch"):
        value = getattr(config, name)
        if not value > 0:
            out.append(f"nats.{name}: must be greater than 0, got {value!r}")
    return out
