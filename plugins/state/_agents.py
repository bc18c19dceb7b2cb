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

The state service owns one :class:`AgentSnapshots` (``kernel.state.agent_state``); the
plugin's lifecycle hooks find it with :func:`snapshots_for`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import orjson

from llmspell.plugins.agents.api import StatefulAgent
from llmspell.plugins.state.api import StateService, check_owner

from ._codec import to_json
from ._scope import Scope

if TYPE_CHECKING:
    from llmspell.hooks import Hooks

    from ._store import StateStore

__all__ = ["AgentSnapshots", "snapshots_for"]

log = logging.getLogger("llmspell.state")


def snapshots_for(ctx: Any) -> AgentSnapshots | None:
    """The agent snapshots of the kernel that ``ctx`` belongs to (None when its state
    service keeps none, or ``[state] persist_agents`` is off)."""
    services = getattr(ctx, "services", None)
    if services is None:
        log.debug("agent state not persisted: the execution context is not bound to a kernel")
        return None
    found = getattr(services.find(StateService), "agent_state", None)
    if not isinstance(found, AgentSnapshots) or not found.store.config.persist_agents:
        return None
    return found


def _name(agent: Any) -> str | None:
    name = getattr(agent, "name", None)
    return name if isinstance(name, str) and name else None


def _fingerprint(state: Any) -> bytes:
    return orjson.dumps(state, option=orjson.OPT_SORT_KEYS)


class AgentSnapshots:
    """Saves and restores agents' state in one state store, through the agent state hooks.

    ``saved`` holds a fingerprint of the last snapshot saved or restored per agent name.
    """

    def __init__(self, store: StateStore, hook: Hooks) -> None:
        self.store = store
        self.hook = hook
        self.saved: dict[str, bytes] = {}

    def _scope(self, name: str) -> Scope:
        return Scope(self.store, "agent", check_owner("agent", name))

    async def restore(self, agent: Any, ctx: Any) -> dict[str, Any] | None:
        """Load the agent's snapshot and give it back to hooks and the agent; returns it."""
        name = _name(agent)
        if name is None:
            return None
        state = await self._scope(name).get(self.store.config.agent_snapshot_key)
        if state is None:
            return None
        if not isinstance(state, dict):
            log.warning("stored state of agent %r is %s, not a mapping; ignored", name, type(state).__name__)
            return None
        self.saved[name] = _fingerprint(state)
        await self.hook.agent_state_restore(agent=agent, state=state, ctx=ctx)
        if isinstance(agent, StatefulAgent):
            agent.restore_state(state)
        return state

    async def save(self, agent: Any, ctx: Any) -> int | None:
        """Snapshot the agent and store it if it changed; returns the new version or None."""
        name = _name(agent)
        if name is None:
            return None
        own = agent.snapshot_state() if isinstance(agent, StatefulAgent) else {}
        point = self.hook.agent_state_snapshot
        extra: dict[str, Any] = {}
        if point.active():  # no call to build for a point nothing is attached to
            call = await point(agent=agent, ctx=ctx)
            extra = call.result if isinstance(call.result, dict) else {}
        if not own and not extra:  # a stateless agent: nothing to encode or compare
            return None
        snapshot = to_json({**(own or {}), **extra})
        if not snapshot:
            return None
        fingerprint = _fingerprint(snapshot)
        if self.saved.get(name) == fingerprint:
            return None
        version = await self._scope(name).set(self.store.config.agent_snapshot_key, snapshot)
        self.saved[name] = fingerprint
        return version
