"""The session-backend conformance suite over every session backend llmspell ships."""

from __future__ import annotations

import pytest

from llmspell.contrib.testing.contracts.sessions import SessionBackendContract
from llmspell.plugins.sessions.backends import DiskcacheSessionBackend, MemorySessionBackend


class TestMemorySessionBackend(SessionBackendContract):
    @pytest.fixture
    async def session_backend(self):
        backend = MemorySessionBackend()
        await backend.open()
        yield backend
        await backend.close()


class TestDiskcacheSessionBackend(SessionBackendContract):
    @pytest.fixture
    async def session_backend(self, tmp_path):
        backend = DiskcacheSessionBackend(tmp_path / "sessions")
        await backend.open()
        yield backend
        await backend.close()
