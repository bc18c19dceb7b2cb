"""A small workflow helper that reports its progress as events.

::

    async with kernel.events.workflow("ingest", session_id=sid, input={"url": url}) as wf:
        await wf.step("fetched", {"bytes": 1234})        # one workflow.step event
        async with wf.stage("parse"):                     # step started, then finished/failed
            ...
    # workflow.started on entry; workflow.finished on exit, or workflow.failed with the error

    output = await kernel.events.workflow("pipeline").run([("fetch", fetch), ("parse", parse)], url)

Every event of a run carries ``{"workflow": name, "run_id": ...}`` in its payload, the
run id as correlation id, and the previous event of the run as causation id, so a run
can be followed in the log (``query(types="workflow.**")``) or waited on
(``wait_for("workflow.finished", lambda e: e.payload["run_id"] == run_id)``).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any

from llmspell.errors import ValidationError
from llmspell.ids import new_id
from llmspell.plugins.events.api import Event
from llmspell.serde import is_json

if TYPE_CHECKING:
    from llmspell.plugins.events.api import EventService

__all__ = ["Workflow"]

Step = Callable[[Any], Any | Awaitable[Any]]


class Workflow:
    """One run of a named workflow; see the module docstring."""

    def __init__(
        self,
        service: EventService,
        name: str,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        stream: str | None = None,
        correlation_id: str | None = None,
        source: str = "workflow",
        input: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValidationError(f"a workflow needs a non-empty name, got {name!r}")
        self.service = service
        self.name = name
        self.run_id = new_id()
        self.session_id = session_id
        self.user_id = user_id
        self.stream = stream
        self.correlation_id = correlation_id or self.run_id
        self.source = source
        self.input = dict(input or {})
        self.steps = 0
        self.status = "new"
        self.events: list[Event] = []

    async def _emit(self, type_name: str, payload: Mapping[str, Any]) -> Event:
        event = await self.service.publish(
            type_name, {"workflow": self.name, "run_id": self.run_id, **payload}, source=self.source,
            session_id=self.session_id, user_id=self.user_id, stream=self.stream,
            correlation_id=self.correlation_id, causation_id=self.events[-1].id if self.events else None,
        )
        self.events.append(event)
        return event

    async def start(self) -> Event:
        if self.status != "new":
            raise ValidationError(f"workflow run {self.run_id} already started")
        self.status = "running"
        return await self._emit("workflow.started", {"input": self.input} if self.input else {})

    async def step(self, name: str, data: Mapping[str, Any] | None = None, *, status: str = "finished") -> Event:
        """Record one step (``workflow.step`` with ``step``, ``index``, ``status`` and ``data``)."""
        if self.status != "running":
            raise ValidationError(f"workflow run {self.run_id} is {self.status}, not running")
        payload: dict[str, Any] = {"step": name, "index": self.steps, "status": status}
        if data:
            payload["data"] = dict(data)
        if status != "started":
            self.steps += 1
        return await self._emit("workflow.step", payload)

    @asynccontextmanager
    async def stage(self, name: str, data: Mapping[str, Any] | None = None) -> AsyncIterator[Workflow]:
        """A step with duration: ``started`` on entry, ``finished`` or ``failed`` on exit."""
        await self.step(name, data, status="started")
        try:
            yield self
        except BaseException as exc:
            await self.step(name, {"error": f"{type(exc).__name__}: {exc}"}, status="failed")
            raise
        await self.step(name, status="finished")

    async def finish(self, output: Any = None) -> Event:
        self.status = "finished"
        return await self._emit("workflow.finished", {"steps": self.steps, **({"output": output} if output is not None else {})})

    async def fail(self, error: BaseException | str) -> Event:
        self.status = "failed"
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        return await self._emit("workflow.failed", {"steps": self.steps, "error": text})

    async def run(self, steps: Sequence[tuple[str, Step]], value: Any = None) -> Any:
        """Run ``steps`` in order, each on the previous one's output; returns the last output.

        The output goes into ``workflow.finished`` when it is JSON data.
        """
        async with self:
            for name, fn in steps:
                async with self.stage(name):
                    value = fn(value)
                    if inspect.isawaitable(value):
                        value = await value
            await self.finish(value if is_json(value) else None)
            return value

    async def __aenter__(self) -> Workflow:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.status != "running":
            return
        if exc is not None:
            await self.fail(exc)
        else:
            await self.finish()
