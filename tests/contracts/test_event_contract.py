"""The event-log contract over every event backend of the default distribution."""

from __future__ import annotations

from typing import Any

import pytest

from llmspell.contrib.testing.contracts.events import EventLogContract

#: The event backends the default distribution registers; a new one must be added here.
BACKENDS = ["memory", "diskcache"]
#: Backends whose contract runs live in their own modules (they need a server).


def test_every_registered_event_backend_runs_the_contract(make_kernel: Any) -> None:
    kernel = make_kernel()
    contrib = {p.name for p in kernel.plugins if (p.module or "").startswith("llmspell.contrib.")}
    names = sorted(str(r.name) for r in kernel.registry("event_backend") if r.plugin not in contrib)
    assert names == sorted(BACKENDS)  # contrib backends run it in their own test_<name>_contracts.py


class TestEventLogContract(EventLogContract):
    @pytest.fixture(params=BACKENDS)
    def event_log(self, request: Any, make_kernel: Any) -> Any:
        kernel = make_kernel({"events": {"backend": request.param}})
        return kernel.create_backend("event_backend", request.param)
