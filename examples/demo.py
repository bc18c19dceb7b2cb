"""The main demo: a composed multi-agent workflow on the embedded defaults.

No services, no network, no keys: the offline model provider answers deterministically.
It prints what happened (agents, handoffs, state, events, artifacts) and the commands
that show the same things from the command line. Run: ``python examples/demo.py [DATA_DIR]``.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections import Counter
from typing import Any

from agents_workflow import CONFIG, build_workflow

from llmspell import Kernel
from llmspell.ids import new_id
from llmspell.plugins.agents.api import AgentRequest
from llmspell.plugins.events.api import EventService
from llmspell.plugins.sessions.api import SessionService

NOTES = {
    "refunds": "Refunds for double charges are issued within five business days.",
    "invoices": "Every invoice has a number; a duplicate charge shows the same invoice number twice.",
}


def section(title: str) -> None:
    print(f"\n== {title}")


async def open_session(kernel: Kernel) -> str:
    sessions = kernel.services.find(SessionService)
    if sessions is None:
        return new_id()
    return str((await sessions.create(user_id="ada", app="demo")).id)


async def main(data_dir: str) -> None:
    async with Kernel(CONFIG, data_dir=data_dir) as kernel:
        print("(the answers come from the offline model: canned, deterministic replies; no network, no keys)")
        print(f"llmspell kernel on {kernel.data_dir}")
        print("plugins: " + ", ".join(p.name for p in kernel.plugins))
        events = kernel.services.find(EventService)
        seen: Counter[str] = Counter()
        if events is not None:
            events.subscribe("agent.**", lambda event: seen.update([event.type]))
        handoffs: list[str] = []
        kernel.callbacks.on("agent_handoff", lambda call: handoffs.append(
            f"{call.request.source} -> {call.request.target} (state passed: {sorted(call.request.state)})"))

        agents = build_workflow(kernel)
        researcher = kernel.agents.create("research", name="researcher", max_questions=2)
        app = kernel.state.scope("app")
        for title, text in NOTES.items():
            await app.set(f"notes/{title}", text)
        session = await open_session(kernel)

        section("agents")
        for row in kernel.agents.describe():
            print(f"  {row['name']:<15} {row['type']:<9} {', '.join(row['capabilities'])}")

        section("runs")
        blocked = await kernel.run(agents["front"], "my password is hunter2", session=session)
        print(f"  front refused: {blocked.content}")
        request = AgentRequest("Please transfer me to billing: invoice 1042 charged me twice.",
                               state={"customer": "Ada", "card_number": "4111-1111"})
        out = await kernel.run(agents["front"], request, session=session)
        print(f"  front -> {' -> '.join(out.trail)}: {out.content}")
        reviews = await kernel.run(agents["reviews"], out.content, session=session)
        print(f"  reviews (parallel): {reviews.data['branches']}")
        report = await kernel.run(researcher, "refunds for double charges", session=session)
        print(f"  researcher: {report.content}")

        section("handoffs")
        for line in handoffs:
            print(f"  {line}")

        section("state")
        print(f"  app reviews      = {await app.get('reviews')}  (merge:list_append)")
        print(f"  app review_count = {await app.get('review_count')}  (merge:counter_add)")
        history = await kernel.agents.get("billing").conversation(kernel.state, session)
        print(f"  session chat/billing: {len(history)} messages")
        print(f"  session research/last_topic = {await kernel.state.scope('session', session).get('research/last_topic')}")

        section("events")
        if events is None:
            print("  (no event plugin installed)")
        else:
            await events.flush()
            for name, count in sorted(seen.items()):
                print(f"  {name:<22} x{count}")

        section("artifacts")
        for ref in report.saved:
            data = await kernel.artifacts.load(ref)
            print(f"  {ref}  {len(data)} bytes: {data.decode().splitlines()[0]}")

        section("look at it with the CLI")
        where = f"llmspell --data-dir {kernel.data_dir}"
        print(f"  {where} agents types")
        print(f"  {where} state list app:default")
        print(f"  {where} artifacts ls --session {session}")
        if events is not None:
            print(f"  {where} events tail --session {session}")
        print(f"  {where} chat billing --session {session}")


def run(data_dir: Any = None) -> None:
    if data_dir:
        asyncio.run(main(data_dir))
        return
    with tempfile.TemporaryDirectory(prefix="llmspell-demo-") as tmp:  # removed at the end
        asyncio.run(main(tmp))
    print("\n(the data directory was temporary and is removed: pass one to keep the data for these commands)")


if __name__ == "__main__":
    run(sys.argv[1] if len(sys.argv) > 1 else None)
