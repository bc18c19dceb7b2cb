"""The lifecycle state machine, per-agent resource limits and the per-run record.

Transitions follow :data:`llmspell.plugins.agents.api.TRANSITIONS`; an illegal one raises
:class:`~llmspell.errors.InvalidTransition` naming the current state and the allowed
targets. Each transition publishes ``agent.<status>`` (payload: agent, type, from, to),
except the per-run ``ready <-> running`` moves, which ``agent.run.started`` and
``agent.run.finished`` report with the run's details.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs

from llmspell.context import ExecutionContext
from llmspell.errors import InvalidTransition, LimitExceeded, LlmspellError
from llmspell.plugins.agents.api import TRANSITIONS, AgentStatus
from llmspell.plugins.hooks.api import dispatcher_of

if TYPE_CHECKING:
    from llmspell import Kernel

    from .api import BaseAgent

__all__ = ["AgentsSettings", "AgentInitError", "Lifecycle", "Limits", "RunInfo", "current_run", "move"]


@attrs.frozen
class AgentsSettings:
    """The ``[agents]`` config section."""

    provider: str = "offline"
    """Model provider for agents that name none."""
    max_concurrent_runs: int = 16
    deadline: float = 0.0
    """Default seconds per run; 0 means no deadline."""
    max_tool_calls: int = 64
    max_handoff_depth: int = 8
    """Longest chain of ``transfer_to`` handoffs one run follows."""
    specs: list[str] = attrs.Factory(list)
    """Agent spec files (TOML, or YAML with PyYAML) loaded at startup."""
    events: str = "standard"
    """Which ``agent.*`` events to publish: ``none``; ``standard`` (lifecycle transitions,
    handoffs, ``agent.run.finished``/``agent.run.failed``, one per run); ``verbose`` (also
    ``agent.run.started`` and ``agent.tool.called`` for each tool call)."""
    session_touch_interval: float = 1.0
    """Seconds between two touches of one session by this process (0: touch on every run).
    The first run in a session always touches it, which also checks that it is open."""
    replies: dict[str, str] = attrs.Factory(dict)
    """Offline provider: regular expression on the user's message -> reply."""

    def __attrs_post_init__(self) -> None:
        for field in ("max_concurrent_runs", "max_tool_calls", "max_handoff_depth"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be at least 1, got {getattr(self, field)}")
        if self.deadline < 0:
            raise ValueError(f"deadline must be >= 0 seconds, got {self.deadline}")
        if self.events not in ("none", "standard", "verbose"):
            raise ValueError(f"events must be one of 'none', 'standard', 'verbose', got {self.events!r}")
        for pattern in self.replies:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"replies: {pattern!r} is not a regular expression: {exc}") from None
        if self.session_touch_interval < 0:
            raise ValueError(f"session_touch_interval must be >= 0 seconds, got {self.session_touch_interval}")

    @property
    def publish(self) -> bool:
        return self.events != "none"

    @property
    def verbose(self) -> bool:
        return self.events == "verbose"


@attrs.frozen
class Limits:
    """The effective limits of one agent (its config over ``[agents]``)."""

    max_concurrent_runs: int
    deadline: float | None
    max_tool_calls: int

    @classmethod
    def of(cls, agent: BaseAgent, settings: AgentsSettings) -> Limits:
        cfg = agent.config
        deadline = settings.deadline if cfg.deadline is None else cfg.deadline
        return cls(
            max_concurrent_runs=cfg.max_concurrent_runs or settings.max_concurrent_runs,
            deadline=deadline or None,
            max_tool_calls=cfg.max_tool_calls or settings.max_tool_calls,
        )


@attrs.define(eq=False)
class RunInfo:
    """What the service tracks about one run while it executes (tool calls so far)."""

    agent: BaseAgent
    limits: Limits
    tool_calls: int = 0

    def count_tool_call(self, tool: str) -> None:
        if self.tool_calls >= self.limits.max_tool_calls:
            raise LimitExceeded(
                f"agent {self.agent.name!r} reached its limit of {self.limits.max_tool_calls} "
                f"tool calls in one run (calling {tool!r}); raise max_tool_calls in its config "
                "or in [agents]"
            )
        self.tool_calls += 1


log = logging.getLogger("llmspell.agents")

current_run: contextvars.ContextVar[RunInfo | None] = contextvars.ContextVar("llmspell_run", default=None)


def check(agent: BaseAgent, target: AgentStatus) -> None:
    allowed = TRANSITIONS[agent.status]
    if target not in allowed:
        raise InvalidTransition(f"agent {agent.name!r}", agent.status.value, target.value, [s.value for s in allowed])


async def move(kernel: Kernel, agent: BaseAgent, target: AgentStatus, *, events: bool = True, **payload: Any) -> None:
    """Move ``agent`` to ``target`` (validated) and publish ``agent.<target>``."""
    check(agent, target)
    old = agent.status
    agent.status = target
    if events:
        await kernel.emit(
            f"agent.{target.value}",
            {"agent": agent.name, "agent_id": agent.id, "type": agent.type_name, "from": old.value,
             "to": target.value, **payload},
            source=f"agent:{agent.name}",
        )


class AgentInitError(LlmspellError):
    """An agent failed to initialize (a lifecycle hook or its ``on_initialize`` raised)."""


