"""Helpers of the SIGKILL tests: backends, a worker process killed at a chosen moment, delays.

A test runs an operation in a real process (:mod:`tests._kill_worker`) once to time it,
then again and again, killing the process with SIGKILL after a delay spread over that
time, and checks after every kill what another process sees.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.contrib._services import REDIS_URL, drop_redis_prefix, new_prefix, require

__all__ = ["KILLS", "backend_config", "run", "delays", "kill_points"]

WORKER = Path(__file__).with_name("_kill_worker.py")
KILLS = int(os.environ.get("LLMSPELL_TEST_KILLS", "20"))


@pytest.fixture(params=["diskcache", "redis", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend_config(request: pytest.FixtureRequest) -> Any:
    """Sessions and state on each backend; events and artifacts embedded."""
    base: dict[str, Any] = {"sessions": {"sweep_interval": 0}}
    if request.param == "diskcache":
        yield base
    elif request.param == "redis":
        require(REDIS_URL, "Redis")
        prefix = new_prefix()
        yield {**base, "redis": {"url": REDIS_URL, "prefix": prefix},
               "sessions": {**base["sessions"], "backend": "redis"}, "state": {"backend": "redis"}}
        drop_redis_prefix(prefix)
    else:
        from tests.contrib.postgres.pg import drop_schema, new_schema, pg_config, require_server

        require_server()
        schema = new_schema()
        yield {**base, **pg_config(schema), "sessions": {**base["sessions"], "backend": "postgres"},
               "state": {"backend": "postgres"}}
        drop_schema(schema)


def run(data: Path, config: Any, env: dict[str, str], op: str, arg: str, delay: float | None) -> float | None:
    """Run ``op`` in a fresh process; kill it ``delay`` seconds after it starts (None: let it finish).

    Returns how long the operation took when it finished.
    """
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), str(data), json.dumps(config), op, arg],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        assert line.strip() == "go", line + proc.stderr.read()
        if delay is None:
            done = proc.stdout.readline()
            assert done.startswith("done"), done + proc.stderr.read()
            return float(done.split()[1])
        time.sleep(delay)
        return None
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)


def delays(duration: float) -> list[float]:
    """``KILLS`` delays spread evenly (with jitter) over a little more than ``duration``."""
    span = duration * 1.2
    out = [span * (i + random.random()) / KILLS for i in range(KILLS)]
    random.shuffle(out)
    return out


def kill_points(duration: float, done: Callable[[], bool]) -> Iterator[float]:
    """``KILLS`` delays over the operation's measured time, then, while ``done()`` is false,
    up to ``KILLS`` more reaching three times it: a loaded machine stretches the operation,
    and the kills must still land on both sides of its commit."""
    yield from delays(duration)
    for i in range(KILLS):
        if done():
            return
        yield duration * (1.2 + 1.8 * (i + random.random()) / KILLS)
