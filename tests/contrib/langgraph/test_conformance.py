"""LangGraph's own checkpointer conformance suite, run against the llmspell checkpointer.

One row per llmspell configuration: the embedded default (diskcache), the in-process
``memory`` backends, and the scale-out state backends when they are installed (a row
whose backend no loaded plugin registers is skipped, naming the backend).
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("langgraph.checkpoint.conformance")

from langgraph.checkpoint.conformance import checkpointer_test, validate  # noqa: E402
from langgraph.checkpoint.conformance.capabilities import ALL_CAPABILITIES  # noqa: E402

from llmspell.contrib.langgraph import LlmspellSaver  # noqa: E402

#: name -> llmspell config. Every row must pass every capability of the suite.
CONFIGS: dict[str, dict[str, Any]] = {
    "diskcache (embedded default)": {},
    "memory": {
        "state": {"backend": "memory"},
        "sessions": {"backend": "memory"},
        "events": {"backend": "memory"},
    },
    "redis": {"state": {"backend": "redis"}, "sessions": {"backend": "redis"}, "events": {"backend": "redis"}},
    "postgres": {
        "state": {"backend": "postgres"}, "sessions": {"backend": "postgres"}, "events": {"backend": "postgres"},
    },
}


@pytest.mark.parametrize("name", list(CONFIGS))
async def test_conformance(name: str, make_kernel: Any) -> None:
    config = CONFIGS[name]
    backend = config.get("state", {}).get("backend", "diskcache")
    probe = make_kernel()
    if backend not in probe.registry("state backend"):
        pytest.skip(f"no loaded plugin registers the {backend!r} state backend here")
    async with make_kernel(config) as kernel:

        async def factory() -> Any:
            yield LlmspellSaver(kernel)

        registered = checkpointer_test(name=f"llmspell/{name}")(factory)
        report = await validate(registered)
    failures = {cap: result.failures for cap, result in report.results.items() if result.failures}
    assert failures == {}
    assert {cap for cap, result in report.results.items() if result.passed} == {c.value for c in ALL_CAPABILITIES}
    assert report.passed_all()
