"""Running agents: ``kernel.run`` and its streaming variant, model and tool calls.

One run: the context is built and enriched, the agent is initialized if needed, its
limits checked, ``execute`` runs between the ``agent`` hook points (with the agent's
callbacks), then its state delta is applied through the state service, its artifacts
saved through the artifact service, ``transfer_to`` handoffs followed (bounded), the
session touched and temp state dropped. ``agent.run.started`` / ``agent.run.finished``
/ ``agent.run.failed`` and ``agent.handoff`` events record what happened.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any

from llmspell.agents import (
    DELETE,
    AgentOutput,
    AgentRequest,
    AgentStatus,
    Message,
    ModelRequest,
    ModelResponse,
    RunEvent,
    ToolSpec,
)
from llmspell.artifacts import ArtifactService
from llmspell.context import ExecutionContext
from llmspell.errors import (
    DeadlineExceeded,
    LimitExceeded,
    LlmspellError,
    ServiceNotAvailable,
    UnknownNameError,
    ValidationError,
)
from llmspell.events import EventService
from llmspell.hooks import HookCall
from llmspell.sessions import SessionService
from llmspell.state import StateService

from .lifecycle import RunInfo, check, current_run
from .schema import validate_arguments

if TYPE_CHECKING:
    from .base import BaseAgent

__all__ = ["Runner", "TEMP_OWNER", "locate"]

log = logging.getLogger("llmspell.agents")

TEMP_OWNER = "llmspell.temp_owner"
DEFER = "llmspell.deferred_deltas"
_reporter: contextvars.ContextVar[Callable[[RunEvent], None] | None] = contextvars.ContextVar(
    "llmspell_reporter", default=None
)
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


def _preview(value: Any, limit: int = 200) -> str:
    text = value if type(value) is str else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _with_agent(o: AgentOutput, name: str) -> AgentOutput:
    """``o.evolve(agent=name)``, three times faster (every field passed, no factories run)."""
    return AgentOutput(o.content, o.data, o.state_delta, o.artifacts, o.transfer_to, o.handoff_state, o.metadata,
                       name, o.saved, o.trail)


class Runner:
    """The running half of :class:`~.service.AgentManager`."""

    kernel: Any
    settings: Any
    handoffs: Any
    _active: dict[str, int]
    _limits: dict[str, Any]
    _idle: dict[str, asyncio.Event]
    _touched: dict[str, float]

    if TYPE_CHECKING:  # provided by AgentManager

        def resolve(self, agent: BaseAgent | str) -> BaseAgent: ...

        def get(self, name: str) -> BaseAgent: ...

        def adopt(self, agent: BaseAgent) -> Any: ...

        def provider(self, name: str | None = None) -> Any: ...

        async def initialize(self, agent: BaseAgent | str, ctx: ExecutionContext | None = None) -> BaseAgent: ...

    # -- the entry point ------------------------------------------------------------------

    async def run(
        self,
        agent: BaseAgent | str,
        input: Any,
        *,
        session: Any = None,
        session_id: str | None = None,
        user_id: str | None = None,
        ctx: ExecutionContext | None = None,
        timeout: float | None = None,
        **fields: Any,
    ) -> AgentOutput:
        """Run ``agent`` (instance or name) on ``input``; follow its handoffs; return the output."""
        target = self.resolve(agent)
        if session is not None:
            session_id = session if isinstance(session, str) else session.id
            user_id = user_id or getattr(session, "user_id", None)
        if ctx is None:
            ctx = await self.kernel.context(session_id=session_id, user_id=user_id, timeout=timeout, **fields)
        elif timeout is not None:
            ctx = ctx.with_timeout(timeout)
        top = TEMP_OWNER not in ctx.data  # not already inside a run: this call owns the invocation
        if top:
            ctx.data[TEMP_OWNER] = ctx.invocation_id
        if top and ctx.session_id is not None:
            await self._touch(ctx.session_id)
        try:
            return await self.chain(target, AgentRequest.of(input), ctx, fresh=top)
        finally:
            if top:
                await self._finish(ctx)

    async def _touch(self, session_id: str) -> None:
        """Check that the session is open and record its activity (at most once per
        ``[agents] session_touch_interval`` per session in this process)."""
        sessions = self.kernel.services.find(SessionService)
        touch = getattr(sessions, "touch", None)
        if touch is None:
            return
        now = time.monotonic()
        last = self._touched.get(session_id)
        if last is not None and now - last < self.settings.session_touch_interval:
            return
        await touch(session_id)
        if len(self._touched) >= 4096:
            self._touched.clear()
        self._touched[session_id] = now

    async def _finish(self, ctx: ExecutionContext) -> None:
        state = self.kernel.services.find(StateService)
        if state is not None:
            await state.drop_temp(ctx.invocation_id)

    async def stream(self, agent: BaseAgent | str, input: Any, **options: Any) -> AsyncIterator[RunEvent]:
        """Like :meth:`run`, yielding :class:`RunEvent` s as they happen; the last is ``done``."""
        queue: asyncio.Queue[RunEvent] = asyncio.Queue()
        token = _reporter.set(queue.put_nowait)
        try:
            task = asyncio.create_task(self.run(agent, input, **options))
        finally:
            _reporter.reset(token)
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    yield getter.result()
                    continue
                getter.cancel()
                while not queue.empty():
                    yield queue.get_nowait()
                output = task.result()
                yield RunEvent("done", output.agent or "", output)
                return
        finally:
            if not task.done():
                task.cancel()

    def report(self, kind: str, agent: str, data: Any = None) -> None:
        fn = _reporter.get()
        if fn is not None:
            fn(RunEvent(kind, agent, data))

    # -- one chain of handoffs ----------------------------------------------------------------

    async def chain(self, agent: BaseAgent, request: AgentRequest, ctx: ExecutionContext, *,
                    fresh: bool = False) -> AgentOutput:
        """Run ``agent`` and the agents it hands off to. ``fresh``: ``ctx`` was made for this
        call, so the first agent runs in it rather than in a child context."""
        output = await self.run_one(agent, request, ctx, fresh=fresh)
        if not output.transfer_to:
            return output
        trail = [agent.name]
        depth = 0
        while output.transfer_to:
            depth += 1
            if depth > self.settings.max_handoff_depth:
                raise LimitExceeded(
                    f"handoff chain {' -> '.join(trail)} -> {output.transfer_to} is longer than "
                    f"[agents] max_handoff_depth = {self.settings.max_handoff_depth}"
                )
            target = self.get(output.transfer_to)
            handoff = await self.handoffs.follow(agent, target, request, output, depth, ctx)
            history = (*request.history, Message.user(request.text), Message.assistant(output.content))
            request = AgentRequest(input=handoff.input, state=handoff.state, history=history, handoff=handoff)
            agent = target
            trail.append(agent.name)
            output = await self.run_one(agent, request, ctx)
        return output.evolve(trail=tuple(trail))

    async def run_child(self, parent: BaseAgent, name: str, input: Any, ctx: ExecutionContext) -> AgentOutput:
        """Run another agent from inside ``parent``'s run (agents calling agents)."""
        target = parent.peers.get(name) or self.get(name)
        return await self.chain(target, AgentRequest.of(input), ctx)

    # -- one agent execution --------------------------------------------------------------------

    async def run_one(self, agent: BaseAgent, request: AgentRequest, ctx: ExecutionContext, *,
                      fresh: bool = False) -> AgentOutput:
        """One execution of one agent: limits, lifecycle, hook points, commit, events."""
        kernel = self.kernel
        status = agent.status
        if status is not AgentStatus.READY and status is not AgentStatus.RUNNING:
            if status in (AgentStatus.CREATED, AgentStatus.STOPPED, AgentStatus.FAILED):
                await self.initialize(agent, ctx)
            check(agent, AgentStatus.RUNNING)  # paused, stopping: a clear InvalidTransition
        limits = self._limits.get(agent.id) or self.adopt(agent)
        active = self._active.get(agent.id, 0)
        if active >= limits.max_concurrent_runs:
            raise LimitExceeded(
                f"agent {agent.name!r} already has {active} runs in progress, its limit "
                f"(max_concurrent_runs = {limits.max_concurrent_runs}); wait or raise the limit"
            )
        # ready <-> running moves are reported by the agent.run.* events, not agent.<status>
        agent.status = AgentStatus.RUNNING
        self._active[agent.id] = active + 1
        run_ctx = ctx if fresh else ctx.child()
        if limits.deadline is not None:
            run_ctx = run_ctx.with_timeout(limits.deadline)
        token = current_run.set(RunInfo(agent, limits))
        events = self.settings.publish and kernel.services.find(EventService) is not None
        report = _reporter.get()
        started = time.perf_counter()
        try:
            if events and self.settings.verbose:
                await self._emit("agent.run.started", agent, ctx, invocation_id=run_ctx.invocation_id,
                                 input=_preview(request.input))
            if report is not None:
                report(RunEvent("started", agent.name, request.input))
            agent.validate_input(request)
            call = HookCall("agent", ctx=run_ctx, component=agent, request=request)
            result = await kernel.dispatcher.around("agent", call, self._execute, extra=agent.callbacks)
            output = await self._commit(agent, result, run_ctx)
        except BaseException as exc:
            if events:
                await self._emit("agent.run.failed", agent, ctx, invocation_id=run_ctx.invocation_id,
                                 input=_preview(request.input), error=f"{type(exc).__name__}: {exc}",
                                 elapsed_ms=round((time.perf_counter() - started) * 1000, 3))
            if report is not None:
                report(RunEvent("error", agent.name, f"{type(exc).__name__}: {exc}"))
            raise
        finally:
            current_run.reset(token)
            left = self._active[agent.id] - 1
            self._active[agent.id] = left
            if not left:
                if agent.status is AgentStatus.RUNNING:
                    agent.status = AgentStatus.READY
                idle = self._idle.pop(agent.id, None)
                if idle is not None:
                    idle.set()
        if events:
            await self._emit("agent.run.finished", agent, ctx, invocation_id=run_ctx.invocation_id,
                             input=_preview(request.input), output=_preview(output.content),
                             elapsed_ms=round((time.perf_counter() - started) * 1000, 3), transfer_to=output.transfer_to,
                             state_keys=sorted(output.state_delta) if output.state_delta else [],
                             saved=[str(r) for r in output.saved] if output.saved else [])
        if report is not None:
            report(RunEvent("finished", agent.name, output))
        return output

    async def _emit(self, type_: str, agent: BaseAgent, ctx: ExecutionContext, **payload: Any) -> None:
        """Publish a run event; a failing event service is logged, never fails the run."""
        events = self.kernel.services.find(EventService)
        if events is None:
            return
        payload["agent"] = agent.name
        try:
            await events.publish(type_, payload, session_id=ctx.session_id, user_id=ctx.user_id,
                                 correlation_id=ctx.trace_id, source=f"agent:{agent.name}")
        except Exception:
            log.exception("could not publish %s", type_)

    async def _execute(self, call: HookCall) -> AgentOutput:
        agent: BaseAgent = call.component
        ctx: ExecutionContext = call.ctx  # type: ignore[assignment]
        request = call.request
        remaining = ctx.remaining()
        try:
            if remaining is None:
                return await agent.execute(request, ctx)
            try:
                async with asyncio.timeout(remaining) as scope:
                    return await agent.execute(request, ctx)
            except TimeoutError:
                if scope.expired():
                    raise DeadlineExceeded(
                        f"agent {agent.name!r} ran past its deadline ({self._limits[agent.id].deadline} s per run)"
                    ) from None
                raise
        except LlmspellError as exc:
            if isinstance(exc, DeadlineExceeded | LimitExceeded):
                raise
            recovered = await agent.handle_error(exc, request, ctx)
            if recovered is None:
                raise
            return recovered
        except Exception as exc:
            recovered = await agent.handle_error(exc, request, ctx)
            if recovered is None:
                raise
            return recovered

    async def _commit(self, agent: BaseAgent, result: Any, ctx: ExecutionContext) -> AgentOutput:
        output = result if isinstance(result, AgentOutput) else AgentOutput(content="" if result is None else str(result))
        changes: dict[str, Any] = {}
        if output.agent is None:
            changes["agent"] = agent.name
        if output.state_delta:
            deferred = ctx.data.get(DEFER)
            if deferred is not None:  # inside a parallel branch: merged when all branches end
                deferred.append((agent, dict(output.state_delta), ctx))
            else:
                await self.apply_delta(agent, output.state_delta, ctx)
        if output.artifacts:
            changes["saved"] = await self.save_artifacts(agent, output, ctx)
        if not changes:
            return output
        if len(changes) == 1 and "agent" in changes:
            return _with_agent(output, agent.name)
        return output.evolve(**changes)

    async def apply_delta(self, agent: BaseAgent, delta: Mapping[str, Any], ctx: ExecutionContext,
                          handles: dict[tuple[str, str | None], Any] | None = None) -> None:
        """Write a state delta through the state service (its scopes and conflict policies)."""
        state = self.kernel.services.find(StateService)
        if state is None:
            raise ServiceNotAvailable("StateService", f"agent {agent.name!r} returned a state delta")
        handles = {} if handles is None else handles
        for key, value in delta.items():
            scope, owner, name = locate(key, ctx, agent)
            handle = handles.get((scope, owner))
            if handle is None:
                handle = handles[(scope, owner)] = state.scope(scope, owner)
            if value is DELETE:
                await handle.delete(name)
            else:
                await handle.set(name, value)

    async def save_artifacts(self, agent: BaseAgent, output: AgentOutput, ctx: ExecutionContext) -> tuple[Any, ...]:
        artifacts = self.kernel.services.find(ArtifactService)
        if artifacts is None:
            raise ServiceNotAvailable("ArtifactService", f"agent {agent.name!r} produced artifacts")
        refs = []
        for item in output.artifacts:
            refs.append(await artifacts.save(
                item.name, item.data, content_type=item.content_type, tags=item.tags,
                metadata={"agent": agent.name, **item.metadata}, ctx=ctx,
            ))
        return tuple(refs)

    # -- model and tool calls --------------------------------------------------------------------

    async def call_model(self, agent: BaseAgent, messages: tuple[Message, ...], ctx: ExecutionContext,
                         *, tools: tuple[ToolSpec, ...] | None = None, **options: Any) -> ModelResponse:
        provider = agent.provider or self.provider(agent.config.provider)
        request = ModelRequest(messages, agent.tool_specs() if tools is None else tools, model=agent.config.model,
                               options=options)
        call = HookCall("model", ctx=ctx, component=provider, request=request, args={"agent": agent})
        streaming = _reporter.get() is not None

        async def complete(call: HookCall) -> ModelResponse:
            if not streaming:
                return await provider.complete(call.request, ctx)
            response = None
            async for chunk in provider.stream(call.request, ctx):
                if chunk.delta:
                    self.report("delta", agent.name, chunk.delta)
                if chunk.response is not None:
                    response = chunk.response
            if response is None:
                raise LlmspellError(f"model provider {provider.name!r} ended its stream without a response")
            return response

        response: ModelResponse = await self.kernel.dispatcher.around("model", call, complete, extra=agent.callbacks)
        return response

    async def call_tool(self, agent: BaseAgent, name: str, arguments: dict[str, Any], ctx: ExecutionContext) -> Any:
        tool = agent.tools.get(name)
        if tool is None:
            raise UnknownNameError(f"tool of agent {agent.name!r}", name, agent.tools)
        info = current_run.get()
        if info is not None and info.agent is agent:
            info.count_tool_call(name)
        return await self.invoke_tool(tool, arguments, ctx, agent=agent)

    async def invoke_tool(self, tool: Any, arguments: dict[str, Any], ctx: ExecutionContext,
                          *, agent: BaseAgent | None = None) -> Any:
        """Validate ``arguments`` against the tool's schema and run it through the ``tool`` points."""
        validate_arguments(tool.name, tool.parameters, arguments)
        who = agent.name if agent is not None else tool.name
        self.report("tool_call", who, {"tool": tool.name, "arguments": arguments})
        if self.settings.verbose:
            await self.kernel.emit("agent.tool.called", {"agent": who, "tool": tool.name, "arguments": arguments},
                                   session_id=ctx.session_id, user_id=ctx.user_id, correlation_id=ctx.trace_id,
                                   source=f"agent:{who}")
        call = HookCall("tool", ctx=ctx, component=tool, request=arguments, args={"agent": agent})
        result = await self.kernel.dispatcher.around(
            "tool", call, lambda c: tool.invoke(c.request, ctx), extra=agent.callbacks if agent else None
        )
        self.report("tool_result", who, {"tool": tool.name, "result": result})
        return result