class Lifecycle:
    """The lifecycle of one service's agents: announce, initialize, pause, resume, stop.

    Built with the kernel (its context, hook points and system events) and the
    ``[agents]`` settings. It also counts each agent's runs in progress (``active``,
    kept by the runner), so that :meth:`stop` can wait for them (``idle``).
    """

    def __init__(self, kernel: Kernel, settings: AgentsSettings) -> None:
        self.kernel = kernel
        self.settings = settings
        self.active: dict[str, int] = {}
        """Runs in progress, by agent id."""
        self.idle: dict[str, asyncio.Event] = {}
        """Set when the last run of an agent that is being stopped ends, by agent id."""
        self.pending: dict[str, asyncio.Task[None]] = {}
        """The announcements of created agents not yet initialized, by agent id."""

    def announce(self, agent: BaseAgent, label: str) -> None:
        """Publish ``agent.created`` and run the ``agent_created`` point (in the background:
        ``create`` is synchronous); the agent's initialization waits for both."""
        kernel = self.kernel
        dispatch = kernel.hook.agent_created.active(agent.callbacks)
        if not dispatch and not self.settings.publish:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return

        async def announce() -> None:
            if self.settings.publish:
                await kernel.emit("agent.created", {"agent": agent.name, "agent_id": agent.id, "type": label},
                                  source=f"agent:{agent.name}")
            if dispatch:
                await kernel.hook.agent_created(component=agent, agent=agent, extra=agent.callbacks)

        self.pending[agent.id] = loop.create_task(announce())

    async def initialize(self, agent: BaseAgent, ctx: ExecutionContext | None = None) -> BaseAgent:
        """created/stopped/failed -> initializing -> ready: restore state, acquire resources."""
        pending = self.pending.pop(agent.id, None)
        if pending is not None:
            await pending
        ctx = ctx or await self.kernel.context()
        await move(self.kernel, agent, AgentStatus.INITIALIZING, events=self.settings.publish)
        try:
            await self._init_hooks(agent, ctx)
            await agent.on_initialize(ctx)
        except Exception as exc:
            await move(self.kernel, agent, AgentStatus.FAILED, events=self.settings.publish, error=str(exc))
            if isinstance(exc, AgentInitError):
                raise
            raise AgentInitError(f"agent {agent.name!r} failed to initialize: {type(exc).__name__}: {exc}") from exc
        await move(self.kernel, agent, AgentStatus.READY, events=self.settings.publish)
        return agent

    async def _init_hooks(self, agent: BaseAgent, ctx: ExecutionContext) -> None:
        point = self.kernel.hook.agent_initialize
        if not point.active(agent.callbacks):
            return
        dispatcher = dispatcher_of(self.kernel)  # (without the hooks plugin a raising hook is only logged)
        entries = dispatcher.entries(point.name, agent.callbacks) if dispatcher is not None else []
        before = [e.stats.errors for e in entries]
        await point(ctx=ctx, component=agent, agent=agent, extra=agent.callbacks)
        for entry, count in zip(entries, before, strict=True):
            if entry.stats.errors > count and not entry.observe:
                raise AgentInitError(
                    f"agent {agent.name!r} failed to initialize: hook {entry.name!r} raised {entry.stats.last_error}"
                )

    async def pause(self, agent: BaseAgent) -> None:
        """ready -> paused: new runs are refused until :meth:`resume`."""
        await move(self.kernel, agent, AgentStatus.PAUSED, events=self.settings.publish)

    async def resume(self, agent: BaseAgent) -> None:
        await move(self.kernel, agent, AgentStatus.READY, events=self.settings.publish)

    async def stop(self, agent: BaseAgent, ctx: ExecutionContext | None = None, *, timeout: float = 30.0) -> None:
        """Stop an agent: wait for its runs, snapshot its state, release its resources."""
        events = self.settings.publish
        if agent.status in (AgentStatus.CREATED, AgentStatus.STOPPED):
            if agent.status is AgentStatus.CREATED:
                await move(self.kernel, agent, AgentStatus.STOPPED, events=events)
            return
        await move(self.kernel, agent, AgentStatus.STOPPING, events=events)
        if self.active.get(agent.id):
            idle = self.idle.setdefault(agent.id, asyncio.Event())
            await asyncio.wait_for(idle.wait(), timeout)
        ctx = ctx or await self.kernel.context()
        try:
            await agent.on_shutdown(ctx)
            await self.kernel.hook.agent_shutdown(ctx=ctx, component=agent, agent=agent, extra=agent.callbacks)
        except Exception as exc:
            await move(self.kernel, agent, AgentStatus.FAILED, events=events, error=str(exc))
            raise
        await move(self.kernel, agent, AgentStatus.STOPPED, events=events)

    async def stop_all(self, agents: Iterable[BaseAgent]) -> None:
        """Wait for the announcements, then stop every agent still up (the kernel is
        stopping); errors are logged, not raised."""
        pending, self.pending = list(self.pending.values()), {}
        await asyncio.gather(*pending, return_exceptions=True)
        for agent in agents:
            if agent.status in (AgentStatus.STOPPED, AgentStatus.FAILED, AgentStatus.CREATED):
                continue
            try:
                await self.stop(agent)
            except Exception:
                log.exception("agent %s failed to stop", agent.name)
