"""The NATS log beyond the contract: batch messages, id claims, concurrent duplicates."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from llmspell.contrib.nats._claims import Claim
from llmspell.contrib.nats.config import NatsConfig
from llmspell.contrib.nats.eventlog import NatsEventLog
from llmspell.plugins.events.api import Event
from tests.contrib._services import NATS_URL


@pytest.fixture
async def log(nats_prefix: str) -> AsyncIterator[NatsEventLog]:
    backend = NatsEventLog(NatsConfig(servers=NATS_URL, prefix=nats_prefix, claim_timeout=0.5))
    await backend.open()
    yield backend
    await backend.close()


async def test_reads_find_events_inside_batches_of_any_size(log: NatsEventLog) -> None:
    rng = random.Random(7)
    count = 0
    while count < 400:  # one message per append: 1 to 40 events each
        size = rng.choice([1, 1, 2, 5, 17, 40])
        await log.append([Event("t.x", {"i": count + j}, stream="s") for j in range(size)])
        count += size
    for _ in range(150):
        first = rng.randint(1, count)
        last = rng.randint(first, count + 3)
        limit = rng.choice([None, 1, 3, 50])
        want = list(range(first, min(last, count) + 1))[:limit]
        got = await log.read("s", first, last, limit)
        assert [e.seq for e in got] == want and [e.payload["i"] for e in got] == [w - 1 for w in want]
    for seq in rng.sample(range(1, count + 1), 25):
        (event,) = await log.read("s", seq, seq)
        assert await log.get(event.id) == event


async def test_one_event_appended_by_many_at_once_is_stored_once(log: NatsEventLog, nats_prefix: str) -> None:
    other = NatsEventLog(NatsConfig(servers=NATS_URL, prefix=nats_prefix))  # another process, in effect
    await other.open()
    try:
        event = Event("t.x", {"n": 1}, stream="s")
        results = await asyncio.gather(*(backend.append([event]) for backend in (log, other) for _ in range(5)))
        assert {r.events[0].seq for r in results} == {1}
        assert sum(1 for r in results if not r.duplicates) == 1
        assert await log.last_seq("s") == 1
    finally:
        await other.close()


async def test_a_claim_left_by_a_dead_append_is_taken_over(log: NatsEventLog) -> None:
    event = Event("t.x", {"n": 1}, stream="s")
    dead = Claim("s", 1, time.time(), "a-process-that-died")
    assert await log.claims.create([(event.id, dead)]) != [None]
    started = time.monotonic()
    stored = await log.append([event])  # waits for the claim to expire (0.5 s here), then takes it over
    assert time.monotonic() - started >= 0.4
    assert stored.duplicates == frozenset() and stored.events[0].seq == 1
    assert await log.get(event.id) == stored.events[0]


async def test_a_batch_across_streams_and_a_conflict_leave_no_claims(log: NatsEventLog) -> None:
    from llmspell.errors import ConflictError

    events = [Event("t.x", {"n": i}, stream=f"s{i % 3}") for i in range(9)]
    result = await log.append(events)
    assert [(e.stream, e.seq) for e in result.events] == [(f"s{i % 3}", i // 3 + 1) for i in range(9)]
    refused = Event("t.x", {}, stream="s0")
    with pytest.raises(ConflictError):
        await log.append([refused], expected_last_seq=1)
    assert await log.claims.read(refused.id) is None  # released: a later append of it is not held up
    again: Any = await log.append([refused], expected_last_seq=3)
    assert again.events[0].seq == 4


async def test_a_log_closed_and_opened_again_appends_on_its_new_connection(nats_prefix: str) -> None:
    log = NatsEventLog(NatsConfig(servers=NATS_URL, prefix=nats_prefix, timeout=2.0))
    await log.open()
    try:
        await log.append([Event("t.x", {"n": 1}, stream="s")])
        await log.close()
        await log.open()  # a new client: acknowledgements come to a new reply subscription
        second = await log.append([Event("t.x", {"n": 2}, stream="s")])
        assert second.events[0].seq == 2
        assert [e.payload["n"] for e in await log.read("s")] == [1, 2]
    finally:
        await log.close()
