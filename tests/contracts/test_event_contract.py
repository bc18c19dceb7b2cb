"""The event-log contract over every event backend of the default distribution."""

from __future__ import annotations

from typing import Any

import pytest

from llmspell.testing.contracts.events import EventLogContract

#: The event backends the default distribution registers; a new one must be added here.
BACKENDS = ["memory", "diskcache"]
#: Backends whose contract runs live in their own modules (they need a server).
ELSEWHERE = ["postgres"]  # test_postgres_contracts.py


def test_every_registered_event_backend_runs_the_contract(make_kernel: Any) -> None:
    names = sorted(str(n) for n in make_kernel().registry("event backend").names())
    assert names == sorted(BACKENDS + ELSEWHERE)


class TestEventLogContract(EventLogContract):
    @pytest.fixture(params=BACKENDS)
    async def event_log(self, request: Any, make_kernel: Any) -> Any:
        kernel = make_kernel({"events": {"backend": request.param}})
        log = kernel.create_backend("event backend", request.param)
        await log.open()
        yield log
        await log.close()
