"""The session-backend conformance suite over every session backend llmspell ships."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmspell.contrib.testing.contracts.sessions import SessionBackendContract
from llmspell.plugins.sessions._backends import DiskcacheSessionBackend, MemorySessionBackend


class TestMemorySessionBackend(SessionBackendContract):
    @pytest.fixture
    def session_backend(self) -> Any:
        return MemorySessionBackend()


class TestDiskcacheSessionBackend(SessionBackendContract):
    @pytest.fixture
    def session_backend(self, tmp_path: Path) -> Any:
        return DiskcacheSessionBackend(tmp_path / "sessions")
