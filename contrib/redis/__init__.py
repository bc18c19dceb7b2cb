"""Redis backends for llmspell: state, sessions, the event log and the event bus.

Install with ``pip install "llmspell[redis]"`` and pick the backend per service::

    [state]
    backend = "redis"
    [sessions]
    backend = "redis"
    [events]
    backend = "redis"        # the append-only log on Redis Streams
    transport = "redis"      # cross-process delivery and work-sharing groups
    [redis]
    url = "redis://127.0.0.1:6379/0"

Registered as the ``redis`` plugin (``[plugins] disable = ["redis"]`` removes it).
redis-py is imported only when a Redis backend is selected; without it the kernel fails
to build with the ``pip install`` line to run. See ``docs/backends/redis.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmspell import hookimpl
from llmspell.errors import ConfigError
from llmspell.plugins.events.backend import EventCodec

from ._client import import_redis
from .config import RedisConfig, problems

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["RedisConfig", "selected"]

NAME = "redis"


def _config(kernel: Kernel) -> RedisConfig:
    config: RedisConfig = kernel.config.section("redis")
    return config


def selected(kernel: Kernel) -> list[str]:
    """The ``section.key`` settings that select a Redis backend in this kernel's config."""
    uses = []
    for section, keys in (("state", ("backend",)), ("sessions", ("backend",)), ("events", ("backend", "transport"))):
        values = kernel.config.sections.get(section)
        for key in keys:
            if values is not None and getattr(values, key, None) == NAME:
                uses.append(f"{section}.{key}")
    return uses


def _state(kernel: Kernel) -> Any:
    from .state import RedisStateBackend

    return RedisStateBackend(_config(kernel))


def _sessions(kernel: Kernel) -> Any:
    from .sessions import RedisSessionBackend

    return RedisSessionBackend(_config(kernel))


def _log(kernel: Kernel) -> Any:
    from .eventlog import RedisEventLog

    return RedisEventLog(_config(kernel), EventCodec.for_kernel(kernel))


def _transport(kernel: Kernel) -> Any:
    from .transport import RedisTransport

    return RedisTransport(_config(kernel), EventCodec.for_kernel(kernel))


@hookimpl
def llmspell_register_config(register: Any) -> None:
    register("redis", RedisConfig, "Redis connection shared by the redis backends (url, prefix, timeouts)")


@hookimpl
def llmspell_register_state_backends(register: Any) -> None:
    register(NAME, _state, "Redis: versioned hashes, compare-and-set and batches in Lua (llmspell[redis])")


@hookimpl
def llmspell_register_session_backends(register: Any) -> None:
    register(NAME, _sessions, "Redis: session records with user/app/time indexes (llmspell[redis])")


@hookimpl
def llmspell_register_event_backends(register: Any) -> None:
    register(NAME, _log, "Redis Streams: one stream per event stream, gapless seqs, id de-duplication (llmspell[redis])")


@hookimpl
def llmspell_register_event_transports(register: Any) -> None:
    register(NAME, _transport, "Redis Streams bus: every process receives every event; consumer groups share work (llmspell[redis])")


@hookimpl
def llmspell_configure(kernel: Kernel) -> None:
    """Check ``[redis]``; fail at build time, with the ``pip install`` line, when Redis is
    selected but not installed."""
    bad = problems(_config(kernel))
    if bad:
        raise ConfigError(bad, source=kernel.config.source)
    if selected(kernel):
        import_redis()
