"""Several OS processes on one diskcache directory: no lost update, no torn record."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llmspell import Kernel

sys.path.insert(0, str(Path(__file__).parent))
from _worker import OWNER, is_intact

WORKER = Path(__file__).parent / "_worker.py"
PROCESSES = 8
EACH = 500

pytestmark = pytest.mark.slow


def _spawn(mode: str, data_dir: Path, count: int, go: Path, ack: Path | None = None) -> subprocess.Popen[str]:
    args = [sys.executable, str(WORKER), mode, str(data_dir), str(count), str(go)]
    if ack is not None:
        args.append(str(ack))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMSPELL_")}
    return subprocess.Popen(
        args, cwd=data_dir.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_ready(go: Path, procs: list[subprocess.Popen[str]], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(list(go.parent.glob(go.name + ".ready.*"))) < len(procs):
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"worker exited early: {proc.communicate()}")
        assert time.monotonic() < deadline, "workers did not start"
        time.sleep(0.01)


def _open(make_kernel: Callable[..., Kernel], data_dir: Path) -> Kernel:
    return make_kernel({"state": {"backend": "diskcache"}}, data_dir=data_dir)


def _run_counters(mode: str, tmp_path: Path) -> None:
    data_dir, go = tmp_path / "data", tmp_path / "go"
    procs = [_spawn(mode, data_dir, EACH, go) for _ in range(PROCESSES)]
    _wait_ready(go, procs)
    go.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err


@pytest.mark.parametrize("mode", ["update", "merge"])
def test_eight_processes_count_exactly(mode: str, tmp_path: Path, make_kernel: Callable[..., Kernel]) -> None:
    """8 processes x 500 increments of one counter: ``update`` retries, ``merge`` sets."""
    _run_counters(mode, tmp_path)

    async def read() -> Any:
        async with _open(make_kernel, tmp_path / "data") as kernel:
            return await kernel.state.scope("app", OWNER).get_versioned("counter")

    item = asyncio.run(read())
    assert item is not None
    assert (item.value, item.version) == (PROCESSES * EACH, PROCESSES * EACH)


def _last_acks(ack: Path) -> dict[str, int]:
    last: dict[str, int] = {}
    if ack.exists():
        for line in ack.read_text().splitlines():
            key, _, version = line.partition(" ")
            if version.isdigit():
                last[key] = int(version)
    return last


async def _check_store(kernel: Kernel, acks: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    """Every key readable, intact, at its last acknowledged version or the one after it."""
    versions: dict[str, int] = {}
    async with kernel:
        user = kernel.state.scope("user", OWNER)
        for key in [f"counter{i}" for i in range(4)] + ["plain", "big"]:
            item = await user.get_versioned(key)
            if item is None:
                assert key not in acks, f"{key} was acknowledged but is missing"
                continue
            assert is_intact(item.value), f"{key} is corrupt"
            assert item.value["n"] == item.version, f"{key}: value and version disagree"
            floor = acks.get(key, before.get(key, 0))
            assert floor <= item.version <= floor + 1, (key, floor, item.version)
            versions[key] = item.version
        batch = [i async for i in kernel.state.scope("session", OWNER).scan()]
        if batch:
            assert len(batch) == 20 and len({(i.value["n"], i.version) for i in batch}) == 1, "a torn batch"
            assert all(is_intact(i.value) and i.value["n"] == i.version for i in batch)
            floor = acks.get("batch", before.get("batch", 0))
            assert floor <= batch[0].version <= floor + 1, ("batch", floor, batch[0].version)
            versions["batch"] = batch[0].version
        else:
            assert "batch" not in acks
    return versions


def test_sigkill_mid_write_leaves_every_key_readable(
    tmp_path: Path, make_kernel: Callable[..., Kernel]
) -> None:
    """Kill a writer with SIGKILL at a random moment, 20 times; check the store each time."""
    data_dir = tmp_path / "data"
    rng = random.Random(4)
    before: dict[str, int] = {}
    kills_mid_stream = 0
    for round_ in range(20):
        go, ack = tmp_path / f"go{round_}", tmp_path / f"ack{round_}"
        proc = _spawn("writer", data_dir, 0, go, ack)
        _wait_ready(go, [proc])
        go.touch()
        time.sleep(rng.uniform(0.05, 0.25))
        assert proc.poll() is None, proc.communicate()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        acks = _last_acks(ack)
        kills_mid_stream += bool(acks)
        versions = asyncio.run(_check_store(_open(make_kernel, data_dir), acks, before))
        assert all(versions[k] >= before.get(k, 0) for k in versions), "a committed write was lost"
        print("round", round_, {k: (acks.get(k), versions.get(k)) for k in versions})
        before = {**before, **acks, **versions}
    assert kills_mid_stream >= 15, "the writer was rarely killed while writing"
