"""The default event service: bus, append-only log, replay, projections, triggers.

Registered as the ``events`` plugin (block it with ``[plugins] disable = ["events"]``).
It provides :class:`~llmspell.plugins.events.api.EventService` as ``kernel.events``, the ``memory``
and ``diskcache`` log backends, the ``local`` transport, the typed system events and the
``llmspell events`` commands. ``docs/events.md`` is the guide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmspell import hookimpl
from llmspell.errors import PluginError, ValidationError
from llmspell.plugins.events.api import EventService, check_event_class
from llmspell.plugins.events.backend import EventCodec

from ._bus import Subscription
from ._config import EventsConfig, check_config
from ._disklog import DiskcacheEventLog
from ._memory import MemoryEventLog
from ._projections import LiveProjection, state_projection, state_values
from ._service import BUS, EventBus
from ._transport import LocalTransport
from ._triggers import Trigger, TriggerRegistry
from ._types import register_types
from ._workflow import Workflow
from .api import FAMILIES, SYSTEM_TYPES

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = [
    "EventBus",
    "EventsConfig",
    "Subscription",
    "MemoryEventLog",
    "DiskcacheEventLog",
    "LocalTransport",
    "LiveProjection",
    "state_projection",
    "state_values",
    "Trigger",
    "TriggerRegistry",
    "Workflow",
    "SYSTEM_TYPES",
    "FAMILIES",
    "BUS",
]


@hookimpl
def llmspell_register_config(register: Any) -> None:
    register("events", EventsConfig, "event bus, log backend, transport and what is logged",
             backends={"backend": "event_backend", "transport": "event_transport"})


@hookimpl
def llmspell_register_event_backends(register: Any) -> None:
    register("memory", lambda kernel: MemoryEventLog(EventCodec.for_kernel(kernel)),
             description="in this process only; lost when it exits")
    register(
        "diskcache",
        lambda kernel: DiskcacheEventLog(
            kernel.data_dir / kernel.config.section("events").directory, EventCodec.for_kernel(kernel)
        ),
        description="SQLite in a diskcache directory under the data directory; safe across processes",
    )


@hookimpl
def llmspell_register_event_transports(register: Any) -> None:
    register("local", lambda kernel: LocalTransport(), description="delivers inside this process")


@hookimpl
def llmspell_register_event_types(register: Any) -> None:
    register_types(register)


@hookimpl(trylast=True)
def llmspell_configure(kernel: Kernel) -> None:
    check_config(kernel.config.section("events"), kernel)
    for registration in kernel.registry("event_type"):
        try:
            check_event_class(str(registration.name), registration.value)
        except ValidationError as exc:
            raise PluginError(registration.plugin, str(exc)) from None


@hookimpl
def llmspell_register_services(kernel: Kernel, register: Any) -> None:
    bus = EventBus(kernel, kernel.config.section("events"))
    kernel.stash[BUS] = bus
    register(EventService, bus)


@hookimpl(tryfirst=True)
async def llmspell_startup(kernel: Kernel) -> None:
    # First, so that every other plugin can publish while it starts.
    await kernel.stash[BUS].start()


@hookimpl
async def llmspell_shutdown(kernel: Kernel) -> None:
    bus = kernel.stash.get(BUS, None)
    if bus is not None:
        await bus.close()


@hookimpl
def llmspell_register_commands(cli: Any, kernel: Kernel) -> None:
    from ._cli import register_commands

    register_commands(cli)
