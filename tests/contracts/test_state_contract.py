"""The state conformance suite over every state backend llmspell registers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmspell.contrib.testing.contracts.state import StateContract
from llmspell.plugins.state import DiskcacheStateBackend, MemoryStateBackend


class TestMemoryState(StateContract):
    @pytest.fixture
    def state_backend(self) -> Any:
        return MemoryStateBackend()


class TestDiskcacheState(StateContract):
    @pytest.fixture
    def state_backend(self, tmp_path: Path) -> Any:
        return DiskcacheStateBackend(tmp_path / "state")


def test_every_registered_state_backend_has_a_contract_class(make_kernel: Any) -> None:
    """A state backend that llmspell's own plugins register must get a class above."""
    kernel = make_kernel()
    own = {info.name for info in kernel.plugins
           if info.source == "default" and not (info.module or "").startswith("llmspell.contrib.")}
    registered = {str(r.name) for r in kernel.registry("state_backend") if r.plugin in own}
    assert registered == {"memory", "diskcache"}  # contrib backends: test_<name>_contracts.py
