"""Committing an agent's output: its state delta through the state service, its artifacts
through the artifact service (or, inside a parallel branch, the delta deferred for merging).

State delta keys are ``"scope:key"``; :func:`locate` resolves the owner from the run's
context: ``session`` the session id, ``user`` the user id, ``agent`` the agent's name,
``temp`` the invocation, ``app`` the state service's app. A bare key is ``session`` when
the run has a session, else ``agent``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from llmspell.context import ExecutionContext
from llmspell.errors import ServiceNotAvailable, ValidationError
from llmspell.plugins.agents.api import DELETE, AgentOutput
from llmspell.plugins.artifacts.api import ArtifactService
from llmspell.plugins.events.api import Event
from llmspell.plugins.state.api import KeyWrite, StateService

if TYPE_CHECKING:
    from llmspell.services import Services

    from .api import BaseAgent

__all__ = ["Committer", "locate", "TEMP_OWNER", "DEFER"]

#: ``ctx.data`` key of the invocation that owns the ``temp`` scope.
TEMP_OWNER = "llmspell.temp_owner"
#: ``ctx.data`` key of the list collecting a parallel branch's deltas.
DEFER = "llmspell.deferred_deltas"
_SCOPES = ("app", "user", "session", "agent", "temp")


def locate(key: str, ctx: ExecutionContext, agent: BaseAgent) -> tuple[str, str | None, str]:
    """``"scope:key"`` of a state delta -> (scope, owner, key); a bare key is session (or agent)."""
    scope, sep, name = key.partition(":")
    if not sep or scope not in _SCOPES:
        scope, name = ("session" if ctx.session_id else "agent"), key
    if scope == "session":
        if ctx.session_id is None:
            raise ValidationError(f"agent {agent.name!r} wrote {key!r}, but this run has no session")
        return scope, ctx.session_id, name
    if scope == "user":
        if ctx.user_id is None:
            raise ValidationError(f"agent {agent.name!r} wrote {key!r}, but this run has no user")
        return scope, ctx.user_id, name
    if scope == "agent":
        return scope, agent.name, name
    if scope == "temp":
        return scope, ctx.data.get(TEMP_OWNER, ctx.invocation_id), name
    return scope, None, name



def _with_agent(o: AgentOutput, name: str) -> AgentOutput:
    """``o.evolve(agent=name)``, fast (:meth:`AgentOutput.copy`)."""
    return o.copy(agent=name)


class Committer:
    """Commits agents' outputs through the state and artifact services found in ``services``."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def commit(self, agent: BaseAgent, result: Any, ctx: ExecutionContext,
                     outbox: list[Event] | None = None) -> AgentOutput:
        """The output of one execution, its state delta applied (or deferred) and artifacts saved.

        ``outbox``: the delta's ``state.changed`` events are added to it, for the caller to
        publish with its own (see ``StateService.write_many``)."""
        output = result if isinstance(result, AgentOutput) else AgentOutput(content="" if result is None else str(result))
        changes: dict[str, Any] = {}
        if output.agent is None:
            changes["agent"] = agent.name
        if output.state_delta:
            deferred = ctx.data.get(DEFER)
            if deferred is not None:  # inside a parallel branch: merged when all branches end
                deferred.append((agent, dict(output.state_delta), ctx))
            else:
                await self.apply_delta(agent, output.state_delta, ctx, outbox=outbox)
        if output.artifacts:
            changes["saved"] = await self.save_artifacts(agent, output, ctx)
        if not changes:
            return output
        if len(changes) == 1 and "agent" in changes:
            return _with_agent(output, agent.name)
        return output.evolve(**changes)

    async def apply_delta(self, agent: BaseAgent, delta: Mapping[str, Any], ctx: ExecutionContext,
                          handles: dict[tuple[str, str | None], Any] | None = None, *,
                          outbox: list[Event] | None = None) -> None:
        """Write a state delta through the state service (its scopes and conflict policies):
        every key or none (:meth:`~llmspell.plugins.state.api.StateService.write_many`)."""
        state = self.services.find(StateService)
        if state is None:
            raise ServiceNotAvailable("StateService", f"agent {agent.name!r} returned a state delta")
        handles = {} if handles is None else handles
        writes = []
        for key, value in delta.items():
            scope, owner, name = locate(key, ctx, agent)
            handle = handles.get((scope, owner))
            if handle is None:
                handle = handles[(scope, owner)] = state.scope(scope, owner)
            writes.append(KeyWrite(handle, name, None if value is DELETE else value, delete=value is DELETE))
        if outbox is None:
            await state.write_many(writes)
        else:
            await state.write_many(writes, outbox=outbox)

    async def save_artifacts(self, agent: BaseAgent, output: AgentOutput, ctx: ExecutionContext) -> tuple[Any, ...]:
        artifacts = self.services.find(ArtifactService)
        if artifacts is None:
            raise ServiceNotAvailable("ArtifactService", f"agent {agent.name!r} produced artifacts")
        refs = []
        for item in output.artifacts:
            refs.append(await artifacts.save(
                item.name, item.data, content_type=item.content_type, tags=item.tags,
                metadata={"agent": agent.name, **item.metadata}, ctx=ctx,
            ))
        return tuple(refs)
