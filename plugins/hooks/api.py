"""What users and other plugins use of the hooks plugin.

The kernel runs plugin hooks by itself (:mod:`llmspell.hooks`); this plugin adds runtime
hooks and callbacks (``kernel.hooks``, ``kernel.callbacks``, ``agent.callbacks``), the
``[hook_policy]`` (isolation, statistics, circuit breakers, retries), observers
(``kernel.dispatcher.add_observer``, ``LLMSPELL_DEBUG=1``), ``[[hooks]]`` in the
configuration, and the ``llmspell hooks`` listing. Before this plugin held them they were
importable from ``llmspell.hooks`` and ``llmspell.observe``; import them from here.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmspell.hooks import POINTS, TRYFIRST, TRYLAST, HookCall

from ._breakers import HookPolicy, HookStats
from ._callbacks import CallbackSet, HookHandle
from ._dispatcher import Dispatcher
from ._observers import NOTHING, OUTCOMES, DebugObserver, HookRun, Observer, describe_component

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = [
    "STATS_FILE", "TRYFIRST", "TRYLAST", "CallbackSet", "DebugObserver", "Dispatcher", "HookHandle",
    "HookPolicy", "HookRun", "HookStats", "OUTCOMES", "Observer", "describe", "describe_component",
    "dispatcher_of", "observe",
]

#: Where a stopping kernel writes its hook statistics, under the data directory.
STATS_FILE = Path("hooks") / "stats.json"


def dispatcher_of(kernel: Kernel) -> Dispatcher | None:
    """The kernel's hooks dispatcher, or None when the hooks plugin is blocked."""
    extension = kernel.hook.loop.extension
    return extension if isinstance(extension, Dispatcher) else None


def observe(kernel: Kernel, kind: str, call: HookCall) -> AbstractContextManager[Any]:
    """A unit of work of ``kind`` that observers see (a no-op without observers or this plugin):
    ``with observe(kernel, "run", HookCall("run", ctx=ctx, component=agent)):``."""
    dispatcher = dispatcher_of(kernel)
    return NOTHING if dispatcher is None else dispatcher.observe(kind, call)


def describe(kernel: Kernel) -> list[dict[str, Any]]:
    """Every function attached to every point, in call order, with the last recorded stats."""
    recorded: dict[tuple[str, str], dict[str, Any]] = {}
    path = kernel.data_dir / STATS_FILE
    if path.is_file():
        for row in json.loads(path.read_text()).get("hooks", []):
            recorded[(row["point"], row["name"])] = row
    dispatcher = dispatcher_of(kernel)
    rows = []
    for point in POINTS:
        for entry in dispatcher.entries(point) if dispatcher is not None else kernel.hook.loop.entries(point):
            last = recorded.get((point, entry.name), {})
            rows.append(
                {
                    "point": point,
                    "name": entry.name,
                    "origin": entry.origin,
                    "priority": entry.priority,
                    "wrapper": entry.wrapper,
                    "calls": last.get("calls", 0),
                    "errors": last.get("errors", 0),
                    "slow": last.get("slow", 0),
                    "skipped": last.get("skipped", 0),
                    "total_time": last.get("total_time", 0.0),
                    "breaker": last.get("breaker", "closed"),
                    "last_error": last.get("last_error"),
                }
            )
    return rows
