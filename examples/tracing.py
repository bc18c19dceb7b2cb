"""Tracing a composed run with OpenTelemetry; needs pip install "llmspell[otel]".

Printed as a tree (offline, no collector needed).

A sequential pipeline runs a tool-using ``triage`` agent, which calls the calculator and
hands off to ``billing``. The spans go to the SDK's in-memory exporter and are printed with
their attributes; point ``OTEL_EXPORTER_OTLP_ENDPOINT`` at a collector and drop
``exporter = "none"`` to send them there instead. Run: ``python examples/tracing.py [DATA_DIR]``.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from typing import Any

from llmspell.errors import MissingExtraError

try:  # The OpenTelemetry SDK comes with the extra; without it, say what to install
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
except ModuleNotFoundError:
    sys.exit(str(MissingExtraError("this example", "otel", "opentelemetry-sdk")))

from llmspell import Kernel
from llmspell.contrib.otel import Tracing
from llmspell.plugins.agents.api import ToolCall

CONFIG = {"otel": {"enabled": True, "exporter": "none", "use_global": False}}
SHOWN = ("session.id", "gen_ai.tool.name", "llmspell.hook.name", "llmspell.hook.outcome", "llmspell.transfer_to",
         "llmspell.handoff.state_keys")


def print_tree(spans: Any) -> None:
    by_id = {s.context.span_id: s for s in spans}
    children: dict[Any, list[Any]] = {}
    for span in spans:
        parent = span.parent.span_id if span.parent is not None and span.parent.span_id in by_id else None
        children.setdefault(parent, []).append(span)

    def show(span: Any, depth: int) -> None:
        ms = (span.end_time - span.start_time) / 1e6
        notes = [f"{k}={span.attributes[k]}" for k in SHOWN if k in span.attributes]
        notes += [f"link:{link.attributes.get('llmspell.link')}" for link in span.links]
        notes += [f"event:{e.name}" for e in span.events]
        print(f"{'  ' * depth}{span.name}  ({ms:.2f} ms)  {' '.join(notes)}".rstrip())
        for child in sorted(children.get(span.context.span_id, []), key=lambda s: s.start_time):
            show(child, depth + 1)

    for root in sorted(children.get(None, []), key=lambda s: s.start_time):
        show(root, 0)


async def main(data_dir: str) -> None:
    async with Kernel(CONFIG, data_dir=data_dir) as kernel:
        spans = InMemorySpanExporter()
        kernel.service(Tracing).add_exporter(spans, batch=False)
        kernel.agents.create("chat", name="billing", description="answers billing questions")
        kernel.agents.create("tool", name="triage", agents=["billing"], tools=["calculator"])
        pipeline = kernel.agents.create("sequential", name="pipeline", agents=["triage"])
        kernel.hooks.register("tool_before", lambda call: None, name="audit-tool-calls")
        kernel.agents.provider("offline").script(
            ToolCall("calculator", {"expression": "2 * 21.50"}, id="c1"),
            ToolCall("transfer_to_billing", {"reason": "a refund"}, id="c2"),
            "I have refunded the duplicate charge of 21.50.",
        )
        session = await kernel.sessions.create(user_id="ada", app="tracing-example")
        out = await kernel.run(pipeline, "I was charged twice 21.50", session=session)
        print(f"answer: {out.content}\n")
        print_tree(spans.get_finished_spans())


if __name__ == "__main__":
    if len(sys.argv) > 1:
        asyncio.run(main(sys.argv[1]))
    else:  # a temporary data directory, removed at the end
        with tempfile.TemporaryDirectory(prefix="llmspell-tracing-") as tmp:
            asyncio.run(main(tmp))
