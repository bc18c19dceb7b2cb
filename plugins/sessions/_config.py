"""The ``[sessions]`` configuration section."""

from __future__ import annotations

from typing import Any

import attrs


def _positive_or_none(instance: Any, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{attribute.name} must be a positive number of seconds, got {value!r}")


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be a positive number of seconds, got {value!r}")


def _retention(instance: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in ("keep", "archive", "delete"):
        raise ValueError(f"{attribute.name}: {value!r} is not one of 'keep', 'archive', 'delete'")


@attrs.frozen
class SessionsConfig:
    backend: str = "diskcache"
    """Where session records live: ``memory`` or ``diskcache`` (or a plugin's backend)."""
    app: str = "default"
    """The app name given to sessions created without one."""
    default_ttl: float | None = attrs.field(default=None, validator=_positive_or_none)
    """Seconds of inactivity before a session expires; None: sessions never expire."""
    lease_ttl: float = attrs.field(default=30.0, validator=_positive)
    """How long a process's claim on an active session lasts without a heartbeat."""
    sweep_interval: float = 60.0
    """Seconds between background sweeps while the kernel runs; 0 turns them off."""
    retention: str = attrs.field(default="keep", validator=_retention)
    """What happens to ended sessions after ``retention_grace``: keep, archive or delete."""
    retention_grace: float = attrs.field(default=7 * 24 * 3600.0, validator=_positive)
    max_retries: int = 50
    """Compare-and-set attempts before an update gives up with ConflictError."""
