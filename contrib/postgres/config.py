"""The ``[postgres]`` configuration section.

Example ``llmspell.toml``::

    [postgres]
    dsn = "postgresql://llmspell@db.internal/llmspell"   # better: LLMSPELL_POSTGRES_DSN
    schema = "llmspell"          # every table lives in this schema
    min_size = 1                 # connections kept open per kernel process
    max_size = 10
    connect_timeout = 5.0        # seconds to open a connection
    acquire_timeout = 10.0       # seconds to wait for a free pooled connection
    command_timeout = 30.0       # seconds one call may take before BackendUnavailable
    auto_migrate = true          # apply pending migrations at startup

    [state]
    backend = "postgres"         # likewise [sessions] backend, [events] backend / transport,
                                 # [artifacts] metadata
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from llmspell.config import secret

__all__ = ["PostgresConfig", "SCHEMA_NAME"]

#: What a schema name may look like (it is quoted, but kept simple on purpose).
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _schema(instance: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if not SCHEMA_NAME.fullmatch(value):
        raise ValueError(
            f"schema {value!r} is not a plain name: use lower-case letters, digits and '_' "
            "(at most 63 characters, not starting with a digit)"
        )


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if isinstance(value, bool) or not value > 0:
        raise ValueError(f"{attribute.name} must be greater than 0, got {value!r}")


@attrs.frozen
class PostgresConfig:
    """``[postgres]``: where the server is and how the connection pool behaves."""

    dsn: str = secret("postgresql://127.0.0.1:5432/postgres")
    """libpq connection string or URL; holds the password, so it is never printed."""
    schema: str = attrs.field(default="llmspell", validator=_schema)
    """Schema holding every llmspell table (one deployment per schema)."""
    min_size: int = attrs.field(default=1, validator=_positive)
    max_size: int = attrs.field(default=10, validator=_positive)
    connect_timeout: float = attrs.field(default=5.0, validator=_positive)
    """Seconds to open one connection (and to open the pool at startup)."""
    acquire_timeout: float = attrs.field(default=10.0, validator=_positive)
    """Seconds a call waits for a pooled connection (all busy, or the server is down)."""
    command_timeout: float = attrs.field(default=30.0, validator=_positive)
    """Seconds one call may take, server included, before it fails with BackendUnavailable."""
    auto_migrate: bool = True
    """Create and upgrade the schema at startup; off: fail unless ``llmspell postgres migrate`` ran."""
    channel: str = "llmspell_events"
    """LISTEN/NOTIFY channel of the ``postgres`` event transport (suffixed with the schema)."""
    reconnect_delay: float = attrs.field(default=0.5, validator=_positive)
    """First delay (doubling, at most 10 s) before the transport's listener reconnects."""

    def __attrs_post_init__(self) -> None:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size ({self.min_size}) must not exceed max_size ({self.max_size})")
        if not SCHEMA_NAME.fullmatch(self.channel):
            raise ValueError(f"channel {self.channel!r} is not a plain name (lower-case letters, digits, '_')")
