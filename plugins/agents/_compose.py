"""Composition: ``sequential``, ``parallel``, ``loop`` and ``router`` agents.

Each names its children in ``config.agents`` (live agents, injected by the factory).
Every child runs through the service (its own lifecycle, limits, hook points, events
and handoffs).

**Parallel** runs its children concurrently. Their state deltas are not applied as each
finishes: when all are done, each branch's keys are read (so every branch is based on
the same versions), then the branches' deltas are written in the declared order through
the state service, whose per-key conflict policy decides: ``last_write_wins`` keeps the
last branch's value, ``merge:<reducer>`` combines all of them, ``reject`` fails the
second writer of a key with a :class:`~llmspell.errors.ConflictError`.
"""

from __future__ import annotations

import importlib
import re
from typing import Any, ClassVar

import attrs

from llmspell.context import ExecutionContext
from llmspell.errors import LimitExceeded, ValidationError
from llmspell.plugins.agents.api import AgentOutput, AgentRequest
from llmspell.plugins.runs.api import gather
from llmspell.plugins.state.api import StateService

from ._commit import DEFER, locate
from .api import AgentConfig, BaseAgent

__all__ = ["Sequential", "Parallel", "Loop", "Router", "DEFER", "CompositeConfig", "LoopConfig", "RouterConfig"]


@attrs.frozen
class CompositeConfig(AgentConfig):
    """Settings of sequential and parallel agents."""

    pass_output: bool = True
    """Sequential: each child gets the previous child's output as input."""


@attrs.define(eq=False, kw_only=True)
class Composite(BaseAgent):
    default_capabilities: ClassVar[tuple[str, ...]] = ("composite",)

    def children(self) -> list[BaseAgent]:
        if not self.peers:
            raise ValidationError(f"{self.type_name} agent {self.name!r} has no children: list them in config.agents")
        return [self.peers[n] for n in self.config.agents]

    async def child(self, agent: BaseAgent, request: AgentRequest, ctx: ExecutionContext) -> AgentOutput:
        return await self._manager().chain(agent, request, ctx)


@attrs.define(eq=False, kw_only=True)
class Sequential(Composite):
    """Runs its children one after another, each on the previous one's output."""

    Config: ClassVar[type[AgentConfig]] = CompositeConfig
    type_name: ClassVar[str] = "sequential"
    config: CompositeConfig = attrs.field(factory=CompositeConfig)

    async def execute(self, request: AgentRequest, ctx: ExecutionContext) -> AgentOutput:
        outputs: list[AgentOutput] = []
        current = request
        for agent in self.children():
            output = await self.child(agent, current, ctx)
            outputs.append(output)
            if self.config.pass_output:
                current = AgentRequest(output.content, state=dict(request.state), history=request.history)
        last = outputs[-1]
        steps = [{"agent": o.agent, "content": o.content} for o in outputs]
        saved = tuple(r for o in outputs for r in o.saved)
        return AgentOutput(content=last.content, data={"steps": steps, "last": last.data}, metadata={"saved": saved},
                           transfer_to=last.transfer_to, handoff_state=last.handoff_state)


@attrs.define(eq=False, kw_only=True)
class Parallel(Composite):
    """Runs its children concurrently on the same input and merges their state deltas."""

    Config: ClassVar[type[AgentConfig]] = CompositeConfig
    type_name: ClassVar[str] = "parallel"
    config: CompositeConfig = attrs.field(factory=CompositeConfig)

    async def execute(self, request: AgentRequest, ctx: ExecutionContext) -> AgentOutput:
        agents = self.children()
        branches: list[list[tuple[BaseAgent, dict[str, Any], ExecutionContext]]] = [[] for _ in agents]
        # a failing branch cancels the others, its own error raised; a branch that pauses for a
        # person lets the others finish (or pause), then the run pauses for all of them
        outputs = await gather(*(self.child(a, request, ctx.child(data={DEFER: b}))
                                 for a, b in zip(agents, branches, strict=True)))
        await self.merge(branches)
        return AgentOutput(
            content="\n".join(f"[{o.agent}] {o.content}" for o in outputs),
            data={"branches": {o.agent: o.content for o in outputs}, "merged_keys": sorted(
                {k for b in branches for _, d, _ in b for k in d})},
        )

    async def merge(self, branches: list[list[tuple[BaseAgent, dict[str, Any], ExecutionContext]]]) -> None:
        if not any(branches):
            return
        state = self._manager().kernel.service(StateService)
        plans = []
        for branch in branches:  # every branch reads first: all are based on the same versions
            handles: dict[tuple[str, str | None], Any] = {}
            for agent, delta, ctx in branch:
                for key in delta:
                    scope, owner, name = locate(key, ctx, agent)
                    handle = handles.setdefault((scope, owner), state.scope(scope, owner))
                    await handle.get_versioned(name)
            plans.append(handles)
        manager = self._manager()
        for branch, handles in zip(branches, plans, strict=True):
            for agent, delta, ctx in branch:  # each delta all or nothing
                await manager.apply_delta(agent, delta, ctx, handles)


