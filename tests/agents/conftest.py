"""Fixtures for the agent tests: a started kernel with the echo agent type."""

from __future__ import annotations

import pytest
import pytest_asyncio

from .agent_helpers import EchoPlugin


@pytest_asyncio.fixture
async def kernel(make_kernel):
    async with make_kernel({"agents": {"deadline": 0}}, plugins=[EchoPlugin()]) as k:
        yield k


@pytest.fixture
def offline(kernel):
    """The kernel's offline model provider (script it per test)."""
    return kernel.agents.provider("offline")
