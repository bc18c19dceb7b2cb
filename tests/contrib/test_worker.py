"""``llmspell worker``: setup functions, a clean stop on SIGTERM, and no triggers at all."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path

from llmspell import Kernel
from tests.contrib._scenarios import process_env, spawn, wait_line, write_config
from tests.contrib._services import REDIS_URL

SETUP = Path(__file__).with_name("_setup_jobs.py")


def test_a_worker_without_triggers_says_how_to_add_them(tmp_path: Path) -> None:
    config = write_config(tmp_path / "w.toml", {"data_dir": str(tmp_path / "d")})
    proc = spawn([sys.executable, "-m", "llmspell.plugins.cli", "-c", str(config), "worker"])
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "no triggers are registered" in err and "--setup" in err


def test_setup_functions_add_triggers_and_sigterm_stops_after_the_work(tmp_path: Path, redis_prefix: str) -> None:
    config = {"data_dir": str(tmp_path / "worker"), "events": {"backend": "memory", "transport": "redis"},
              "state": {"backend": "memory"}, "sessions": {"backend": "memory"},
              "redis": {"url": REDIS_URL, "prefix": redis_prefix}}
    path = write_config(tmp_path / "w.toml", config)
    handled = tmp_path / "handled.txt"
    proc = spawn([sys.executable, "-m", "llmspell.plugins.cli", "-c", str(path), "worker", "--json",
                  "--setup", f"{SETUP}:setup"], process_env(LLMSPELL_TEST_HANDLED=str(handled)))
    ready = json.loads(wait_line(proc, '{"event": "ready"'))
    assert ready["groups"] == ["setup-jobs"] and ready["transport"] == "redis" and ready["triggers"] == ["record"]

    async def publish() -> None:
        async with Kernel(write_config(tmp_path / "p.toml", {**config, "data_dir": str(tmp_path / "pub")})) as k:
            for n in range(50):
                await k.events.publish("job.created", {"n": n})

    asyncio.run(publish())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not handled.exists() or len(handled.read_text().split()) < 50):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    stopped = json.loads(out.strip().splitlines()[-1])
    assert stopped["event"] == "stopped" and stopped["triggers"]["record"] == {"fired": 50, "errors": 0}
    assert sorted(int(n) for n in handled.read_text().split()) == list(range(50))
