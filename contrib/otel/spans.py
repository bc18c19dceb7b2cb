"""The observer that turns the dispatcher's work into OpenTelemetry spans.

=========================  =====================================  ==========================
what                       span name                              parent
=========================  =====================================  ==========================
a top-level ``kernel.run`` ``run {agent}``                        the caller's current span
an agent execution         ``invoke_agent {agent}``               the run or calling agent
a model call               ``chat {model or provider}``           the agent
a tool call                ``execute_tool {tool}``                the agent
a handoff                  ``handoff {source} -> {target}``       the run or calling agent
a hook function            ``hook {point}``                       whatever span it ran in
=========================  =====================================  ==========================

A handoff span links to the source agent's span, and the target agent's span links to
both (attribute ``llmspell.link`` = ``handoff_from`` / ``handoff``). Events published
inside a traced call become span events named after their type. Attribute names are in
``docs/tracing.md``.
"""

from __future__ import annotations

import contextvars
import json
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from opentelemetry.context import attach as _attach
from opentelemetry.context import detach as _detach
from opentelemetry.trace import set_span_in_context as _set_span_in_context

from llmspell.errors import CancelledByHook
from llmspell.hooks import HookCall
from llmspell.plugins.hooks.api import HookRun, Observer

from .settings import OtelSettings

__all__ = ["SpanObserver"]

# (agent id, span context) of the agent span that ended last in this task: a handoff's source.
_last_agent: contextvars.ContextVar[tuple[str, Any] | None] = contextvars.ContextVar(
    "llmspell_otel_last_agent", default=None
)
# (target agent id, links) set by a handoff span for the target's agent span.
_pending_handoff: contextvars.ContextVar[tuple[str, list[Any]] | None] = contextvars.ContextVar(
    "llmspell_otel_pending_handoff", default=None
)


def _context_attributes(call: HookCall) -> dict[str, Any]:
    ctx = call.ctx
    if ctx is None:
        return {}
    out: dict[str, Any] = {"llmspell.invocation_id": ctx.invocation_id, "llmspell.correlation_id": ctx.trace_id}
    if ctx.session_id is not None:
        out["session.id"] = ctx.session_id
    if ctx.user_id is not None:
        out["user.id"] = ctx.user_id
    if ctx.app is not None:
        out["llmspell.app"] = ctx.app
    return out


class _Work:
    """The span of one unit of work, current while it runs (a plain class: this is per call)."""

    __slots__ = ("call", "component_id", "kind", "observer", "span", "token")

    def __init__(self, observer: SpanObserver, kind: str, call: HookCall) -> None:
        self.observer = observer
        self.kind = kind
        self.call = call
        self.component_id = getattr(call.component, "id", None)

    def __enter__(self) -> None:
        observer = self.observer
        name, attributes = observer._describe(self.kind, self.call)
        links = None
        if self.kind == "agent":
            pending = _pending_handoff.get()
            if pending is not None and pending[0] == self.component_id:
                links = pending[1]
                _pending_handoff.set(None)
        self.span = observer.tracer.start_span(name, kind=observer._kind, attributes=attributes, links=links)
        self.token = _attach(_set_span_in_context(self.span))

    def __exit__(self, kind: Any, error: BaseException | None, tb: Any) -> None:
        span = self.span
        try:
            self.observer._ended(self.kind, span, self.call, error)
        finally:
            _detach(self.token)
            span.end()
            if self.kind == "agent" and self.component_id is not None:
                _last_agent.set((self.component_id, span.get_span_context()))


