"""Tracing: the span tree of real runs, checked with the OpenTelemetry SDK's in-memory exporter."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_asyncio
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from llmspell import Cancel, Retry
from llmspell.contrib.otel import Tracing
from llmspell.errors import CancelledByHook
from llmspell.plugins.agents.api import ToolCall

TRACED = {"otel": {"enabled": True, "exporter": "none", "use_global": False}}


@pytest_asyncio.fixture
async def traced(make_kernel):
    async with make_kernel(TRACED) as kernel:
        exporter = InMemorySpanExporter()
        kernel.service(Tracing).add_exporter(exporter, batch=False)
        yield kernel, exporter


class Tree:
    """The finished spans of one test, by name, with parent lookups."""

    def __init__(self, spans: Any) -> None:
        self.spans = list(spans)
        self.by_id = {s.context.span_id: s for s in self.spans}

    def named(self, name: str) -> list[Any]:
        return [s for s in self.spans if s.name == name]

    def one(self, name: str) -> Any:
        found = self.named(name)
        assert len(found) == 1, f"{len(found)} spans named {name!r}: {sorted(s.name for s in self.spans)}"
        return found[0]

    def parent(self, span: Any) -> Any:
        return self.by_id.get(span.parent.span_id) if span.parent is not None else None

    def children(self, span: Any) -> list[str]:
        kids = [s for s in self.spans if s.parent is not None and s.parent.span_id == span.context.span_id]
        return [s.name for s in sorted(kids, key=lambda s: s.start_time)]


async def test_composed_run_with_a_tool_call_and_a_handoff(traced):
    kernel, exporter = traced
    kernel.agents.create("chat", name="billing")
    kernel.agents.create("tool", name="triage", agents=["billing"], tools=["calculator"])
    pipeline = kernel.agents.create("sequential", name="pipeline", agents=["triage"])
    kernel.hooks.register("tool_before", lambda call: None, name="audit-tool")
    kernel.agents.provider("offline").script(
        ToolCall("calculator", {"expression": "6*7"}, id="c1"),
        ToolCall("transfer_to_billing", {"reason": "a refund"}, id="c2"),
        "I have refunded the duplicate charge.",
    )
    session = await kernel.sessions.create(user_id="ada", app="shop")
    out = await kernel.run(pipeline, "invoice 1042 was charged twice", session=session)
    assert out.content == "I have refunded the duplicate charge."

    tree = Tree(exporter.get_finished_spans())
    run = tree.one("run pipeline")
    assert run.parent is None
    assert tree.children(run) == ["hook agent_initialize", "invoke_agent pipeline"]

    seq = tree.one("invoke_agent pipeline")
    assert tree.children(seq) == [
        "hook agent_initialize", "invoke_agent triage", "handoff triage -> billing",
        "hook agent_initialize", "invoke_agent billing", "hook agent_after",
    ]
    triage = tree.one("invoke_agent triage")
    assert tree.children(triage) == ["chat offline", "execute_tool calculator", "chat offline", "hook agent_after"]
    tool = tree.one("execute_tool calculator")
    assert tree.children(tool) == ["hook tool_before"]
    billing = tree.one("invoke_agent billing")
    assert tree.children(billing) == ["chat offline", "hook agent_after"]

    # every span is in the one trace
    assert {s.context.trace_id for s in tree.spans} == {run.context.trace_id}

    # session, user and correlation ids, invocation ids that match the run events
    finished = {e.payload["agent"]: e async for e in kernel.events.read(session.id) if e.type == "agent.run.finished"}
    for span in (run, seq, triage, billing):  # the spans inside an agent's (model, tool) inherit them
        assert span.attributes["session.id"] == session.id
        assert span.attributes["user.id"] == "ada"
        assert span.attributes["llmspell.correlation_id"] == finished["pipeline"].correlation_id
    for name in ("pipeline", "triage", "billing"):
        span = tree.one(f"invoke_agent {name}")
        assert span.attributes["llmspell.invocation_id"] == finished[name].payload["invocation_id"]
        assert span.attributes["gen_ai.operation.name"] == "invoke_agent"
        assert span.attributes["gen_ai.agent.name"] == name
    assert triage.attributes["llmspell.agent.type"] == "tool"
    assert finished["triage"].payload["parent_invocation_id"] == seq.attributes["llmspell.invocation_id"]
    assert finished["billing"].payload["parent_invocation_id"] == seq.attributes["llmspell.invocation_id"]
    assert finished["pipeline"].payload["parent_invocation_id"] is None
    assert triage.attributes["llmspell.transfer_to"] == "billing"
    assert billing.attributes["llmspell.handoff_from"] == "triage"
    assert tool.attributes["gen_ai.tool.name"] == "calculator"
    assert tool.attributes["gen_ai.agent.name"] == "triage"
    model = tree.children(triage)
    assert model[0] == "chat offline"
    chat = tree.named("chat offline")[0]
    assert chat.attributes["gen_ai.provider.name"] == "offline"
    assert chat.attributes["gen_ai.agent.name"] == "triage"
    assert chat.attributes["llmspell.model.tool_calls"] == ("calculator",)
    assert "gen_ai.usage.input_tokens" in chat.attributes

    # the handoff: a span linked to its source, and the target linked to both
    handoff = tree.one("handoff triage -> billing")
    assert handoff.attributes["llmspell.handoff.source"] == "triage"
    assert handoff.attributes["llmspell.handoff.target"] == "billing"
    assert handoff.attributes["llmspell.handoff.depth"] == 1
    assert handoff.attributes["llmspell.handoff.reason"] == "a refund"
    assert [(link.context.span_id, link.attributes["llmspell.link"]) for link in handoff.links] == [
        (triage.context.span_id, "handoff_from")]
    assert [(link.context.span_id, link.attributes["llmspell.link"]) for link in billing.links] == [
        (triage.context.span_id, "handoff_from"), (handoff.context.span_id, "handoff")]

    # hooks with their time and outcome
    hook = tree.one("hook tool_before")
    assert hook.attributes["llmspell.hook.name"] == "audit-tool"
    assert hook.attributes["llmspell.hook.origin"] == "runtime"
    assert hook.attributes["llmspell.hook.outcome"] == "continue"
    assert hook.start_time <= hook.end_time
    assert tool.start_time <= hook.start_time and hook.end_time <= tool.end_time

    # events as span events, on the span current when they were published
    assert "agent.handoff" in [e.name for e in seq.events]
    handoff_event = next(e for e in seq.events if e.name == "agent.handoff")
    assert handoff_event.attributes["llmspell.event.stream"] == session.id
    assert "llmspell.event.payload" not in handoff_event.attributes  # content is not captured by default
    assert "state.changed" in [e.name for e in billing.events]
    assert all(s.status.status_code is not StatusCode.ERROR for s in tree.spans)


async def test_failures_cancels_and_retries_show_in_the_spans(traced):
    kernel, exporter = traced
    from tests.agents.agent_helpers import Echo

    flaky = kernel.agents.create(Echo, name="flaky", fail_times=1)
    with pytest.raises(ConnectionError):
        await kernel.run(flaky, "hi")
    tree = Tree(exporter.get_finished_spans())
    failed = tree.one("invoke_agent flaky")
    assert failed.status.status_code is StatusCode.ERROR
    assert "ConnectionError: run 1 failed" in failed.status.description
    assert [e.name for e in failed.events] == ["exception"]
    assert tree.one("run flaky").status.status_code is StatusCode.ERROR

    exporter.clear()
    handle = kernel.hooks.register("agent_after", lambda call: Retry(delay=0) if call.attempt == 1 else None,
                                   name="again")
    out = await kernel.run(flaky, "hi")
    assert out.content == "echo: hi"
    tree = Tree(exporter.get_finished_spans())
    span = tree.one("invoke_agent flaky")
    assert span.attributes["llmspell.attempts"] == 2
    assert [h.attributes["llmspell.hook.outcome"] for h in tree.named("hook agent_after")
            if h.attributes["llmspell.hook.name"] == "again"] == ["retry", "continue"]
    handle.remove()

    exporter.clear()

    def broken(call):
        raise RuntimeError("hook bug")

    kernel.hooks.register("agent_before", broken, name="broken")
    kernel.hooks.register("agent_before", lambda call: Cancel("not today"), name="gate", priority=-5)
    with pytest.raises(CancelledByHook):
        await kernel.run(flaky, "hi")
    tree = Tree(exporter.get_finished_spans())
    span = tree.one("invoke_agent flaky")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["llmspell.cancelled_by"] == "gate"
    assert span.attributes["llmspell.cancelled_at"] == "agent_before"
    outcomes = {h.attributes["llmspell.hook.name"]: h for h in tree.named("hook agent_before")}
    assert outcomes["broken"].attributes["llmspell.hook.outcome"] == "error"
    assert outcomes["broken"].status.status_code is StatusCode.ERROR
    assert outcomes["broken"].status.description == "RuntimeError: hook bug"
    assert outcomes["gate"].attributes["llmspell.hook.outcome"] == "cancel"


async def test_content_is_captured_only_when_asked(make_kernel):
    config = {"otel": {**TRACED["otel"], "capture_content": True, "max_content": 12}}
    async with make_kernel(config) as kernel:
        exporter = InMemorySpanExporter()
        kernel.service(Tracing).add_exporter(exporter, batch=False)
        await kernel.run(kernel.agents.create("chat", name="helper"), "hello there, how are you today?")
        tree = Tree(exporter.get_finished_spans())
        agent = tree.one("invoke_agent helper")
        assert agent.attributes["llmspell.input"] == "hello there…"
        assert len(agent.attributes["llmspell.output"]) == 12


async def test_parallel_branches_are_siblings_under_their_parent(traced):
    kernel, exporter = traced
    from tests.agents.agent_helpers import Echo

    kernel.agents.create(Echo, name="left", delay=0.01)
    kernel.agents.create(Echo, name="right", delay=0.01)
    both = kernel.agents.create("parallel", name="both", agents=["left", "right"])
    await kernel.run(both, "go")
    tree = Tree(exporter.get_finished_spans())
    parallel = tree.one("invoke_agent both")
    for name in ("left", "right"):
        assert tree.parent(tree.one(f"invoke_agent {name}")) is parallel


async def test_off_by_default(make_kernel):
    async with make_kernel() as kernel:
        assert kernel.services.find(Tracing) is None
        assert kernel.dispatcher.observers == ()
        assert kernel.config.section("otel").enabled is False
