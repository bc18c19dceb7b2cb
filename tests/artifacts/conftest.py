"""Fixtures for the artifact tests: kernels over each backend pair, captured events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from llmspell import Event, Kernel, hookimpl
from llmspell.events import EventService

KEY_A = "11" * 32
KEY_B = "22" * 32


class CapturedEvents:
    """A stand-in EventService that records what the kernel publishes."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, event: Any, payload: Any = None, *, source: str = "", **meta: Any) -> Event:
        record = Event(type=event, payload=dict(payload or {}), source=source)
        self.events.append(record)
        return record

    def of(self, type_: str) -> list[Event]:
        return [e for e in self.events if e.type == type_]


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


def blob_files(kernel: Kernel) -> list[Any]:
    root = kernel.data_dir / "artifacts" / "store" / "blobs"
    return sorted(p for p in root.rglob("*") if p.is_file())
