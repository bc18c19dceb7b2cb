"""llmspell's conformance suites over the LMDB backends, chosen by ``distribution = "lmdb"`` alone."""

from typing import Any

import pytest
from llmspell.contrib.testing.contracts.events import EventLogContract
from llmspell.contrib.testing.contracts.sessions import SessionBackendContract
from llmspell.contrib.testing.contracts.state import StateContract

CONFIG = {"distribution": "lmdb"}  # the one line of llmspell.toml


async def selected(make_kernel: Any, kind: str, section: str) -> Any:
    """The backend that the distribution selects for ``section``, opened."""
    kernel = make_kernel(CONFIG)
    backend = kernel.create_backend(kind, kernel.config.section(section).backend)
    await backend.open()
    return backend


class TestLmdbState(StateContract):
    @pytest.fixture
    def state_config(self) -> dict[str, Any]:
        return CONFIG


class TestLmdbSessions(SessionBackendContract):
    @pytest.fixture
    async def session_backend(self, make_kernel: Any) -> Any:
        backend = await selected(make_kernel, "session backend", "sessions")
        yield backend
        await backend.close()


class TestLmdbEventLog(EventLogContract):
    @pytest.fixture
    async def event_log(self, make_kernel: Any) -> Any:
        log = await selected(make_kernel, "event backend", "events")
        yield log
        await log.close()
