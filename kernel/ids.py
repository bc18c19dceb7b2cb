"""Time-ordered unique ids (UUIDv7, RFC 9562).

Ids sort by creation time across processes (millisecond precision) and strictly
increase within one process: inside one millisecond a 12-bit counter in ``rand_a``
orders them, and when it overflows the timestamp is advanced by one millisecond.

The 62 random bits come from ``os.urandom``, read a few kilobytes at a time (one
system call per ~400 ids: ids are made on the event hot path); the buffer is dropped in
a forked child so that parent and child never share random bits.
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["new_id", "id_time_ms"]

_lock = threading.Lock()
_last_ms = 0
_counter = 0
_RANDOM_CHUNK = 4096
_random = b""
_random_pos = 0


def _reset_after_fork() -> None:
    global _lock, _random, _random_pos
    _lock = threading.Lock()
    _random = b""
    _random_pos = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def new_id() -> str:
    """A new UUIDv7 as its canonical 36-character string."""
    global _last_ms, _counter, _random, _random_pos
    with _lock:
        ms = time.time_ns() // 1_000_000
        pos = _random_pos
        if pos + 10 > len(_random):
            _random = os.urandom(_RANDOM_CHUNK)
            pos = 0
        _random_pos = pos + 10
        if ms <= _last_ms:
            _counter += 1
            if _counter > 0xFFF:
                _last_ms += 1
                _counter = 0
            ms = _last_ms
        else:
            _last_ms = ms
            _counter = int.from_bytes(_random[pos + 8 : pos + 10], "big") & 0x7FF
        counter = _counter
        rand_b = int.from_bytes(_random[pos : pos + 8], "big") & 0x3FFF_FFFF_FFFF_FFFF
    value = (ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | rand_b
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def id_time_ms(id_: str) -> int:
    """The Unix time in milliseconds encoded in a UUIDv7 string."""
    return int(id_.replace("-", ""), 16) >> 80
