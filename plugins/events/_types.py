"""Registering the typed system events of :mod:`llmspell.plugins.events.api`."""

from __future__ import annotations

from typing import Any

from .api import FAMILIES, SYSTEM_TYPES


def _summary(cls: type) -> str:
    lines = (cls.__doc__ or "").strip().splitlines()
    return lines[0] if lines else ""


def register_types(register: Any) -> None:
    """Register the families and the typed system events."""
    for pattern, cls in FAMILIES.items():
        register(pattern, cls, description=_summary(cls))
    for name, cls in SYSTEM_TYPES.items():
        register(name, cls, description=_summary(cls))