class SpanObserver(Observer):
    """Spans for runs, agents, models, tools, handoffs and hooks; events as span events."""

    points = frozenset({"agent_handoff", "event_before_publish"})

    def __init__(self, tracer: Any, settings: OtelSettings) -> None:
        from opentelemetry import trace
        from opentelemetry.trace import Link, SpanKind, Status, StatusCode

        self.tracer = tracer
        self.settings = settings
        self._trace = trace
        self._Link = Link
        self._kind = SpanKind.INTERNAL
        self._Status = Status
        self._ERROR = StatusCode.ERROR

    # -- units of work -------------------------------------------------------------------

    def around(self, kind: str, call: HookCall) -> AbstractContextManager[Any]:
        return _Work(self, kind, call)

    def _describe(self, kind: str, call: HookCall) -> tuple[str, dict[str, Any]]:
        component = call.component
        cname = str(getattr(component, "name", None) or type(component).__name__)
        if kind in ("run", "agent"):  # the ids go on these; the model and tool spans inside inherit them
            attributes = _context_attributes(call)
        else:
            attributes = {}
        if kind == "run":
            attributes["llmspell.agent.name"] = cname
            self._content(attributes, "llmspell.input", getattr(call.request, "input", call.request))
            return f"run {cname}", attributes
        if kind == "agent":
            attributes.update({
                "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": cname,
                "llmspell.agent.type": str(getattr(component, "type_name", type(component).__name__)),
            })
            if getattr(component, "id", None):
                attributes["gen_ai.agent.id"] = str(component.id)
            handoff = getattr(call.request, "handoff", None)
            if handoff is not None:
                attributes["llmspell.handoff_from"] = handoff.source
            self._content(attributes, "llmspell.input", getattr(call.request, "input", None))
            return f"invoke_agent {cname}", attributes
        caller = call.args.get("agent")
        if caller is not None:
            attributes["gen_ai.agent.name"] = str(getattr(caller, "name", caller))
        if kind == "tool":
            attributes.update({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": cname})
            self._content(attributes, "llmspell.tool.arguments", call.request)
            return f"execute_tool {cname}", attributes
        if kind == "model":
            model = getattr(call.request, "model", None)
            attributes.update({"gen_ai.operation.name": "chat", "gen_ai.provider.name": cname})
            if model:
                attributes["gen_ai.request.model"] = str(model)
            tools = getattr(call.request, "tools", None)
            if tools:
                attributes["llmspell.model.tools"] = len(tools)
            return f"chat {model or cname}", attributes
        return f"{kind} {cname}", attributes

    def _finished(self, kind: str, call: HookCall, out: dict[str, Any]) -> None:
        """What the result tells, into ``out`` (set on the span in one go: each call takes a lock)."""
        result = call.result
        if result is None:
            return
        if kind == "model":
            usage = getattr(result, "usage", None)
            if usage is not None:
                out["gen_ai.usage.input_tokens"] = int(usage.prompt_tokens)
                out["gen_ai.usage.output_tokens"] = int(usage.completion_tokens)
            if getattr(result, "model", ""):
                out["gen_ai.response.model"] = result.model
            if getattr(result, "finish_reason", None):
                out["gen_ai.response.finish_reasons"] = [str(result.finish_reason)]
            calls = getattr(result, "tool_calls", ())
            if calls:
                out["llmspell.model.tool_calls"] = [c.name for c in calls]
            self._content(out, "llmspell.output", getattr(result, "content", None))
        elif kind in ("agent", "run"):
            if getattr(result, "transfer_to", None):
                out["llmspell.transfer_to"] = str(result.transfer_to)
            trail = getattr(result, "trail", ())
            if trail:
                out["llmspell.trail"] = list(trail)
            self._content(out, "llmspell.output", getattr(result, "content", None))
        elif kind == "tool":
            self._content(out, "llmspell.tool.result", result)

    def _failed(self, span: Any, exc: BaseException) -> None:
        if isinstance(exc, CancelledByHook):
            span.set_attribute("llmspell.cancelled_by", exc.hook)
            span.set_attribute("llmspell.cancelled_at", exc.point)
        if isinstance(exc, Exception):
            span.record_exception(exc)
        span.set_status(self._Status(self._ERROR, f"{type(exc).__name__}: {exc}"))

    def _ended(self, kind: str, span: Any, call: HookCall, error: BaseException | None) -> None:
        out: dict[str, Any] = {}
        if error is not None:
            self._failed(span, error)
        else:
            self._finished(kind, call, out)
        if call.attempt > 1:
            out["llmspell.attempts"] = call.attempt
        if call.replaced:
            out["llmspell.replaced"] = True
        if out:
            span.set_attributes(out)

    # -- hook points ------------------------------------------------------------------

    def point(self, point: str, call: HookCall, functions: int) -> AbstractContextManager[Any] | None:
        if point == "agent_handoff":
            return self._handoff(call)
        if point == "event_before_publish" and self.settings.events:
            self._event(call)
        return None

    @contextmanager
    def _handoff(self, call: HookCall) -> Iterator[None]:
        source, target = call.args.get("source"), call.args.get("target")
        handoff = call.request
        links = []
        last = _last_agent.get()
        if last is not None and source is not None and last[0] == getattr(source, "id", None):
            links.append(self._Link(last[1], {"llmspell.link": "handoff_from"}))
        attributes = _context_attributes(call)
        attributes.update({
            "llmspell.handoff.source": handoff.source, "llmspell.handoff.target": handoff.target,
            "llmspell.handoff.depth": handoff.depth, "llmspell.handoff.schema_version": handoff.schema_version,
        })
        if handoff.reason:
            attributes["llmspell.handoff.reason"] = handoff.reason
        with self.tracer.start_as_current_span(
            f"handoff {handoff.source} -> {handoff.target}", kind=self._kind, attributes=attributes, links=links,
            record_exception=False, set_status_on_exception=False,
        ) as span:
            try:
                yield
            except BaseException as exc:
                self._failed(span, exc)
                raise
            span.set_attribute("llmspell.handoff.state_keys", sorted(call.request.state))
            if target is not None:
                target_links = [*(self._Link(lk.context, {"llmspell.link": "handoff_from"}) for lk in links),
                                self._Link(span.get_span_context(), {"llmspell.link": "handoff"})]
                _pending_handoff.set((target.id, target_links))

    def _event(self, call: HookCall) -> None:
        span = self._trace.get_current_span()
        if not span.is_recording():
            return
        event = call.args.get("event") or call.request
        attributes: dict[str, Any] = {"llmspell.event.id": str(event.id)}
        if event.source:
            attributes["llmspell.event.source"] = event.source
        if event.stream:
            attributes["llmspell.event.stream"] = event.stream
        self._content(attributes, "llmspell.event.payload", event.payload)
        span.add_event(event.type, attributes)

    def hook(self, run: HookRun, call: HookCall) -> None:
        if not self.settings.hooks:
            return
        if not self._trace.get_current_span().is_recording():
            return  # only hooks that run inside a traced call
        end = time.time_ns()
        span = self.tracer.start_span(
            f"hook {run.point}", kind=self._kind, start_time=end - int(run.elapsed * 1e9),
            attributes={
                "llmspell.hook.point": run.point, "llmspell.hook.name": run.name,
                "llmspell.hook.origin": run.origin, "llmspell.hook.priority": run.priority,
                "llmspell.hook.outcome": run.outcome,
            },
        )
        if run.error is not None:
            span.set_status(self._Status(self._ERROR, run.error))
        span.end(end_time=end)

    # -- content capture (off by default) ------------------------------------------------

    def _text(self, value: Any) -> str:
        text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
        limit = self.settings.max_content
        return text if len(text) <= limit else text[: limit - 1] + "…"

    def _content(self, attributes: dict[str, Any], key: str, value: Any) -> None:
        if self.settings.capture_content and value is not None:
            attributes[key] = self._text(value)

