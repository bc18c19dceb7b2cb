"""The run tree of a session: its invocations rebuilt from the run events in its stream.

Each ``agent.run.finished`` / ``agent.run.failed`` event is one execution: its
``invocation_id``, ``parent_invocation_id``, ``agent``, ``elapsed_ms`` and the event time
(its end) place it (see "Events" in ``docs/agents.md``). Executions sharing a correlation
id belong to one top-level ``kernel.run`` (a *trace*). Events written before run events
carried a parent show as a flat list.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import attrs

from llmspell.plugins.events.api import Event

__all__ = ["RunNode", "Trace", "build_traces", "RUN_TYPES"]

RUN_TYPES = ("agent.run.finished", "agent.run.failed", "agent.handoff")


@attrs.define(eq=False)
class RunNode:
    """One agent execution."""

    invocation_id: str
    parent_id: str | None
    agent: str
    agent_type: str
    failed: bool
    started: datetime
    ended: datetime
    elapsed_ms: float
    input: str
    result: str
    handoff_from: str | None = None
    transfer_to: str | None = None
    seq: int | None = None
    children: list[RunNode] = attrs.Factory(list)
    left: float = 0.0
    """Where the bar starts, in percent of its trace's duration."""
    width: float = 100.0

    def walk(self, depth: int = 0) -> Iterable[tuple[int, RunNode]]:
        yield depth, self
        for child in self.children:
            yield from child.walk(depth + 1)


@attrs.define(eq=False)
class Trace:
    """One top-level invocation and every execution inside it."""

    correlation_id: str
    roots: list[RunNode]
    started: datetime
    ended: datetime
    handoffs: list[str]

    @property
    def elapsed_ms(self) -> float:
        return (self.ended - self.started).total_seconds() * 1000

    @property
    def failed(self) -> bool:
        return any(node.failed for root in self.roots for _, node in root.walk())

    @property
    def count(self) -> int:
        return sum(1 for root in self.roots for _ in root.walk())

    def rows(self) -> list[tuple[int, RunNode]]:
        return [row for root in self.roots for row in root.walk()]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _node(event: Event) -> RunNode | None:
    payload = event.payload
    invocation = payload.get("invocation_id")
    if not isinstance(invocation, str):
        return None
    try:
        elapsed = max(float(payload.get("elapsed_ms") or 0.0), 0.0)
    except (TypeError, ValueError):
        elapsed = 0.0
    failed = event.type == "agent.run.failed"
    parent = payload.get("parent_invocation_id")
    return RunNode(
        invocation_id=invocation, parent_id=parent if isinstance(parent, str) else None,
        agent=_text(payload.get("agent")), agent_type=_text(payload.get("agent_type")), failed=failed,
        started=event.time - timedelta(milliseconds=elapsed), ended=event.time, elapsed_ms=elapsed,
        input=_text(payload.get("input")), result=_text(payload.get("error" if failed else "output")),
        handoff_from=payload.get("handoff_from") if isinstance(payload.get("handoff_from"), str) else None,
        transfer_to=payload.get("transfer_to") if isinstance(payload.get("transfer_to"), str) else None,
        seq=event.seq,
    )


def _place(node: RunNode, start: datetime, total: float) -> None:
    node.left = round((node.started - start).total_seconds() * 1000 / total * 100, 2) if total else 0.0
    node.width = max(round(node.elapsed_ms / total * 100, 2), 0.5) if total else 100.0
    node.children.sort(key=lambda n: (n.started, n.seq or 0))
    for child in node.children:
        _place(child, start, total)


def build_traces(events: Iterable[Event]) -> list[Trace]:
    """Traces from run and handoff events (any order), newest first."""
    groups: dict[str, list[RunNode]] = {}
    handoffs: dict[str, list[str]] = {}
    for event in events:
        key = event.correlation_id or f"event {event.id}"
        if event.type == "agent.handoff":
            handoffs.setdefault(key, []).append(f"{_text(event.payload.get('from'))} -> {_text(event.payload.get('to'))}")
            continue
        node = _node(event)
        if node is not None:
            groups.setdefault(key, []).append(node)
    traces = []
    for key, nodes in groups.items():
        by_id = {n.invocation_id: n for n in nodes}
        roots = []
        for node in sorted(nodes, key=lambda n: (n.started, n.seq or 0)):
            parent = by_id.get(node.parent_id) if node.parent_id else None
            if parent is not None and parent is not node:
                parent.children.append(node)
            else:
                roots.append(node)
        start = min(n.started for n in nodes)
        end = max(n.ended for n in nodes)
        total = (end - start).total_seconds() * 1000
        for root in roots:
            _place(root, start, total)
        traces.append(Trace(key, roots, start, end, handoffs.get(key, [])))
    traces.sort(key=lambda t: t.started, reverse=True)
    return traces
