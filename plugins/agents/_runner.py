"""Running agents: ``kernel.run`` and its streaming variant.

One run: the context is built and enriched, the agent is initialized if needed, its
limits checked, ``execute`` runs between the ``agent`` hook points (with the agent's
callbacks), then its state delta is applied through the state service, its artifacts
saved through the artifact service, ``transfer_to`` handoffs followed (bounded), the
session touched and temp state dropped. ``agent.run.started`` / ``agent.run.finished``
/ ``agent.run.failed`` and ``agent.handoff`` events record what happened.

``stream`` runs like ``run`` in a task and yields the
:class:`~llmspell.plugins.agents.api.RunEvent` s that the run reports (see
:mod:`.calls`), the last one ``done``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from llmspell.context import ExecutionContext
from llmspell.errors import (
    DeadlineExceeded,
    LimitExceeded,
    LlmspellError,
    NotFoundError,
)
from llmspell.hooks import HookCall
from llmspell.plugins.agents.api import AgentOutput, AgentRequest, AgentStatus, Message, RunEvent
from llmspell.plugins.events.api import AgentEvent, Event, EventService
from llmspell.plugins.hooks.api import dispatcher_of
from llmspell.plugins.runs.api import RunPaused, RunService
from llmspell.plugins.sessions.api import SessionService
from llmspell.plugins.state.api import StateService

from ._calls import reporter
from ._commit import TEMP_OWNER, locate
from ._lifecycle import RunInfo, check, current_run
from ._ran import record

if TYPE_CHECKING:
    from llmspell import Kernel

    from ._commit import Committer
    from ._handoff import Handoffs
    from ._lifecycle import AgentsSettings, Lifecycle, Limits
    from ._roster import Roster
    from .api import BaseAgent

__all__ = ["Runner", "TEMP_OWNER", "locate"]

log = logging.getLogger("llmspell.agents")

def _deadline_message(agent: BaseAgent, per_run: float | None, remaining: float) -> str:
    if per_run is not None and per_run <= remaining + 1e-3:
        return f"agent {agent.name!r} ran past its deadline ({per_run:g} s per run)"
    return f"agent {agent.name!r} ran past the invocation's deadline ({max(remaining, 0):.3g} s were left when it started)"


#: ``ctx.data`` key: the invocation id of the innermost agent execution (inherited by child contexts).
RUN_PARENT = "llmspell.run_parent"


def _tree_fields(agent: BaseAgent, parent: str | None, request: AgentRequest) -> dict[str, Any]:
    """What a run event needs to place the run in its invocation tree (see docs/agents.md)."""
    handoff = request.handoff
    return {"agent_type": agent.type_name, "parent_invocation_id": parent,
            "handoff_from": handoff.source if handoff is not None else None}


def _preview(value: Any, limit: int = 200) -> str:
    text = value if type(value) is str else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Runner:
    """Runs the agents of one service.

    Built with the kernel (contexts, hook points, services, the dispatcher's observers),
    the ``[agents]`` settings, the live agents (:class:`~.roster.Roster`), the
    :class:`~.lifecycle.Lifecycle` (initializing agents, counting their runs), the
    :class:`~.handoff.Handoffs` pipeline, the :class:`~.commit.Committer` of outputs, and
    ``adopt``, which binds an agent built outside the factory to the service and
    returns its limits.
    """

    def __init__(self, kernel: Kernel, settings: AgentsSettings, roster: Roster, lifecycle: Lifecycle,
                 handoffs: Handoffs, committer: Committer, adopt: Callable[[BaseAgent], Limits]) -> None:
        self.kernel = kernel
        self.settings = settings
        self.roster = roster
        self.lifecycle = lifecycle
        self.handoffs = handoffs
        self.committer = committer
        self.adopt = adopt
        self._touched: dict[str, float] = {}
        self._session_users: dict[str, str | None] = {}
        self._recorded: set[tuple[str, str]] = set()
        # the services a turn uses, found once when the kernel has started (see bind); while
        # one is None it is looked up per turn, so that a service registered later is seen
        self._state: StateService | None = None
        self._events: EventService | None = None
        self._sessions: SessionService | None = None
        self._wants: Callable[..., bool] | None = None
        self._runs: RunService | None = None

    def bind(self) -> None:
        """Find the state, event, session and run services once (the kernel has started)."""
        services = self.kernel.services
        self._runs = services.find(RunService)
        self._state = services.find(StateService)
        self._events = services.find(EventService)
        self._sessions = services.find(SessionService)
        self._wants = getattr(self._events, "wants", None)

    def unbind(self) -> None:
        """Forget the services found by :meth:`bind` (the kernel is stopping)."""
        self._state = self._events = self._sessions = self._wants = self._runs = None

    # -- the entry points -----------------------------------------------------------------

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
        run_id: str | None = None,
        **fields: Any,
    ) -> AgentOutput:
        """Run ``agent`` (instance or name) on ``input``; follow its handoffs; return the output.

        With the runs plugin the call is a journaled run (``output.run_id``); ``run_id``
        continues that run from its journal (what ``kernel.resume`` does)."""
        target = self.roster.resolve(agent)
        if session is not None:
            session_id = session if isinstance(session, str) else session.id
            user_id = user_id or getattr(session, "user_id", None)
        if ctx is None:
            if session_id is not None and user_id is None and fields.get("principal") is None:
                user_id = await self._session_user(session_id)  # the run acts for the session's user
            ctx = await self.kernel.context(session_id=session_id, user_id=user_id, timeout=timeout, **fields)
        elif timeout is not None:
            ctx = ctx.with_timeout(timeout)
        top = TEMP_OWNER not in ctx.data  # not already inside a run: this call owns the invocation
        runs = self._runs or self.kernel.services.find(RunService)
        if run_id is not None and (not top or runs is None):
            raise LlmspellError("run_id= continues a run: only a top-level kernel.run with the runs plugin can")
        if not top:
            return await self.chain(target, AgentRequest.of(input), ctx)
        ctx.data[TEMP_OWNER] = ctx.invocation_id
        request = AgentRequest.of(input)
        dispatcher = dispatcher_of(self.kernel)
        # observers (tracing, LLMSPELL_DEBUG) see the whole invocation as one ``run``
        observed = dispatcher.observe("run", HookCall("run", ctx=ctx, component=target, request=request)) \
            if dispatcher is not None and dispatcher.observers else nullcontext()
        with observed:
            try:
                if ctx.session_id is not None:
                    await self._touch(ctx.session_id)
                if runs is None:
                    return await self.chain(target, request, ctx, fresh=True)
                return await runs.execute(
                    target, input, ctx, lambda: self.chain(target, request, ctx, fresh=True), run_id=run_id)
            finally:
                await self._finish(ctx)

    async def stream(self, agent: BaseAgent | str, input: Any, **options: Any) -> AsyncIterator[RunEvent]:
        """Like :meth:`run`, yielding :class:`RunEvent` s as they happen; the last is ``done``."""
        queue: asyncio.Queue[RunEvent] = asyncio.Queue()
        token = reporter.set(queue.put_nowait)
        try:
            task = asyncio.create_task(self.run(agent, input, **options))
        finally:
            reporter.reset(token)
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

    async def _session_user(self, session_id: str) -> str | None:
        """The user a session was created for (None: none, or no such session yet)."""
        if session_id in self._session_users:
            return self._session_users[session_id]
        sessions = self._sessions or self.kernel.services.find(SessionService)
        if sessions is None:
            return None
        try:
            user: str | None = (await sessions.get(session_id)).user_id
        except NotFoundError:
            return None
        if len(self._session_users) >= 4096:
            self._session_users.clear()
        self._session_users[session_id] = user
        return user

    async def _touch(self, session_id: str) -> None:
        """Check that the session is open and record its activity (at most once per
        ``[agents] session_touch_interval`` per session in this process)."""
        sessions = self._sessions or self.kernel.services.find(SessionService)
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
        state = self._state or self.kernel.services.find(StateService)
        if state is not None:
            await state.drop_temp(ctx.invocation_id)

    # -- one chain of handoffs ----------------------------------------------------------------

    async def chain(self, agent: BaseAgent, request: AgentRequest, ctx: ExecutionContext, *,
                    fresh: bool = False) -> AgentOutput:
        """Run ``agent`` and the agents it hands off to. ``fresh``: ``ctx`` was made for this
        call, so the first agent runs in it rather than in a child context."""
        parent = ctx.data.get(RUN_PARENT)  # the agent execution this chain runs inside, if any
        output = await self.run_one(agent, request, ctx, fresh=fresh, parent=parent)
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
            target = self.roster.get(output.transfer_to)
            handoff = await self.handoffs.follow(agent, target, request, output, depth, ctx)
            history = (*request.history, Message.user(request.text), Message.assistant(output.content))
            request = AgentRequest(input=handoff.input, state=handoff.state, history=history, handoff=handoff)
            agent = target
            trail.append(agent.name)
            output = await self.run_one(agent, request, ctx, parent=parent)
        return output.evolve(trail=tuple(trail))

    async def run_child(self, parent: BaseAgent, name: str, input: Any, ctx: ExecutionContext) -> AgentOutput:
        """Run another agent from inside ``parent``'s run (agents calling agents)."""
        target = parent.peers.get(name) or self.roster.get(name)
        return await self.chain(target, AgentRequest.of(input), ctx)

    # -- one agent execution --------------------------------------------------------------------

    async def run_one(self, agent: BaseAgent, request: AgentRequest, ctx: ExecutionContext, *,
                      fresh: bool = False, parent: str | None = None) -> AgentOutput:
        """One execution of one agent: limits, lifecycle, hook points, commit, events.

        ``parent`` is the invocation id of the agent execution this one runs inside (its
        place in the run tree; None at the top of a run).
        """
        kernel = self.kernel
        status = agent.status
        if status is not AgentStatus.READY and status is not AgentStatus.RUNNING:
            if status in (AgentStatus.CREATED, AgentStatus.STOPPED, AgentStatus.FAILED):
                await self.lifecycle.initialize(agent, ctx)
            check(agent, AgentStatus.RUNNING)  # paused, stopping: a clear InvalidTransition
        limits = self.roster.limits.get(agent.id) or self.adopt(agent)
        lifecycle = self.lifecycle
        active = lifecycle.active.get(agent.id, 0)
        if active >= limits.max_concurrent_runs:
            raise LimitExceeded(
                f"agent {agent.name!r} already has {active} runs in progress, its limit "
                f"(max_concurrent_runs = {limits.max_concurrent_runs}); wait or raise the limit"
            )
        # ready <-> running moves are reported by the agent.run.* events, not agent.<status>
        agent.status = AgentStatus.RUNNING
        lifecycle.active[agent.id] = active + 1
        tree = _tree_fields(agent, parent, request)
        run_ctx = ctx if fresh else ctx.child()
        if limits.deadline is not None:
            run_ctx = run_ctx.with_timeout(limits.deadline)
        run_ctx.data[RUN_PARENT] = run_ctx.invocation_id  # what agents started inside this one see
        if ctx.session_id is not None and (ctx.session_id, agent.name) not in self._recorded:
            if len(self._recorded) >= 4096:
                self._recorded.clear()
            self._recorded.add((ctx.session_id, agent.name))
            await record(kernel, agent, ctx.session_id)  # so that a later process can resume it
        token = current_run.set(RunInfo(agent, limits))
        events = self.settings.publish and (self._events or kernel.services.find(EventService)) is not None
        # the delta's state.changed events wait here and are logged with agent.run.finished
        # (or .failed) in one append: one transaction on the event log instead of two
        outbox: list[Event] | None = [] if events else None
        report = reporter.get()
        started = time.perf_counter()
        try:
            if events and self.settings.verbose and self._wanted("agent.run.started", ctx):
                await self._emit("agent.run.started", agent, ctx, invocation_id=run_ctx.invocation_id,
                                 input=_preview(request.input), **tree)
            if report is not None:
                report(RunEvent("started", agent.name, request.input))
            agent.validate_input(request)
            call = HookCall("agent", ctx=run_ctx, component=agent, request=request)
            result = await kernel.hook.around("agent", call, self._execute, extra=agent.callbacks)
            output = await self.committer.commit(agent, result, run_ctx, outbox)
        except RunPaused:  # not a failure: the run waits for a person (its journal records the pause)
            if outbox:
                await self._publish(outbox)
            raise
        except BaseException as exc:
            if events and self._wanted("agent.run.failed", ctx):
                await self._emit("agent.run.failed", agent, ctx, outbox, invocation_id=run_ctx.invocation_id,
                                 input=_preview(request.input), error=f"{type(exc).__name__}: {exc}",
                                 elapsed_ms=round((time.perf_counter() - started) * 1000, 3), **tree)
            elif outbox:
                await self._publish(outbox)
            if report is not None:
                report(RunEvent("error", agent.name, f"{type(exc).__name__}: {exc}"))
            raise
        finally:
            current_run.reset(token)
            left = lifecycle.active[agent.id] - 1
            lifecycle.active[agent.id] = left
            if not left:
                if agent.status is AgentStatus.RUNNING:
                    agent.status = AgentStatus.READY
                idle = lifecycle.idle.pop(agent.id, None)
                if idle is not None:
                    idle.set()
        if events and self._wanted("agent.run.finished", ctx):
            await self._emit("agent.run.finished", agent, ctx, outbox, invocation_id=run_ctx.invocation_id,
                             input=_preview(request.input), output=_preview(output.content),
                             elapsed_ms=round((time.perf_counter() - started) * 1000, 3), transfer_to=output.transfer_to,
                             state_keys=sorted(output.state_delta) if output.state_delta else [],
                             saved=[str(r) for r in output.saved] if output.saved else [], **tree)
        elif outbox:
            await self._publish(outbox)
        if report is not None:
            report(RunEvent("finished", agent.name, output))
        return output

    def _wanted(self, type_: str, ctx: ExecutionContext) -> bool:
        """Whether a run event could reach anything (see ``EventBus.wants``); building one
        that nobody can receive (no session log, no subscriber) is skipped."""
        wants = self._wants or getattr(self.kernel.services.find(EventService), "wants", None)
        return wants is None or bool(wants(type_, session_id=ctx.session_id))

    async def _emit(self, type_: str, agent: BaseAgent, ctx: ExecutionContext, before: list[Event] | None = None,
                    **payload: Any) -> None:
        """Publish a run event (after the events ``before`` it, in one append); a failing
        event service is logged, never fails the run."""
        events = self._events or self.kernel.services.find(EventService)
        if events is None:
            return
        payload["agent"] = agent.name
        try:
            if before:
                event = AgentEvent(type_, payload, session_id=ctx.session_id, user_id=ctx.user_id,
                                   correlation_id=ctx.trace_id, source=f"agent:{agent.name}",
                                   stream=ctx.session_id)  # a session's event is logged in its stream
                await events.publish_many([*before, event])
            else:
                await events.publish(type_, payload, session_id=ctx.session_id, user_id=ctx.user_id,
                                     correlation_id=ctx.trace_id, source=f"agent:{agent.name}")
        except Exception:
            log.exception("could not publish %s", type_)

    async def _publish(self, outbox: list[Event]) -> None:
        """Publish the events a commit left in ``outbox`` (no run event goes with them)."""
        events = self._events or self.kernel.services.find(EventService)
        if events is None:
            return
        try:
            await events.publish_many(outbox)
        except Exception:
            log.exception("could not publish %d state.changed events", len(outbox))

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
                        _deadline_message(agent, self.roster.limits[agent.id].deadline, remaining)
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
