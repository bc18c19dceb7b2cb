"""Events in a few lines: publish, subscribe, wait, read the log, rebuild state, react.

Run it with ``python examples/events_basics.py``; it keeps its data in a temporary
directory. See docs/events.md for the guide.
"""

from __future__ import annotations

import asyncio
import tempfile

from llmspell import Kernel
from llmspell.plugins.events import state_projection, state_values
from llmspell.plugins.events.api import Event


async def main(data_dir: str) -> None:
    async with Kernel(data_dir=data_dir) as kernel:
        events = kernel.events

        # 1. Subscribe with a topic pattern; handlers may be sync or async.
        seen: list[str] = []
        sub = events.subscribe("note.*", lambda e: seen.append(e.payload["text"]))

        # 2. Publish. An event with a session is appended to that session's stream first.
        first = await events.publish("note.added", {"text": "hello"}, session_id="session-1")
        await events.publish("note.added", {"text": "world"}, session_id="session-1")
        await events.flush()  # wait until every subscriber has handled what was published
        print(f"delivered: {seen}; first event is seq {first.seq} of stream {first.stream!r}")

        # 3. React to events: a trigger publishes a reply caused by the event.
        async def shout(event: Event) -> None:
            await events.publish("note.shouted", {"text": event.payload["text"].upper()}, cause=event)

        events.triggers.add("note.added", shout, name="shout")
        waiting = asyncio.ensure_future(events.wait_for("note.shouted", timeout=5))
        await asyncio.sleep(0)
        await events.publish("note.added", {"text": "again"}, session_id="session-1")
        reply = await waiting
        cause = await events.get(reply.causation_id or "")
        print(f"reply: {reply.payload['text']} (caused by {cause.type if cause else '?'} seq {cause and cause.seq})")

        # 4. The log: read a stream in order, query by type pattern.
        stream = [f"{e.seq}:{e.type}" async for e in events.read("session-1")]
        print(f"stream session-1: {stream}")
        print(f"note.* events logged: {len(await events.query('note.*'))}")

        # 5. Event sourcing: state changes as events, state rebuilt by replaying them.
        for version, theme in enumerate(["light", "dark"], start=1):
            await events.publish("state.changed", {
                "scope": "user", "owner": "u1", "key": "theme", "old_version": version - 1 or None,
                "new_version": version, "value": theme, "deleted": False,
            }, session_id="session-1")
        rebuilt = await events.project("session-1", state_projection())
        print(f"rebuilt state: {state_values(rebuilt.state)}")

        # 6. Workflows report start, steps and finish as events.
        total = await events.workflow("sum", session_id="session-1").run(
            [("double", lambda x: x * 2), ("plus one", lambda x: x + 1)], 20)
        steps = [e.type for e in await events.query("workflow.**", stream="session-1")]
        print(f"workflow output {total}; events: {steps}")

        sub.unsubscribe()
        print(f"stats: published={events.stats()['published']} errors={events.stats()['handler_errors']}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(tmp))
