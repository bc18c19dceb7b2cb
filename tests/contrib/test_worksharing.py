"""Acknowledge after handling: ``settle`` over the event service's real router."""

from __future__ import annotations

import asyncio
from typing import Any

from llmspell.contrib._worksharing import RecentIds, settle
from llmspell.plugins.events.api import Event


async def test_settle_returns_once_the_group_has_handled_the_events(make_kernel: Any) -> None:
    async with make_kernel({"events": {"backend": "memory"}}) as kernel:
        handled: list[int] = []
        release = asyncio.Event()

        async def slow(event: Event) -> None:
            await release.wait()
            handled.append(event.payload["n"])

        kernel.events.triggers.add("job.*", slow, group="jobs", name="slow")
        renewed: list[int] = []

        async def keepalive() -> None:
            renewed.append(len(handled))
            if len(renewed) == 3:
                release.set()

        events = [Event("job.created", {"n": n}) for n in range(5)]
        ok = await settle(kernel.events.router, "jobs", events, keepalive=keepalive, every=0.01)
        assert ok and handled == [0, 1, 2, 3, 4]
        assert renewed[:3] == [0, 0, 0]  # the lease was renewed while nothing was done yet


async def test_settle_says_no_when_the_member_left_with_work_queued(make_kernel: Any) -> None:
    async with make_kernel({"events": {"backend": "memory"}}) as kernel:
        started = asyncio.Event()

        async def stuck(event: Event) -> None:
            started.set()
            await asyncio.Event().wait()

        trigger = kernel.events.triggers.add("job.*", stuck, group="jobs", name="stuck")

        async def leave_soon() -> None:
            await started.wait()
            kernel.events.triggers.remove(trigger.name)

        remover = asyncio.ensure_future(leave_soon())
        ok = await settle(kernel.events.router, "jobs", [Event("job.created", {"n": n}) for n in range(3)])
        await remover
        assert ok is False  # not acknowledged: the server will hand the events to another member
        assert await kernel.events.router.drain_group("nobody") is False


def test_recent_ids_forget_the_oldest() -> None:
    recent = RecentIds(size=2)
    assert [recent.seen(i) for i in ("a", "b", "a", "c", "a", "c")] == [False, False, True, False, False, True]
