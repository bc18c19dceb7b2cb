"""Sessions: create, use their state and events, fork, suspend, resume, export.

Run it twice with the same data directory to see the first run's sessions listed again:

    python examples/sessions_basics.py /tmp/llmspell-sessions
"""

from __future__ import annotations

import asyncio
import sys
import tempfile

from llmspell import Kernel


async def main(data_dir: str) -> None:
    async with Kernel(data_dir=data_dir) as kernel:
        earlier = await kernel.sessions.list(user_id="ada")
        print(f"sessions of ada from earlier runs: {len(earlier.items)}")

        # A session has an owner, metadata, tags, a TTL and a lifecycle.
        session = await kernel.sessions.create(
            user_id="ada", app="travel", title="Plan a trip", tags=["travel"], ttl=3600
        )
        print(f"created {session.id} ({session.status.value}, expires {session.expires_at:%H:%M} UTC)")

        # Its state is the state service's session scope; its history is its event stream.
        await session.state.set("destination", "Lisbon")
        await session.state.update("turns", lambda n: (n or 0) + 1)
        await kernel.events.publish("note.added", {"text": "prefers trains"}, session_id=session.id)
        await kernel.artifacts.save("itinerary.md", b"# Lisbon\n", session_id=session.id, content_type="text/markdown")
        await kernel.events.flush()
        print("events:", [e.type async for e in session.events()])

        # A fork starts from the same state and artifacts and records its parent.
        fork = await kernel.sessions.fork(session.id, title="Plan B")
        await fork.state.set("destination", "Porto")
        print(f"fork {fork.id} of {fork.parent_id}: {await fork.state.get('destination')}; "
              f"original still {await session.state.get('destination')}")

        # Lifecycle transitions are validated and published.
        await kernel.sessions.suspend(session.id, "lunch break")
        resumed = await kernel.sessions.resume(session.id)
        print(f"resumed: {resumed.status.value}")
        try:
            await kernel.sessions.archive(session.id)
        except Exception as exc:  # an active session must end before it is archived
            print(f"refused: {exc}")
        await kernel.sessions.complete(session.id)

        # Listing is by user, app, status, tag or time, newest first, in pages.
        page = await kernel.sessions.list(user_id="ada", status="active", limit=10)
        print(f"active sessions of ada: {[s.title for s in page.items]}")

        # One JSON-lines document holds a session's record, state, events and artifact refs.
        lines = [line async for line in kernel.sessions.export(session.id)]
        print(f"exported {len(lines)} lines; import with: llmspell sessions import FILE")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        asyncio.run(main(sys.argv[1]))
    else:  # a temporary data directory, removed at the end
        with tempfile.TemporaryDirectory(prefix="llmspell-sessions-") as tmp:
            asyncio.run(main(tmp))
