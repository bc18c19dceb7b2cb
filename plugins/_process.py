"""Which process holds something (a session's lease, a run), and whether it still runs.

A holder is named by host, pid and the pid's start time; on the same host a holder whose
pid is gone, or whose pid now belongs to a later process, has ended. On another host
nothing can be told from here (leases expire for that).
"""

from __future__ import annotations

import os
import socket

__all__ = ["process_start", "this_process", "ended"]


def process_start(pid: int) -> float | None:
    """The start time of ``pid`` (clock ticks since boot on Linux), None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return float(fields[19])
    except FileNotFoundError:
        return None
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return 0.0
    return 0.0


def this_process() -> tuple[str, int, float]:
    """This process as a holder: host, pid, start time (0.0 when unknown)."""
    pid = os.getpid()
    return socket.gethostname(), pid, process_start(pid) or 0.0


def ended(host: str, pid: int, start: float, *, here: str | None = None) -> str | None:
    """Why the holder (``host``, ``pid``, ``start``) has ended, or None while it may run."""
    if host != (here or socket.gethostname()):
        return None
    started = process_start(pid)
    if started is None:
        return f"process {pid} on {host} is gone"
    if start and started and started != start:
        return f"process {pid} on {host} is gone (its pid was reused)"
    return None
