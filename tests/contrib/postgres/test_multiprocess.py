"""Many OS processes on one PostgreSQL schema: counters, sequences, cross-process delivery."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from llmspell import Kernel

from .pg import DSN, pg_config, pg_schema  # noqa: F401 - a fixture

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

WORKER = Path(__file__).with_name("_worker.py")


def empty_env(tmp_path: Path) -> dict[str, str]:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    return {"LLMSPELL_CONFIG": str(empty)}


def start(mode: str, schema: str, data_dir: Path, go: Path, *args: Any) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), mode, DSN, schema, str(data_dir), str(go), *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "ready", (proc.stderr.read() if proc.stderr else "") + line
    return proc


def finish(procs: list[subprocess.Popen[str]], timeout: float = 240) -> list[str]:
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err
        outs.append(out.strip())
    return outs


async def test_eight_processes_update_one_counter(tmp_path: Path, pg_schema: str) -> None:  # noqa: F811
    go = tmp_path / "go"
    procs = [start("update", pg_schema, tmp_path / f"d{i}", go, 250) for i in range(8)]  # 8 contend throughout
    go.touch()
    assert finish(procs) == ["done"] * 8
    config = {"state": {"backend": "postgres"}, **pg_config(pg_schema)}
    async with Kernel(config, data_dir=tmp_path / "check", env=empty_env(tmp_path)) as kernel:
        item = await kernel.state.scope("app", "mp").get_versioned("counter")
    assert item is not None and item.value == 2000 and item.version == 2000


async def test_four_processes_append_to_one_stream_without_gaps(tmp_path: Path, pg_schema: str) -> None:  # noqa: F811
    go = tmp_path / "go"
    procs = [start("append", pg_schema, tmp_path / f"d{w}", go, w, 1000) for w in range(4)]
    go.touch()
    assert finish(procs) == ["done"] * 4
    config = {"events": {"backend": "postgres"}, **pg_config(pg_schema)}
    kernel = Kernel(config, data_dir=tmp_path / "check", env=empty_env(tmp_path))
    log = kernel.create_backend("event_backend", "postgres")
    await log.open()
    try:
        events = await log.read("shared")
        assert await log.last_seq("shared") == 4000
    finally:
        await log.close()
    assert [e.seq for e in events] == list(range(1, 4001))
    assert len({e.id for e in events}) == 4000
    assert Counter(e.payload["w"] for e in events) == {0: 1000, 1: 1000, 2: 1000, 3: 1000}
    for w in range(4):  # each writer's events keep their order in the stream
        assert [e.payload["i"] for e in events if e.payload["w"] == w] == list(range(1000))


def test_listen_notify_delivers_in_order_across_processes(tmp_path: Path, pg_schema: str) -> None:  # noqa: F811
    """Two listener processes each receive, in order, all 300 events a third process publishes
    (every 50th one is larger than a notification can carry and goes through the spill table)."""
    go = tmp_path / "go"
    listeners = [start("listen", pg_schema, tmp_path / f"l{i}", go, 300) for i in range(2)]
    publisher = start("publish", pg_schema, tmp_path / "p", go, 300)
    go.touch()
    assert finish([publisher]) == ["done"]
    for out in finish(listeners):
        assert json.loads(out) == list(range(300))


