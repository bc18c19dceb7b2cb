"""The default state plugin: ``kernel.state``, its backends, reducers and CLI.

Registered as the ``state`` entry point (block it with ``[plugins] disable = ["state"]``).
It registers the ``[state]`` config section, the ``memory`` and ``diskcache`` backends,
the built-in reducers, the state service, agent-state persistence on the agent
lifecycle hooks and the ``llmspell state`` commands. See ``docs/state.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from llmspell import hookimpl
from llmspell.errors import ConfigError
from llmspell.hooks import HookCall
from llmspell.plugins.state.api import StateService
from llmspell.services import StashKey

from . import _agents as agents
from ._config import DiskcacheOptions, StateConfig, parse_policy
from ._memory import MemoryStateBackend
from ._reducers import BUILTIN
from ._scope import Scope
from ._service import StateManager
from ._watch import StateWatch

if TYPE_CHECKING:
    from llmspell import Kernel
    from llmspell.plugins._diskcache import DiskcacheStateBackend

__all__ = [
    "StateManager",
    "Scope",
    "StateConfig",
    "DiskcacheOptions",
    "MemoryStateBackend",
    "DiskcacheStateBackend",
    "StateWatch",
    "MANAGER",
]

#: The kernel's state manager, for the plugin's own lifecycle hooks.
MANAGER: StashKey[StateManager] = StashKey("state.manager")


def __getattr__(name: str) -> Any:
    # The embedded store imports this package's backend module, so its class is fetched
    # when asked for, not at import (``from llmspell.plugins.state import DiskcacheStateBackend``).
    if name == "DiskcacheStateBackend":
        from llmspell.plugins._diskcache import DiskcacheStateBackend

        return DiskcacheStateBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _diskcache(kernel: Kernel) -> DiskcacheStateBackend:
    options: DiskcacheOptions = kernel.config.section("state").diskcache
    directory = Path(options.directory).expanduser()
    if not directory.is_absolute():
        directory = kernel.data_dir / directory
    from llmspell.plugins._diskcache import DiskcacheStateBackend

    return DiskcacheStateBackend(directory, timeout=options.timeout, threaded=options.threaded)


@hookimpl
def llmspell_register_config(register: Any) -> None:
    register("state", StateConfig, "durable state: backend, conflict policies, retries, migrations",
             backends={"backend": "state_backend"})


@hookimpl
def llmspell_register_state_backends(register: Any) -> None:
    register("memory", lambda kernel: MemoryStateBackend(), "in this process only; nothing persists")
    register("diskcache", _diskcache, "embedded default: diskcache (SQLite WAL) in the data directory")


@hookimpl
def llmspell_register_state_reducers(register: Any) -> None:
    for name, (fn, description) in BUILTIN.items():
        register(name, fn, description)


@hookimpl(trylast=True)
def llmspell_configure(kernel: Kernel) -> None:
    config: StateConfig = kernel.config.section("state")
    reducers = kernel.registry("state_reducer")
    problems = []
    for where, spec in [("state.default_policy", config.default_policy)] + [
        (f"state.policies.{pattern!r}", spec) for pattern, spec in config.policies.items()
    ]:
        try:
            _, reducer = parse_policy(spec)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if reducer is not None and reducer not in reducers:
            known = ", ".join(sorted(str(n) for n in reducers.names()))
            problems.append(f"{where}: unknown reducer {reducer!r} (registered: {known})")
    if problems:
        raise ConfigError(problems, source=kernel.config.source)


@hookimpl(trylast=True)
def llmspell_register_services(kernel: Kernel, register: Any) -> None:
    config: StateConfig = kernel.config.section("state")
    manager = StateManager(kernel, config, kernel.create_backend("state_backend", config.backend))
    kernel.stash[MANAGER] = manager
    register(StateService, manager)


@hookimpl
async def llmspell_shutdown(kernel: Kernel) -> None:
    manager = kernel.stash.get(MANAGER, None)
    if manager is not None:
        del kernel.stash[MANAGER]
        await manager.close()


@hookimpl(tryfirst=True)
async def llmspell_agent_initialize(agent: Any, ctx: Any) -> None:
    """Restore the agent's saved state before other initialize hooks run."""
    snapshots = agents.snapshots_for(ctx)
    if snapshots is not None:
        await snapshots.restore(agent, ctx)


@hookimpl(trylast=True)
async def llmspell_agent_after(call: HookCall) -> None:
    """Save the agent's state after each execution (after other hooks changed it)."""
    snapshots = agents.snapshots_for(call.ctx)
    if snapshots is not None and call.component is not None:
        await snapshots.save(call.component, call.ctx)


@hookimpl(trylast=True)
async def llmspell_agent_shutdown(agent: Any, ctx: Any) -> None:
    snapshots = agents.snapshots_for(ctx)
    if snapshots is not None:
        await snapshots.save(agent, ctx)


@hookimpl
def llmspell_register_commands(cli: click.Group, kernel: Kernel) -> None:
    from ._cli import register

    register(cli)
