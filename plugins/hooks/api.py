"""What others read of the hooks plugin: the functions attached to every point, with the
statistics the last kernel recorded (``llmspell hooks`` and the console's Hooks page)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmspell.hooks import POINTS

__all__ = ["STATS_FILE", "describe"]

#: Where a stopping kernel writes its hook statistics, under the data directory.
STATS_FILE = Path("hooks") / "stats.json"


def describe(kernel: Any) -> list[dict[str, Any]]:
    """Every function attached to every point, in call order, with the last recorded stats."""
    recorded: dict[tuple[str, str], dict[str, Any]] = {}
    path = kernel.data_dir / STATS_FILE
    if path.is_file():
        for row in json.loads(path.read_text()).get("hooks", []):
            recorded[(row["point"], row["name"])] = row
    rows = []
    for point in POINTS:
        for entry in kernel.dispatcher.entries(point):
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
