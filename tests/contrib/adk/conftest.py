from __future__ import annotations

from collections.abc import Iterator

import google.adk  # noqa: F401 - in the dev extra: a missing one is an error, not a silent skip
import pytest

from . import scenario  # noqa: E402


@pytest.fixture
def fixed_platform() -> Iterator[None]:
    """ADK's ids and clock made deterministic for the test, restored afterwards."""
    scenario.deterministic()
    yield
    scenario.reset()
