"""Time-ordered unique ids (UUIDv7, RFC 9562).

Ids sort by creation time across processes (millisecond precision) and strictly
increase within one process: inside one millisecond a 12-bit counter in ``rand_a``
orders them, and when it overflows the timestamp is advanced by one millisecond.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

__all__ = ["new_id", "id_time_ms"]

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_id() -> str:
    """A new UUIDv7 as its canonical 36-character string."""
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            _counter += 1
            if _counter > 0xFFF:
                _last_ms += 1
                _counter = 0
            ms = _last_ms
        else:
            _last_ms = ms
            _counter = int.from_bytes(os.urandom(2), "big") & 0x7FF
        counter = _counter
    rand_b = int.from_bytes(os.urandom(8), "big") & 0x3FFF_FFFF_FFFF_FFFF
    value = (ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | rand_b
    return str(uuid.UUID(int=value))


def id_time_ms(id_: str) -> int:
    """The Unix time in milliseconds encoded in a UUIDv7 string."""
    return uuid.UUID(id_).int >> 80
