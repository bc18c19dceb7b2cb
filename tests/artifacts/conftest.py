"""Fixtures for the artifact tests: kernels over each backend pair, captured events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from llmspell import Kernel, hookimpl
from llmspell.plugins.events.api import EventService

from .artifact_helpers import CapturedEvents


class CapturePlugin:
    def __init__(self, capture: CapturedEvents) -> None:
        self.capture = capture

    @hookimpl
    def llmspell_register_services(self, kernel: Any, register: Any) -> None:
        register(EventService, self.capture)


@pytest.fixture
def events() -> CapturedEvents:
    return CapturedEvents()


@pytest.fixture(params=["filesystem", "memory"])
def backend(request: pytest.FixtureRequest) -> dict[str, str]:
    """Both backend pairs: filesystem + sqlite (the defaults) and memory + memory."""
    if request.param == "filesystem":
        return {"backend": "filesystem", "metadata": "sqlite"}
    return {"backend": "memory", "metadata": "memory"}


@pytest.fixture
def start_kernel(make_kernel: Callable[..., Kernel], events: CapturedEvents) -> Callable[..., Any]:
    """``await start_kernel(**artifacts_settings)``: a started kernel with captured events."""

    async def start(**settings: Any) -> Kernel:
        settings.setdefault("gc_grace_seconds", 0)
        kernel = make_kernel({"artifacts": settings}, plugins=[CapturePlugin(events)], disable=["events"])
        return await kernel.start()

    return start


@pytest_asyncio.fixture
async def akernel(start_kernel: Callable[..., Any], backend: dict[str, str]) -> AsyncIterator[Kernel]:
    kernel = await start_kernel(**backend)
    try:
        yield kernel
    finally:
        await kernel.stop()


@pytest_asyncio.fixture
async def fskernel(start_kernel: Callable[..., Any]) -> AsyncIterator[Kernel]:
    kernel = await start_kernel()
    try:
        yield kernel
    finally:
        await kernel.stop()
