"""LangGraph's own checkpointer conformance suite, run against the llmspell checkpointer.

A table of llmspell configurations: the embedded default (diskcache), the in-process
``memory`` backends, PostgreSQL (state, sessions and the event log on the shared test
server), and Redis (under a fresh key prefix on the run's server). Every row must pass
every capability of the suite.
"""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate  # noqa: E402
from langgraph.checkpoint.conformance.capabilities import ALL_CAPABILITIES  # noqa: E402

from llmspell.contrib.langgraph import LlmspellSaver  # noqa: E402
from tests.contrib._services import REDIS_URL, redis_prefix  # noqa: F401 - a fixture
from tests.contrib.postgres.pg import pg_config, pg_schema  # noqa: E402, F401 - a fixture

#: name -> (llmspell config, needs the PostgreSQL test server)
CONFIGS: dict[str, tuple[dict[str, Any], bool]] = {
    "diskcache (embedded default)": ({}, False),
    "memory": ({"state": {"backend": "memory"}, "sessions": {"backend": "memory"}, "events": {"backend": "memory"}}, False),
    "postgres": (
        {"state": {"backend": "postgres"}, "sessions": {"backend": "postgres"}, "events": {"backend": "postgres"}},
        True,
    ),
    "redis": ({"state": {"backend": "redis"}, "sessions": {"backend": "redis"}, "events": {"backend": "redis"}}, False),
}


async def run_suite(kernel: Any, name: str) -> None:
    async def factory() -> Any:
        yield LlmspellSaver(kernel)

    report = await validate(checkpointer_test(name=f"llmspell/{name}")(factory))
    failures = {cap: result.failures for cap, result in report.results.items() if result.failures}
    assert failures == {}
    assert {cap for cap, result in report.results.items() if result.passed} == {c.value for c in ALL_CAPABILITIES}
    assert all(result.tests_passed > 0 for result in report.results.values())
    assert report.passed_all()


@pytest.mark.parametrize("name", list(CONFIGS))
async def test_conformance(name: str, make_kernel: Any, request: pytest.FixtureRequest) -> None:
    config, postgres = CONFIGS[name]
    backend = config.get("state", {}).get("backend", "diskcache")
    assert backend in make_kernel().registry("state_backend"), f"no loaded plugin registers {backend!r}"
    if postgres:
        config = {**config, **pg_config(request.getfixturevalue("pg_schema"))}
    if backend == "redis":
        config = {**config, "redis": {"url": REDIS_URL, "prefix": request.getfixturevalue("redis_prefix")}}
    async with make_kernel(config) as kernel:
        await run_suite(kernel, name)
