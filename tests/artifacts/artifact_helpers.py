"""Shared helpers of the artifact tests (importable: ``from artifact_helpers import ...``)."""

from __future__ import annotations

from typing import Any

from llmspell import Kernel
from llmspell.plugins.events.api import Event

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


def blob_files(kernel: Kernel) -> list[Any]:
    root = kernel.data_dir / "artifacts" / "store" / "blobs"
    return sorted(p for p in root.rglob("*") if p.is_file())
