"""The ``[events]`` configuration section."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from llmspell.errors import ConfigError, ValidationError
from llmspell.plugins.events.api import compile_patterns

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["EventsConfig", "POLICIES", "DEFAULT_LOGGED_UNSCOPED", "check_config"]

#: Backpressure policies a subscription may use.
POLICIES = ("block", "drop_oldest")

#: Types of events with no session and no stream that are still logged, to the system stream.
DEFAULT_LOGGED_UNSCOPED = ["kernel.**", "plugin.**", "session.**", "workflow.**", "hook.**"]


@attrs.frozen
class EventsConfig:
    """``[events]``: the log backend, the transport, queues and what is logged.

    Example::

        [events]
        backend = "diskcache"        # or "memory", or a plugin's backend ("redis", ...)
        transport = "local"
        queue_size = 10000
        policy = "block"             # or "drop_oldest"
        system_stream = "system"     # "" logs no event that lacks a session or stream
        log_unscoped = ["kernel.**", "plugin.**", "session.**", "workflow.**", "hook.**"]
    """

    backend: str = "diskcache"
    """The event-log backend (``llmspell plugins`` lists the registered ones)."""
    transport: str = "local"
    """The bus transport; ``local`` delivers inside this process."""
    directory: str = "events"
    """Where the ``diskcache`` backend keeps its database, relative to the data directory."""
    queue_size: int = 10_000
    """Default bound of each subscription's queue."""
    policy: str = "block"
    """Default backpressure policy of a subscription: ``block`` or ``drop_oldest``."""
    system_stream: str = "system"
    """The stream of logged events that have neither a session nor an explicit stream."""
    log_unscoped: list[str] = attrs.Factory(lambda: list(DEFAULT_LOGGED_UNSCOPED))
    """Patterns of the types of such events that are logged (to ``system_stream``)."""
    snapshot_every: int = 1_000
    """A projection saves a snapshot after folding at least this many events (0: never)."""
    read_batch: int = 1_000
    """Events fetched from the log per round trip when reading and replaying."""
    poll_interval: float = 0.25
    """Seconds between log polls when following (``tail --follow``)."""
    drain_timeout: float = 5.0
    """Seconds the service waits at shutdown for subscribers to finish their queues."""


def check_config(cfg: EventsConfig, kernel: Kernel) -> None:
    """Cross-field and name checks that the attrs class cannot express; ConfigError on failure."""
    problems: list[str] = []
    if cfg.policy not in POLICIES:
        problems.append(f"events.policy: {cfg.policy!r} is not one of {', '.join(map(repr, POLICIES))}")
    for field in ("queue_size", "read_batch"):
        if getattr(cfg, field) < 1:
            problems.append(f"events.{field}: must be at least 1, got {getattr(cfg, field)}")
    if cfg.snapshot_every < 0:
        problems.append(f"events.snapshot_every: must be 0 or more, got {cfg.snapshot_every}")
    if cfg.poll_interval <= 0:
        problems.append(f"events.poll_interval: must be positive, got {cfg.poll_interval}")
    if cfg.log_unscoped:
        try:
            compile_patterns(cfg.log_unscoped)
        except ValidationError as exc:
            problems.append(f"events.log_unscoped: {exc}")
    if problems:
        raise ConfigError(problems, source=kernel.config.source)
