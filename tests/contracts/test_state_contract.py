"""The state conformance suite over every state backend llmspell registers."""

from __future__ import annotations

from typing import Any

import pytest

from llmspell.testing.contracts.state import StateContract


class TestMemoryState(StateContract):
    @pytest.fixture
    def state_config(self) -> dict[str, Any]:
        return {"state": {"backend": "memory"}}


class TestDiskcacheState(StateContract):
    @pytest.fixture
    def state_config(self) -> dict[str, Any]:
        return {"state": {"backend": "diskcache"}}
