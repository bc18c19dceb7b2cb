"""The default session manager plugin (``kernel.sessions``).

Registers the ``memory`` and ``diskcache`` session backends, the ``[sessions]`` config
section, the manager as the :class:`~llmspell.plugins.sessions.api.SessionService`, the background
heartbeat and sweeper, and the ``llmspell sessions`` commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmspell import hookimpl
from llmspell.plugins.sessions.api import SessionService
from llmspell.services import StashKey

from ._backends import make_diskcache, make_memory
from ._config import SessionsConfig
from ._manager import MANAGER, SessionManager
from ._upkeep import Sweeper, SweepReport, recover, sweep

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["MANAGER", "SessionManager", "SessionsConfig", "SweepReport", "sweep", "recover"]

SWEEPER: StashKey[Sweeper] = StashKey("sessions.sweeper")


@hookimpl
def llmspell_register_config(register: Any) -> None:
    register("sessions", SessionsConfig, "session manager: backend, ttl, leases, sweeping, retention",
             backends={"backend": "session_backend"})


@hookimpl
def llmspell_register_session_backends(register: Any) -> None:
    register("memory", make_memory, "session records in process memory (nothing persists)")
    register("diskcache", make_diskcache, "session records on disk under the data directory")


@hookimpl(trylast=True)
def llmspell_register_services(kernel: Kernel, register: Any) -> None:
    config: SessionsConfig = kernel.config.section("sessions")
    backend = kernel.create_backend("session_backend", config.backend)
    manager = SessionManager(kernel, backend, config)
    kernel.stash[MANAGER] = manager
    register(SessionService, manager)


@hookimpl(trylast=True)
async def llmspell_startup(kernel: Kernel) -> None:
    manager = kernel.services.find(SessionService)
    if not isinstance(manager, SessionManager):
        return
    await manager.pending.recover()
    await recover(manager)
    manager.leases.start_heartbeat()
    sweeper = Sweeper(manager)
    sweeper.start()
    kernel.stash[SWEEPER] = sweeper


@hookimpl(trylast=True)
async def llmspell_shutdown(kernel: Kernel) -> None:
    manager = kernel.services.find(SessionService)
    if not isinstance(manager, SessionManager):
        return
    if SWEEPER in kernel.stash:
        await kernel.stash[SWEEPER].stop()
    await manager.leases.stop_heartbeat()
    await manager.leases.release_all()


@hookimpl
def llmspell_register_commands(cli: Any, kernel: Kernel) -> None:
    from ._cli import register_commands

    register_commands(cli)
