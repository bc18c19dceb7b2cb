"""diskcache without pickle, tuned for a store rather than a cache.

:class:`JSONDisk` accepts only ``bytes``, ``str``, ``int`` and ``float`` keys and values
(the plugins store JSON bytes made by the one converter) and refuses to read anything
stored in pickle mode, so a row planted by someone else is never unpickled.
:func:`open_cache` turns off what a store does not want: eviction, culling, statistics
and the tag index.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import diskcache
from diskcache.core import MODE_PICKLE, UNKNOWN

from llmspell.errors import IntegrityError

__all__ = ["JSONDisk", "open_cache", "STORE_SETTINGS"]

_ALLOWED = (bytes, str, int, float)

#: diskcache settings for a store: nothing is ever evicted or culled behind our back.
STORE_SETTINGS: dict[str, Any] = {
    "eviction_policy": "none",
    "cull_limit": 0,
    "statistics": False,
    "tag_index": False,
    "size_limit": 2**62,
    "sqlite_synchronous": 1,  # NORMAL: durable in WAL mode across process crashes
    "sqlite_journal_mode": "wal",
}


class JSONDisk(diskcache.Disk):
    """A diskcache ``Disk`` that never pickles and never unpickles."""

    def put(self, key: Any) -> tuple[Any, bool]:
        if type(key) not in _ALLOWED or type(key) is bool:
            raise TypeError(f"store keys must be str, bytes, int or float, not {type(key).__name__}")
        return super().put(key)

    def get(self, key: Any, raw: bool) -> Any:
        if not raw:
            raise IntegrityError("refusing to unpickle a diskcache key: the store was written by something else")
        return super().get(key, raw)

    def store(self, value: Any, read: bool, key: Any = UNKNOWN) -> tuple[Any, ...]:
        if not read and (type(value) not in _ALLOWED or type(value) is bool):
            raise TypeError(
                f"store values must be bytes (JSON from the converter), not {type(value).__name__}"
            )
        return super().store(value, read, key=key)

    def fetch(self, mode: int, filename: str | None, value: Any, read: bool) -> Any:
        if mode == MODE_PICKLE:
            raise IntegrityError(
                "refusing to unpickle a value found in the store: it was not written by llmspell"
            )
        return super().fetch(mode, filename, value, read)


def open_cache(directory: str | os.PathLike[str], *, timeout: float = 60, **settings: Any) -> diskcache.Cache:
    """A diskcache ``Cache`` on ``directory`` with :class:`JSONDisk` and store settings.

    ``timeout`` is how many seconds a write waits for another process's lock.
    """
    Path(directory).mkdir(parents=True, exist_ok=True)
    options = {**STORE_SETTINGS, **settings}
    try:
        return diskcache.Cache(str(directory), disk=JSONDisk, timeout=timeout, **options)
    except sqlite3.DatabaseError as exc:
        raise IntegrityError(f"cannot open the store at {directory}: {exc}") from exc
