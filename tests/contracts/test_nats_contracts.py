"""The state and event-log conformance suites over the NATS JetStream backends.

Each test runs under its own subject and stream prefix (its streams are deleted
afterwards), so the suite can run twice at once against one server.
"""

from __future__ import annotations

from typing import Any

import pytest

from llmspell.contrib.testing.contracts.events import EventLogContract
from llmspell.contrib.testing.contracts.state import StateContract
from tests.contrib._services import NATS_URL, nats_prefix  # noqa: F401 - a fixture


class TestNatsEventLog(EventLogContract):
    @pytest.fixture
    def event_log(self, make_kernel: Any, nats_prefix: str) -> Any:  # noqa: F811
        kernel = make_kernel({"events": {"backend": "nats"}, "nats": {"servers": NATS_URL, "prefix": nats_prefix}})
        return kernel.create_backend("event_backend", "nats")


class TestNatsKVState(StateContract):
    @pytest.fixture
    def state_backend(self, make_kernel: Any, nats_prefix: str) -> Any:  # noqa: F811
        kernel = make_kernel({"state": {"backend": "nats"}, "nats": {"servers": NATS_URL, "prefix": nats_prefix}})
        return kernel.create_backend("state_backend", "nats")


def test_every_nats_backend_runs_its_contract(make_kernel: Any) -> None:
    """Each backend the nats plugin registers has a contract class above (the transport is
    covered by tests/contrib/nats/test_processes.py)."""
    kernel = make_kernel()
    registered = {kind: sorted(str(r.name) for r in kernel.registry(kind).by_plugin("nats"))
                  for kind in ("state_backend", "session_backend", "event_backend", "event_transport")}
    assert registered == {"state_backend": ["nats"], "session_backend": [], "event_backend": ["nats"],
                          "event_transport": ["nats"]}
