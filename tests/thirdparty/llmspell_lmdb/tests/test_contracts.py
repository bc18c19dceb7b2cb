"""llmspell's conformance suites over the LMDB backends, chosen by ``distribution = "lmdb"`` alone."""

from typing import Any

import pytest
from llmspell.contrib.testing.contracts.events import EventLogContract
from llmspell.contrib.testing.contracts.sessions import SessionBackendContract
from llmspell.contrib.testing.contracts.state import StateContract

CONFIG = {"distribution": "lmdb"}  # the one line of llmspell.toml


def selected(make_kernel: Any, kind: str, section: str) -> Any:
    """The backend that the distribution selects for ``section``, not opened: the suite opens it."""
    kernel = make_kernel(CONFIG)
    return kernel.create_backend(kind, kernel.config.section(section).backend)


class TestLmdbState(StateContract):
    @pytest.fixture
    def state_backend(self, make_kernel: Any) -> Any:
        return selected(make_kernel, "state backend", "state")


class TestLmdbSessions(SessionBackendContract):
    @pytest.fixture
    def session_backend(self, make_kernel: Any) -> Any:
        return selected(make_kernel, "session backend", "sessions")


class TestLmdbEventLog(EventLogContract):
    @pytest.fixture
    def event_log(self, make_kernel: Any) -> Any:
        return selected(make_kernel, "event backend", "events")
