"""The diskcache log shared by real OS processes: ordering, idempotence, crashes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from llmspell.plugins.events._disklog import DiskcacheEventLog
from llmspell.plugins.events.api import Event
from llmspell.plugins.events.backend import EventCodec

pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("_log_worker.py")


def start(mode: str, directory: Path, go: Path, *args: Any) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), mode, str(directory), str(go), *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "ready", proc.stderr.read() if proc.stderr else line
    return proc


def finish(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.strip() == "done"


async def read_all(directory: Path, stream: str) -> list[Event]:
    log = DiskcacheEventLog(directory)
    await log.open()
    try:
        return await log.read(stream)
    finally:
        await log.close()


async def test_four_processes_append_to_one_stream_without_gaps(tmp_path: Path) -> None:
    go = tmp_path / "go"
    procs = [start("append", tmp_path / "log", go, w, 2000) for w in range(4)]
    go.touch()
    finish(procs)
    events = await read_all(tmp_path / "log", "shared")
    assert [e.seq for e in events] == list(range(1, 8001))
    assert len({e.id for e in events}) == 8000
    assert Counter(e.payload["w"] for e in events) == {0: 2000, 1: 2000, 2: 2000, 3: 2000}
    for w in range(4):  # each process's events keep its order
        assert [e.payload["i"] for e in events if e.payload["w"] == w] == list(range(2000))


async def test_the_same_events_from_two_processes_are_stored_once(tmp_path: Path) -> None:
    codec = EventCodec()
    events = [Event("test.same", {"i": i}, stream="dup") for i in range(300)]
    (tmp_path / "events.json").write_text(json.dumps([codec.envelope(e, position=True) for e in events]))
    go = tmp_path / "go"
    procs = [start("same", tmp_path / "log", go, tmp_path / "events.json") for _ in range(2)]
    go.touch()
    finish(procs)
    stored = await read_all(tmp_path / "log", "dup")
    assert [e.seq for e in stored] == list(range(1, 301))
    assert sorted(e.id for e in stored) == sorted(e.id for e in events)
    # Appending them once more from this process changes nothing either.
    log = DiskcacheEventLog(tmp_path / "log")
    await log.open()
    result = await log.append(events)
    assert result.duplicates == {e.id for e in events}
    assert await log.last_seq("dup") == 300
    await log.close()


async def test_sigkill_during_appends_leaves_a_gapless_readable_log(tmp_path: Path) -> None:
    directory = tmp_path / "log"
    log = DiskcacheEventLog(directory)
    await log.open()
    try:
        target = 0
        for round_ in range(3):
            go = tmp_path / f"go{round_}"
            proc = start("forever", directory, go)
            go.touch()
            target += 400
            for _ in range(6000):
                if await log.last_seq("crash") >= target:
                    break
                await asyncio.sleep(0.01)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            assert proc.returncode == -signal.SIGKILL
            events = await log.read("crash")
            assert [e.seq for e in events] == list(range(1, len(events) + 1))
            assert len(events) >= target
            batched = [e for e in events if e.type == "test.batch"]
            batches = Counter((e.payload["pid"], e.payload["batch"]) for e in batched)
            sizes = {(e.payload["pid"], e.payload["batch"]): e.payload["size"] for e in batched}
            assert all(batches[key] == sizes[key] for key in batches), "a batch was stored in part"
            # The log takes new appends after the crash.
            after = await log.append([Event("test.after", {"round": round_}, stream="crash")])
            assert after.events[0].seq == len(events) + 1
            target = after.events[0].seq
    finally:
        await log.close()