@attrs.frozen
class LoopConfig(AgentConfig):
    """Settings of a loop agent."""

    max_iterations: int = 5
    """Runs of the body at most."""
    until: str | None = None
    """Stop when the output content matches this regular expression."""
    until_state: str | None = None
    """Stop when this state key (``scope:key``) holds a truthy value."""
    condition: str | None = None
    """Stop when ``module:function(output, iteration)`` returns true."""
    feed_output: bool = True
    """Give each iteration the previous output as its input (else the original input)."""
    fail_at_limit: bool = False
    """Raise LimitExceeded when ``max_iterations`` pass without the condition holding."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.max_iterations < 1:
            raise ValueError(f"max_iterations must be at least 1, got {self.max_iterations}")
        if self.until is not None:
            re.compile(self.until)


@attrs.define(eq=False, kw_only=True)
class Loop(Composite):
    """Runs its child repeatedly until a condition holds or ``max_iterations`` pass."""

    Config: ClassVar[type[AgentConfig]] = LoopConfig
    type_name: ClassVar[str] = "loop"
    config: LoopConfig = attrs.field(factory=LoopConfig)

    async def done(self, output: AgentOutput, iteration: int, ctx: ExecutionContext) -> bool:
        cfg = self.config
        if cfg.until is not None and re.search(cfg.until, output.content):
            return True
        if cfg.until_state is not None:
            scope, owner, key = locate(cfg.until_state, ctx, self)
            if await ctx.service(StateService).scope(scope, owner).get(key):
                return True
        if cfg.condition is not None:
            module, _, attr = cfg.condition.partition(":")
            if getattr(importlib.import_module(module), attr)(output, iteration):
                return True
        return False

    async def execute(self, request: AgentRequest, ctx: ExecutionContext) -> AgentOutput:
        agent = self.children()[0]
        current = request
        output = AgentOutput()
        for iteration in range(1, self.config.max_iterations + 1):
            output = await self.child(agent, current, ctx)
            if await self.done(output, iteration, ctx):
                return output.evolve(metadata={**output.metadata, "iterations": iteration, "stopped": "condition"})
            if self.config.feed_output:
                current = AgentRequest(output.content, state=dict(request.state), history=request.history)
        if self.config.fail_at_limit:
            raise LimitExceeded(f"loop {self.name!r}: condition not met in {self.config.max_iterations} iterations")
        return output.evolve(metadata={**output.metadata, "iterations": self.config.max_iterations, "stopped": "limit"})


@attrs.frozen
class RouterConfig(AgentConfig):
    """Settings of a router: rules first, then the chooser agent, then the default."""

    routes: dict[str, str] = attrs.Factory(dict)
    """Regular expression on the input -> agent name (first match wins, in order)."""
    chooser: str | None = None
    """An agent asked to name the route; its answer must contain one of ``agents``."""
    default: str | None = None
    """The agent used when no rule matches and the chooser names none."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for pattern in self.routes:
            re.compile(pattern)


@attrs.define(eq=False, kw_only=True)
class Router(Composite):
    """Sends the input to one agent: by rule, by a chooser agent's answer, or the default."""

    Config: ClassVar[type[AgentConfig]] = RouterConfig
    type_name: ClassVar[str] = "router"
    config: RouterConfig = attrs.field(factory=RouterConfig)

    async def choose(self, request: AgentRequest, ctx: ExecutionContext) -> tuple[str, str]:
        cfg = self.config
        for pattern, target in cfg.routes.items():
            if re.search(pattern, request.text, re.I):
                return target, f"rule {pattern!r}"
        if cfg.chooser is not None:
            options = [n for n in cfg.agents if n != cfg.chooser]
            question = f"Choose one of: {', '.join(options)}. Request: {request.text}"
            answer = await self._manager().chain(self._manager().get(cfg.chooser), AgentRequest(question), ctx)
            for name in sorted(options, key=len, reverse=True):
                if re.search(rf"\b{re.escape(name)}\b", answer.content, re.I):
                    return name, f"chosen by {cfg.chooser}"
        if cfg.default is not None:
            return cfg.default, "default"
        raise ValidationError(f"router {self.name!r} found no route for {request.text[:80]!r} and has no default")

    async def execute(self, request: AgentRequest, ctx: ExecutionContext) -> AgentOutput:
        name, why = await self.choose(request, ctx)
        self.report("route", {"to": name, "why": why})
        output = await self.child(self._manager().get(name), request, ctx)
        return output.evolve(metadata={**output.metadata, "route": name, "route_reason": why})
