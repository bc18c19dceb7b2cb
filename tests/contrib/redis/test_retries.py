"""A write retried after a lost reply is recognised by its token and not applied twice.

redis-py reports a connection lost after the command was sent the same way as one lost
before: the backends retry once with the same request token. Here the "retry" is made
explicit by giving two calls the same token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from llmspell.contrib.redis import eventlog as eventlog_module
from llmspell.contrib.redis import state as state_module
from llmspell.contrib.redis.config import RedisConfig
from llmspell.contrib.redis.eventlog import RedisEventLog
from llmspell.contrib.redis.state import RedisStateBackend
from llmspell.plugins.events.api import Event
from llmspell.plugins.state.backend import Delete, Put
from tests.contrib._services import REDIS_URL


@pytest.fixture
def same_token(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """``same_token(b)``: every request token is made of byte ``b`` until the next call."""

    def use(byte: int) -> None:
        for module in (eventlog_module, state_module):
            monkeypatch.setattr(module.os, "urandom", lambda n: bytes([byte]) * n)

    use(1)
    return use


async def test_a_repeated_append_is_not_its_own_duplicate(redis_prefix: str, same_token: Any) -> None:
    log = RedisEventLog(RedisConfig(url=REDIS_URL, prefix=redis_prefix))
    await log.open()
    try:
        events = [Event("t.x", {"n": i}, stream="s") for i in range(3)]
        first = await log.append([*events, events[0]])
        again = await log.append([*events, events[0]])
        assert [e.seq for e in first.events] == [e.seq for e in again.events] == [1, 2, 3, 1]
        assert first.duplicates == again.duplicates == {events[0].id}
        assert await log.last_seq("s") == 3
    finally:
        await log.close()


async def test_repeated_state_writes_apply_once(redis_prefix: str, same_token: Callable[[int], None]) -> None:
    backend = RedisStateBackend(RedisConfig(url=REDIS_URL, prefix=redis_prefix))
    await backend.open()
    try:
        first = await backend.compare_and_set("k", b"1", 0)
        again = await backend.compare_and_set("k", b"1", 0)  # the same request once more: not a conflict
        assert first.ok and again.ok and first.version == again.version == 1
        same_token(2)
        done = await backend.batch([Put("a", b"a", 0), Put("b", b"b", 0)])
        repeat = await backend.batch([Put("a", b"a", 0), Put("b", b"b", 0)])
        assert done.ok and repeat == done
        same_token(3)
        gone = await backend.delete("a", 1)
        assert gone.ok and (await backend.delete("a", 1)) == gone
        assert await backend.get("a") is None and (await backend.get("b")).version == 1  # type: ignore[union-attr]
        same_token(4)
        assert (await backend.batch([Delete("b", 1)])).ok
    finally:
        await backend.close()
