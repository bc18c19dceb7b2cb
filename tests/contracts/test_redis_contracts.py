"""The state, session and event-log conformance suites over the Redis backends.

Each test runs under its own key prefix (removed afterwards), so the suite can run twice
at once against one server.
"""

from __future__ import annotations

from typing import Any

import pytest

from llmspell.contrib.redis.config import RedisConfig
from llmspell.contrib.redis.sessions import RedisSessionBackend
from llmspell.testing.contracts.events import EventLogContract
from llmspell.testing.contracts.sessions import SessionBackendContract
from llmspell.testing.contracts.state import StateContract
from tests.contrib._services import REDIS_URL, redis_prefix  # noqa: F401 - a fixture


class TestRedisState(StateContract):
    @pytest.fixture
    def state_config(self, redis_prefix: str) -> dict[str, Any]:  # noqa: F811
        return {"state": {"backend": "redis"}, "redis": {"url": REDIS_URL, "prefix": redis_prefix}}


class TestRedisSessions(SessionBackendContract):
    @pytest.fixture
    async def session_backend(self, redis_prefix: str) -> Any:  # noqa: F811
        backend = RedisSessionBackend(RedisConfig(url=REDIS_URL, prefix=redis_prefix))
        await backend.open()
        yield backend
        await backend.close()


class TestRedisEventLog(EventLogContract):
    @pytest.fixture
    async def event_log(self, make_kernel: Any, redis_prefix: str) -> Any:  # noqa: F811
        kernel = make_kernel({"events": {"backend": "redis"}, "redis": {"url": REDIS_URL, "prefix": redis_prefix}})
        log = kernel.create_backend("event backend", "redis")
        await log.open()
        yield log
        await log.close()
