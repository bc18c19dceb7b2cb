"""Multi-process scenarios shared by the Redis and NATS tests.

Each scenario takes the backend-specific config (a dict of TOML tables) and runs real OS
processes against the real server: ``llmspell worker`` processes, and the helpers in
:mod:`tests.contrib._procs`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from llmspell import Kernel

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = Path(__file__).with_name("_handlers.py")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def write_config(path: Path, config: dict[str, Any]) -> Path:
    """Write ``config`` (top-level keys, then one level of tables) as a TOML file."""
    lines = [f"{k} = {toml_value(v)}" for k, v in config.items() if not isinstance(v, dict)]
    for table, values in config.items():
        if isinstance(values, dict):
            lines.append(f"\n[{table}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def process_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMSPELL_")}
    env["PYTHONPATH"] = os.environ.get("PYTHONPATH_DEBUG", "") + str(ROOT)
    env.update(extra)
    return env


def spawn(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(args, cwd=ROOT, env=env or process_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def helper(command: str, config: Path, *args: Any) -> subprocess.Popen[str]:
    return spawn([sys.executable, "-m", "tests.contrib._procs", command, str(config), *map(str, args)])


def wait_line(proc: subprocess.Popen[str], startswith: str, timeout: float = 60) -> str:
    """Read ``proc``'s stdout until a line starting with ``startswith``; fail with its stderr."""
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(startswith):
            return line
        if not line and proc.poll() is not None:
            break
    proc.kill()
    _, err = proc.communicate(timeout=10)
    raise AssertionError(f"process never printed {startswith!r}; stderr:\n{err[-3000:]}")


def result(proc: subprocess.Popen[str], timeout: float = 120) -> Any:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"process failed ({proc.returncode}):\n{err[-3000:]}"
    return json.loads(out.strip().splitlines()[-1])


def base_config(tmp_path: Path, name: str, backend_tables: dict[str, Any]) -> dict[str, Any]:
    data = tmp_path / f"data-{name}"
    return {
        "data_dir": str(data),
        "state": {"backend": "memory"},
        "sessions": {"backend": "memory"},
        "events": {"backend": "memory", "transport": "local"},
        **backend_tables,
    }


# -- many processes, one store ---------------------------------------------------------


def concurrent_updates(tmp_path: Path, config: dict[str, Any], processes: int = 8, times: int = 250) -> None:
    path = write_config(tmp_path / "update.toml", config)
    procs = [helper("update", path, "visits", times) for _ in range(processes)]
    finals = [result(p, timeout=300) for p in procs]
    assert max(finals) == processes * times

    async def read() -> Any:
        async with Kernel(path) as kernel:
            return await kernel.state.scope("app", "counters").get("visits")

    assert asyncio.run(read()) == processes * times


def concurrent_appends(tmp_path: Path, config: dict[str, Any], processes: int = 4, times: int = 1000) -> None:
    path = write_config(tmp_path / "append.toml", config)
    stream = "shared-stream"
    procs = [helper("append", path, stream, times, w) for w in range(processes)]
    per_writer = [result(p, timeout=300) for p in procs]
    total = processes * times
    assert sorted(s for seqs in per_writer for s in seqs) == list(range(1, total + 1))

    async def read() -> list[Any]:
        async with Kernel(path) as kernel:
            return [e async for e in kernel.events.read(stream)]

    events = asyncio.run(read())
    assert [e.seq for e in events] == list(range(1, total + 1))
    assert len({e.id for e in events}) == total
    for writer in range(processes):  # each writer's events in the order it wrote them
        mine = [e.payload["i"] for e in events if e.payload["w"] == writer]
        assert mine == list(range(times))


# -- the bus across processes ------------------------------------------------------------


def cross_process_delivery(tmp_path: Path, config: dict[str, Any], count: int = 500) -> None:
    path = write_config(tmp_path / "bus.toml", config)
    listener = helper("listen", path, "note.*", count)
    wait_line(listener, "ready")

    async def publish() -> None:
        async with Kernel(path, data_dir=tmp_path / "publisher") as kernel:
            for n in range(count):
                await kernel.events.publish("note.added", {"n": n})

    asyncio.run(publish())
    assert result(listener) == list(range(count))


# -- work sharing -----------------------------------------------------------------------


