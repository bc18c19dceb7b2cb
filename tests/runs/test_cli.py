"""``llmspell runs``, as real processes: list, show, decide; errors are one clear line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from llmspell import Kernel

from .agents import script


@pytest.fixture
def cli(llmspell_env: dict[str, str], tmp_path: Path) -> Any:
    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["llmspell", "--data-dir", str(tmp_path / "data"), *args], env=llmspell_env,
                              cwd=tmp_path, capture_output=True, text=True, check=check, timeout=120)

    return run


async def paused(tmp_path: Path, text: str) -> str:
    async with Kernel({"sessions": {"sweep_interval": 0}}, data_dir=tmp_path / "data", env={}) as kernel:
        out = await kernel.run(script(kernel), text)
        assert out.status == "paused"
        return str(out.run_id)


async def test_list_show_answer_and_approve(cli: Any, tmp_path: Path) -> None:
    run_id = await paused(tmp_path, "ask:city pay:3:bob")
    (row,) = json.loads(cli("runs", "list", "--status", "paused", "--json").stdout)["runs"]
    assert (row["id"], row["agent"], [p["id"] for p in row["pending"]]) == (run_id, "script", ["q1"])
    assert json.loads(cli("runs", "list", "--status", "completed", "--json").stdout)["runs"] == []
    decided = json.loads(cli("runs", "answer", run_id, "q1", '"Lyon"', "--by", "ann", "--json").stdout)
    assert decided["status"] == "paused" and decided["pending"] == []
    shown = json.loads(cli("runs", "show", run_id, "--json").stdout)
    (entry,) = [h for h in shown["history"] if h["type"] == "run.decided"]
    assert (entry["by"], entry["data"]["decision"]) == ("ann", {"kind": "answer", "value": "Lyon", "note": ""})
    assert "run.decided by ann" in cli("runs", "show", run_id).stdout


async def test_errors_are_one_clear_line(cli: Any, tmp_path: Path) -> None:
    run_id = await paused(tmp_path, "pay:3:bob")
    for args, message in (
        (("runs", "approve", run_id, "p9"), "item 'p9' is not pending (pending: p1)"),
        (("runs", "answer", run_id, "p1", "3"), "item 'p1' is approval: decide it with Approve, Edit, Reject"),
        (("runs", "show", "nosuchrun"), "no run 'nosuchrun'"),
        (("runs", "resume", run_id), "this kernel has no agent 'script' to run again; pass agent="),
    ):
        done = cli(*args, check=False)
        assert done.returncode == 1, done
        assert message in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert cli("runs", "approve", run_id, "p1").returncode == 0
    done = cli("runs", "approve", run_id, "p1", check=False)
    assert "item 'p1' is already decided" in done.stderr
