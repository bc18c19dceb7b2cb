"""The state, session and event-log conformance suites over the Redis backends.

Each test runs under its own key prefix (removed afterwards), so the suite can run twice
at once against one server.
"""

from __future__ import annotations

from typing import Any

import pytest

from llmspell.contrib.redis.config import RedisConfig
from llmspell.contrib.redis.sessions import RedisSessionBackend
from llmspell.contrib.redis.state import RedisStateBackend
from llmspell.contrib.testing.contracts.events import EventLogContract
from llmspell.contrib.testing.contracts.sessions import SessionBackendContract
from llmspell.contrib.testing.contracts.state import StateContract
from tests.contrib._services import REDIS_URL, redis_prefix  # noqa: F401 - a fixture


class TestRedisState(StateContract):
    @pytest.fixture
    def state_backend(self, redis_prefix: str) -> Any:  # noqa: F811
        return RedisStateBackend(RedisConfig(url=REDIS_URL, prefix=redis_prefix))


class TestRedisSessions(SessionBackendContract):
    @pytest.fixture
    def session_backend(self, redis_prefix: str) -> Any:  # noqa: F811
        return RedisSessionBackend(RedisConfig(url=REDIS_URL, prefix=redis_prefix))


class TestRedisEventLog(EventLogContract):
    @pytest.fixture
    def event_log(self, make_kernel: Any, redis_prefix: str) -> Any:  # noqa: F811
        kernel = make_kernel({"events": {"backend": "redis"}, "redis": {"url": REDIS_URL, "prefix": redis_prefix}})
        return kernel.create_backend("event_backend", "redis")


def test_every_redis_backend_runs_its_contract(make_kernel: Any) -> None:
    """Each backend the redis plugin registers has a contract class above (the transport is
    covered by tests/contrib/redis/test_processes.py)."""
    kernel = make_kernel()
    registered = {kind: sorted(str(r.name) for r in kernel.registry(kind).by_plugin("redis"))
                  for kind in ("state_backend", "session_backend", "event_backend", "event_transport")}
    assert registered == {"state_backend": ["redis"], "session_backend": ["redis"], "event_backend": ["redis"],
                          "event_transport": ["redis"]}
