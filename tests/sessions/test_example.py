"""examples/sessions_basics.py runs, twice on one data directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sessions_basics.py"


def test_example_runs_and_remembers(tmp_path, llmspell_env):
    def run():
        return subprocess.run(
            [sys.executable, str(EXAMPLE), str(tmp_path / "data")],
            env=llmspell_env, capture_output=True, text=True, check=True, cwd=tmp_path,
        ).stdout

    first = run()
    assert "sessions of ada from earlier runs: 0" in first
    assert "original still Lisbon" in first and "resumed: active" in first
    assert "refused: session" in first and "allowed from 'active'" in first
    second = run()
    assert "sessions of ada from earlier runs: 2" in second
