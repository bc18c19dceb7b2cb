"""Scale out by configuration: one program, the embedded default or shared servers.

The program below uses state, sessions, events (the log, a projection and a
work-sharing trigger) and artifacts. It never names a backend: ``llmspell.toml`` does.
Run it on the embedded default, then on Redis or NATS, and it prints the same lines::

    python examples/scale_out.py                              # embedded default (./.llmspell)
    python examples/scale_out.py examples/configs/redis.toml  # every service on Redis
    python examples/scale_out.py examples/configs/nats.toml   # log, bus and state on NATS

With a shared server, start several copies at once: they share one store and one event
stream, and the grouped trigger's events are handled once across all of them. Each run
works under a fresh user and session, so runs never see each other's data.
"""

from __future__ import annotations

import asyncio
import sys
import uuid

from llmspell import ConflictError, Kernel
from llmspell.plugins.events.api import Event, Projection


def fold(state: dict[str, int], event: Event) -> dict[str, int]:
    key = event.type.split(".")[0] + "s"
    state[key] = state.get(key, 0) + 1
    return state


async def main(config: str | None) -> None:
    run = uuid.uuid4().hex[:12]  # this run's user: nothing printed depends on it
    user = f"user-{run}"
    async with Kernel(config) as kernel:
        # State: many concurrent read-modify-writes on one counter lose nothing.
        visits = kernel.state.scope("user", user)
        await asyncio.gather(*(visits.update("visits", lambda n: (n or 0) + 1) for _ in range(20)))
        item = await visits.get_versioned("visits")
        print(f"state: visits={item.value} at version {item.version}")

        cart = kernel.state.scope("user", user)
        version = await cart.set("cart", {"items": ["apple"]})
        await cart.set("cart", {"items": ["apple", "pear"]}, expected_version=version)
        try:
            await cart.set("cart", {"items": []}, expected_version=version)  # a stale write
        except ConflictError as exc:
            print(f"state: stale write refused (it is at version {exc.current_version}); "
                  f"cart={(await cart.get('cart'))['items']}")

        # Sessions: lifecycle and a query by user.
        sessions = [await kernel.sessions.create(user_id=user, app="shop", title=f"visit {i}") for i in range(3)]
        await kernel.sessions.suspend(sessions[1].id)
        await kernel.sessions.complete(sessions[2].id)
        page = await kernel.sessions.list(user_id=user)
        statuses = sorted(str(s.status) for s in page.items)
        print(f"sessions: {len(page.items)} for the user: {', '.join(statuses)}")

        # Events: a grouped trigger (shared by every process of the group) handles orders.
        handled: list[int] = []
        done = asyncio.Event()

        def on_order(event: Event) -> None:
            if event.payload.get("run") == run:
                handled.append(event.payload["n"])
                if len(handled) == 2:
                    done.set()

        kernel.events.triggers.add("order.placed", on_order, group="scale-out-orders", name="orders")
        await kernel.events.triggers.join_all()
        sid = sessions[0].id
        for n in range(3):
            await kernel.events.publish("note.added", {"n": n}, session_id=sid)
        for n in range(2):
            await kernel.events.publish("order.placed", {"n": n, "run": run}, session_id=sid)
        await asyncio.wait_for(done.wait(), 30)
        print(f"triggers: orders {sorted(handled)} handled once each")

        everything = [e async for e in kernel.events.read(sid)]
        gapless = [e.seq for e in everything] == list(range(1, len(everything) + 1))
        mine = [e.type for e in everything if e.type in ("note.added", "order.placed")]
        print(f"events: the session's stream is gapless: {gapless}; mine in order: {mine}")
        counts = await kernel.events.project(sid, Projection("counts", dict, fold, types=("note.*", "order.*")))
        print(f"events: replay folds to {dict(sorted(counts.state.items()))}")

        # Artifacts: saved with the session, read back.
        report = b"# scale out\n"
        ref = await kernel.artifacts.save("report.md", report, session_id=sid, content_type="text/markdown")
        data = await kernel.artifacts.load(ref)
        print(f"artifacts: {ref.name} version {ref.version}, {len(data)} bytes, read back equal: {data == report}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else None))