def start_workers(tmp_path: Path, config: dict[str, Any], delays: list[float], stall: list[int]) -> list[Any]:
    """``llmspell worker`` processes; worker ``w`` spends ``delays[w]`` seconds on each job
    and hangs in the job after its ``stall[w]``-th (0: never)."""
    workers = []
    for w, delay in enumerate(delays):
        cfg = {**config, "data_dir": str(tmp_path / f"worker-{w}"), "plugins": {"load": [str(HANDLERS)]}}
        path = write_config(tmp_path / f"worker-{w}.toml", cfg)
        handled = tmp_path / f"handled-{w}.txt"
        env = process_env(LLMSPELL_TEST_HANDLED=str(handled), LLMSPELL_TEST_DELAY=str(delay),
                          LLMSPELL_TEST_STALL_AFTER=str(stall[w]))
        proc = spawn([sys.executable, "-m", "llmspell.plugins.cli", "-c", str(path), "worker", "--json"], env)
        workers.append((proc, handled))
    for proc, _ in workers:
        ready = json.loads(wait_line(proc, '{"event": "ready"'))
        assert ready["groups"] == ["jobs"]
    return workers


def handled(workers: list[Any], what: str = "done") -> list[list[int]]:
    """Per worker, the jobs whose handler finished (``done``) or started (``took``)."""
    out = []
    for _, path in workers:
        lines = path.read_text().splitlines() if path.exists() else []
        out.append([int(line.split()[1]) for line in lines if line.startswith(what + " ")])
    return out


def work_sharing(tmp_path: Path, config: dict[str, Any], *, jobs: int = 3000, kill: bool = False) -> None:
    """3 ``llmspell worker`` processes share ``jobs`` triggered events through one group.

    Without ``kill`` every job is handled exactly once and by more than one worker. With
    ``kill`` the first worker gets stuck in its 21st job and is SIGKILLed there, holding a
    batch it took but did not finish: nothing is lost, the job it was in is done by the
    others, and the only jobs handled twice are ones it had finished without
    acknowledging them.
    """
    if kill:
        workers = start_workers(tmp_path, config, [0.002] * 3, [20, 0, 0])
    else:
        workers = start_workers(tmp_path, config, [0.0] * 3, [0, 0, 0])
    try:
        path = write_config(tmp_path / "publisher.toml", {**config, "data_dir": str(tmp_path / "publisher")})

        async def publish() -> None:
            async with Kernel(path) as kernel:
                for start in range(0, jobs, 500):
                    await kernel.events.publish_many([("job.created", {"n": n}) for n in range(start, start + 500)])

        asyncio.run(publish())
        deadline = time.monotonic() + 120
        killed = False
        while time.monotonic() < deadline:
            seen = handled(workers)
            if kill and not killed and len(handled(workers, "took")[0]) > 20:  # stuck in a job
                workers[0][0].send_signal(signal.SIGKILL)
                workers[0][0].wait(10)
                killed = True
            if len({n for part in seen for n in part}) == jobs and (killed or not kill):
                break
            time.sleep(0.1)
        time.sleep(0.5)  # let any late duplicate show up before counting
        seen = handled(workers)
        counts = Counter(n for part in seen for n in part)
        assert set(counts) == set(range(jobs)), f"lost jobs: {sorted(set(range(jobs)) - set(counts))[:20]}"
        twice = {n for n, c in counts.items() if c > 1}
        if kill:
            assert killed
            in_hand = set(handled(workers, "took")[0]) - set(seen[0])
            assert in_hand, "the worker was not killed in the middle of its work"
            assert in_hand <= set(seen[1]) | set(seen[2]), "work the killed worker held was not redelivered"
            assert twice <= set(seen[0]), "only jobs the killed worker handled may be handled again"
            # Redelivered: only work it held unacknowledged (a batch is acknowledged once
            # handled). Under load two batches have been seen in hand at the kill (18 of 16).
            batch = int(config.get("redis", config.get("nats", {})).get("group_batch", 64))
            assert len(twice) <= 2 * batch, (len(twice), len(seen[0]), sorted(twice)[:40])
            assert len(seen[1]) + len(seen[2]) >= jobs - len(seen[0])
        else:
            assert not twice, f"handled more than once: {sorted(twice)[:20]}"
            assert sum(1 for part in seen if part) >= 2, "the work was not shared"
    finally:
        for proc, _ in workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in workers:
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
    if not kill:
        for proc, _ in workers:
            assert proc.returncode == 0
