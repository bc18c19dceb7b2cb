"""The artifacts example runs as a script and prints what the guide says it prints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "artifacts_basics.py"


def test_artifacts_basics_runs(llmspell_env: dict[str, str], tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, env=llmspell_env, cwd=tmp_path, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "saved artifact:session/session-1/report.md@1" in out
    assert "loaded # Q1" in out
    assert "versions [1, 2]" in out
    assert "streamed 4194304 bytes, sha256 ok: True" in out
    assert "denied: user:bob may not read artifact:session/session-1/report.md" in out
    assert "after grant bob reads" in out
    assert "copy shares the blob: True" in out
    assert "in 1 blob(s)" in out
