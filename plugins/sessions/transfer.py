"""Export and import of sessions, and the report behind ``llmspell sessions show``."""

from __future__ import annotations

from typing import Any

import click

from llmspell import serde


async def describe(kernel: Any, session_id: str, last: int) -> dict[str, Any]:
    async with kernel:
        session = await kernel.sessions.get(session_id)
        report: dict[str, Any] = {"session": serde.unstructure(session)}
        return report


def register_transfer_commands(group: click.Group) -> None:
    pass
