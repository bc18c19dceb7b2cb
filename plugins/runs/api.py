"""What users and other plugins use of the runs plugin: durable runs that wait for people.

Every ``kernel.run`` is a *run* with an id. Each model call, tool call and question it
makes is written to the run's *journal* (the event log stream ``run:<id>``) as it happens:
a tool's intent before its body runs, its result after. A run can *pause*: a tool declared
``needs_approval`` or a question (``await ctx.ask(...)``) leaves a :class:`PendingItem`, the
pause is committed, and ``kernel.run`` returns ``status="paused"``. ``kernel.resume`` (in
this process or any other on the same backend) records the decisions and runs the agent
again from the top: every journaled call returns its recorded result, so a finished step
never runs twice. See ``docs/runs.md``.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import datetime
from typing import Any, Protocol, TypeVar

import attrs

from llmspell.errors import LlmspellError

__all__ = [
    "STREAM_PREFIX", "STATUSES", "PendingItem", "RunRecord", "RunPaused", "ReplayMismatch", "RunService",
    "RunsConfig", "gather", "stream_of",
]

#: A run's journal is the event stream ``run:<run id>``.
STREAM_PREFIX = "run:"
#: What ``RunRecord.status`` can be: ``interrupted`` is a run whose process ended mid-run
#: (known for processes of this host; one on another host shows as ``running``).
STATUSES = ("running", "paused", "interrupted", "completed", "failed")


def stream_of(run_id: str) -> str:
    """The journal stream of run ``run_id``."""
    return STREAM_PREFIX + run_id


@attrs.frozen
class RunsConfig:
    """The ``[runs]`` section."""

    journal: bool = True
    """Journal every run (false: runs are not durable, and tools that need approval fail)."""
    approval_timeout: str = "3d"
    """How long approvals and questions wait: ``"90s"``, ``"15m"``, ``"12h"``, ``"3d"``."""
    on_timeout: str = attrs.field(default="reject", validator=attrs.validators.in_(("reject", "approve", "fail")))
    """What an expired item becomes when the run is resumed: ``reject``, ``approve`` or ``fail`` (the run)."""


@attrs.frozen
class PendingItem:
    """One thing a paused run waits for: an approval, an answer, or a decision on a call in doubt."""

    id: str
    """``p1``, ``q1``, ``d1`` ...: what ``kernel.resume(run_id, {id: decision})`` names."""
    kind: str
    """``approval``, ``question`` or ``in_doubt``."""
    path: str
    """The agent that made the call (``outer/inner`` for nested agents)."""
    tool: str | None = None
    args: dict[str, Any] | None = None
    question: str | None = None
    schema: dict[str, Any] | None = None
    """For a question: the JSON Schema its answer must match, if any."""
    expires_at: datetime | None = None
    step: str = ""
    """The journal key of the call it belongs to (internal: binds the decision to that call)."""


@attrs.frozen
class RunRecord:
    """A run as ``kernel.runs.list`` and ``kernel.runs.get`` show it."""

    id: str
    status: str
    agent: str
    session_id: str | None = None
    user_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    pending: tuple[PendingItem, ...] = ()
    error: str | None = None


class RunPaused(BaseException):  # noqa: N818 - not an error: a run stopping to wait for a person
    """Raised inside a run when it pauses, after the pause is committed; the run's caller
    (``kernel.run``) turns it into an output with ``status="paused"``. A ``BaseException``,
    so that an agent's ``except Exception`` does not swallow it; do not catch it."""

    def __init__(self, run_id: str, items: tuple[PendingItem, ...]) -> None:
        self.run_id = run_id
        self.items = items
        super().__init__(f"run {run_id} paused for {', '.join(i.id for i in items)}")


T = TypeVar("T")


async def gather(*branches: Coroutine[Any, Any, T]) -> list[T]:
    """Run ``branches`` concurrently (parallel tool calls, parallel agents) and return their
    results in order. A branch that pauses lets the others finish or pause too; then the
    run pauses once, for every branch's items. Any other error cancels the other branches
    and is raised (the first one)."""
    paused: list[RunPaused] = []

    async def branch(coro: Coroutine[Any, Any, T]) -> T | None:
        try:
            return await coro
        except RunPaused as pause:
            paused.append(pause)
            return None

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(branch(c)) for c in branches]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    if paused:
        raise RunPaused(paused[0].run_id, tuple(i for p in paused for i in p.items))
    return [t.result() for t in tasks]  # type: ignore[misc]


class ReplayMismatch(LlmspellError):
    """On resume, the agent made a call other than the one its journal recorded at that point;
    nothing was executed. Agent code must make the same calls given the same results."""


class RunService(Protocol):
    """``kernel.runs``: list, inspect and resume runs; what agents and tools use to journal."""

    async def list(
        self, *, status: str | None = None, user_id: str | None = None, session_id: str | None = None,
        limit: int = 100,
    ) -> builtins.list[RunRecord]:
        """Runs, newest first, filtered by status, user and session."""
        ...

    async def get(self, run_id: str) -> RunRecord:
        """One run; :class:`~llmspell.errors.NotFoundError` when there is none."""
        ...

    async def history(self, run_id: str) -> builtins.list[dict[str, Any]]:
        """Every journal entry of the run in order: ``seq``, ``type``, ``time``, ``by`` and its data."""
        ...

    async def decide(self, run_id: str, decisions: Mapping[str, Any], *, by: str | None = None) -> RunRecord:
        """Record ``decisions`` without running anything (a later :meth:`resume` acts on them)."""
        ...

    async def resume(
        self, run_id: str, decisions: Mapping[str, Any] | None = None, *, agent: Any = None,
        by: str | None = None,
    ) -> Any:
        """Record ``decisions`` (pending item id -> Approve, Edit, Reject, Answer, Retry) and
        run the agent again from its journal; returns its ``AgentOutput``."""
        ...

    async def ask(
        self, ctx: Any, question: str, *, schema: Mapping[str, Any] | None = None,
    ) -> Any:
        """``await ctx.ask(...)``: the recorded answer, else pause the run for one."""
        ...

    def active(self) -> bool:
        """Whether the caller runs inside a journaled run."""
        ...

    async def execute(
        self, agent: Any, input: Any, ctx: Any, run: Callable[[], Awaitable[Any]], *, run_id: str | None = None,
    ) -> Any:
        """Run ``run()`` (one top-level ``kernel.run``) as run ``run_id`` (new: None)."""
        ...

    async def step(
        self, kind: str, name: str, path: str, args: Any, run: Callable[[Any, str], Awaitable[Any]], *,
        tool: Any = None, ctx: Any = None, encode: Callable[[Any], Any] | None = None,
        decode: Callable[[Any], Any] | None = None,
    ) -> Any:
        """One journaled call: its recorded result on replay, else ``run(args, idempotency_key)``
        after the intent is written (and the approval given, for a tool that needs one)."""
        ...
