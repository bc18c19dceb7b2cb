"""The ``[console]`` config section."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["ConsoleSettings"]


def _positive(instance: Any, attribute: Any, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be positive, got {value!r}")


def _port(instance: Any, attribute: Any, value: int) -> None:
    if not 0 <= value <= 65535:
        raise ValueError(f"port must be between 0 and 65535 (0: any free port), got {value!r}")


def _page(instance: Any, attribute: Any, value: int) -> None:
    if not 1 <= value <= 1000:
        raise ValueError(f"{attribute.name} must be between 1 and 1000, got {value!r}")


@attrs.frozen
class ConsoleSettings:
    """``[console]``: the local web console started by ``llmspell console``.

    Example::

        [console]
        host = "127.0.0.1"     # loopback only, the default
        port = 8765            # 0: any free port
        token = true           # a random token in the URL; false only on a trusted machine
    """

    host: str = "127.0.0.1"
    """Interface to listen on. Anything but loopback exposes the data to the network."""
    port: int = attrs.field(default=8765, validator=_port)
    token: bool = True
    """Require a random per-start token (in the URL, then in a cookie) on every request."""
    sessions_per_page: int = attrs.field(default=25, validator=_page)
    events_per_page: int = attrs.field(default=100, validator=_page)
    live_poll_interval: float = attrs.field(default=0.5, validator=_positive)
    """Seconds between looks at the event log for the live timeline (works across processes)."""
    preview_bytes: int = attrs.field(default=64 * 1024, validator=_positive)
    """Most bytes of a text artifact shown in its preview."""
