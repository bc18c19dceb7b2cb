"""The OpenAI Agents SDK's own session tests, run on the llmspell session by scripts/peer_tests.py.

The script downloads the SDK's released sources (the installed version) from the package
index; without the index the test is skipped, saying so. Every test of the SDK's that
fails must be one the script lists as a design difference (a test of SQLite internals).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("agents")

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "peer_tests.py"


@pytest.mark.slow
def test_the_sdks_session_tests_pass_on_the_memory_backend(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--peer", "openai-agents", "--backend", "memory", "--json", str(out)],
        capture_output=True, text=True, timeout=900,
    )
    if done.returncode == 3:
        pytest.skip(f"the package index is not reachable: {done.stderr.strip()[-300:]}")
    assert done.returncode == 0, done.stdout + done.stderr
    row = json.loads(out.read_text())["openai-agents"]["memory"]
    assert row["passed"] >= 54 and row["skipped"] == 0
    assert sorted(row["differences"]) == row["failing"] and len(row["failing"]) == row["failed"] == 17
