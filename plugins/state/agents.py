"""Agent state persistence: restore on initialize, snapshot after each run and at shutdown.

An agent's state lives in scope ``agent``, owner = the agent's ``name``, under the key
``[state] agent_snapshot_key`` (``"snapshot"``). On ``agent_initialize`` the stored
snapshot (if any) is handed to the ``agent_state_restore`` hook point and then to
``agent.restore_state(state)`` when the agent implements
:class:`~llmspell.plugins.agents.api.StatefulAgent`. After each execution (``agent_after``) and at
``agent_shutdown`` the snapshot is ``agent.snapshot_state()`` merged with what the
``agent_state_snapshot`` hook point returns (hooks win on equal keys); it is written only
when it differs from the last one this kernel saved or restored, so an idle agent costs
no write. Two agents with the same name share one snapshot (last write wins).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import orjson

from llmspell.plugins.agents.api import StatefulAgent
from llmspell.plugins.state.api import StateService

from .codec import to_json

if TYPE_CHECKING:
    from .service import StateManager

__all__ = ["manager_for", "restore_agent", "save_agent"]

log = logging.getLogger("llmspell.state")


def manager_for(ctx: Any) -> StateManager | None:
    """The state manager of the kernel that ``ctx`` belongs to (None if there is none)."""
    from .service import StateManager

    services = getattr(ctx, "services", None)
    if services is None:
        log.debug("agent state not persisted: the execution context is not bound to a kernel")
        return None
    manager = services.find(StateService)
    if not isinstance(manager, StateManager) or not manager.config.persist_agents:
        return None
    return manager


def _name(agent: Any) -> str | None:
    name = getattr(agent, "name", None)
    return name if isinstance(name, str) and name else None


def _fingerprint(state: Any) -> bytes:
    return orjson.dumps(state, option=orjson.OPT_SORT_KEYS)


async def restore_agent(manager: StateManager, agent: Any, ctx: Any) -> dict[str, Any] | None:
    """Load the agent's snapshot and give it back to hooks and the agent; returns it."""
    name = _name(agent)
    if name is None:
        return None
    state = await manager.scope("agent", name).get(manager.config.agent_snapshot_key)
    if state is None:
        return None
    if not isinstance(state, dict):
        log.warning("stored state of agent %r is %s, not a mapping; ignored", name, type(state).__name__)
        return None
    manager.agent_snapshots[name] = _fingerprint(state)
    await manager.kernel.hook.agent_state_restore(agent=agent, state=state, ctx=ctx)
    if isinstance(agent, StatefulAgent):
        agent.restore_state(state)
    return state


async def save_agent(manager: StateManager, agent: Any, ctx: Any) -> int | None:
    """Snapshot the agent and store it if it changed; returns the new version or None."""
    name = _name(agent)
    if name is None:
        return None
    own = agent.snapshot_state() if isinstance(agent, StatefulAgent) else {}
    call = await manager.kernel.hook.agent_state_snapshot(agent=agent, ctx=ctx)
    extra = call.result if isinstance(call.result, dict) else {}
    snapshot = to_json({**(own or {}), **extra})
    if not snapshot:
        return None
    fingerprint = _fingerprint(snapshot)
    if manager.agent_snapshots.get(name) == fingerprint:
        return None
    version = await manager.scope("agent", name).set(manager.config.agent_snapshot_key, snapshot)
    manager.agent_snapshots[name] = fingerprint
    return version
