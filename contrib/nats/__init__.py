"""NATS JetStream backends for llmspell: the event log, the event bus and state on key-value.

Install with ``pip install "llmspell[nats]"`` and pick the backend per service::

    [events]
    backend = "nats"         # the append-only log on JetStream
    transport = "nats"       # cross-process delivery and work-sharing groups
    [state]
    backend = "nats"         # JetStream key-value, revision-based compare-and-set
    [nats]
    servers = "nats://127.0.0.1:4222"

Registered as the ``nats`` plugin (``[plugins] disable = ["nats"]`` removes it). nats-py
is imported only when a NATS backend is selected; without it the kernel fails to build
with the ``pip install`` line to run. See ``docs/backends/nats.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmspell import hookimpl
from llmspell.errors import ConfigError
from llmspell.plugins.events.backend import EventCodec

from ._client import import_nats
from .config import NatsConfig, problems

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["NatsConfig", "selected"]

NAME = "nats"


def _config(kernel: Kernel) -> NatsConfig:
    config: NatsConfig = kernel.config.section("nats")
    return config


def selected(kernel: Kernel) -> list[str]:
    """The ``section.key`` settings that select a NATS backend in this kernel's config."""
    uses = []
    for section, keys in (("state", ("backend",)), ("events", ("backend", "transport"))):
        values = kernel.config.sections.get(section)
        for key in keys:
            if values is not None and getattr(values, key, None) == NAME:
                uses.append(f"{section}.{key}")
    return uses


def _state(kernel: Kernel) -> Any:
    from .kv import NatsKVStateBackend

    return NatsKVStateBackend(_config(kernel))


def _log(kernel: Kernel) -> Any:
    from .eventlog import NatsEventLog

    return NatsEventLog(_config(kernel), EventCodec.for_kernel(kernel))


def _transport(kernel: Kernel) -> Any:
    from .transport import NatsTransport

    return NatsTransport(_config(kernel), EventCodec.for_kernel(kernel))


@hookimpl
def llmspell_register_config(register: Any) -> None:
    register("nats", NatsConfig, "NATS connection shared by the nats backends (servers, prefix, timeouts)")


@hookimpl
def llmspell_register_state_backends(register: Any) -> None:
    register(NAME, _state, "NATS JetStream key-value: revision-based compare-and-set (llmspell[nats])")


@hookimpl
def llmspell_register_event_backends(register: Any) -> None:
    register(NAME, _log, "NATS JetStream: one subject per stream, conditional appends, id claims (llmspell[nats])")


@hookimpl
def llmspell_register_event_transports(register: Any) -> None:
    register(NAME, _transport, "NATS JetStream bus: every process receives every event; durable pull consumers share work (llmspell[nats])")


@hookimpl
def llmspell_configure(kernel: Kernel) -> None:
    """Check ``[nats]``; fail at build time, with the ``pip install`` line, when NATS is
    selected but not installed."""
    bad = problems(_config(kernel))
    if bad:
        raise ConfigError(bad, source=kernel.config.source)
    if selected(kernel):
        import_nats()
