"""The events example runs as a script and prints what the guide says it prints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[2] / "examples" / "events_basics.py"


def test_events_basics_runs(llmspell_env: dict[str, str]) -> None:
    result = subprocess.run([sys.executable, str(EXAMPLE)], env=llmspell_env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "delivered: ['hello', 'world']; first event is seq 1 of stream 'session-1'"
    assert lines[1] == "reply: AGAIN (caused by note.added seq 3)"
    assert lines[2] == "stream session-1: ['1:note.added', '2:note.added', '3:note.added', '4:note.shouted']"
    assert lines[4] == "rebuilt state: {('user', 'u1', 'theme'): 'dark'}"
    assert lines[5].startswith("workflow output 41; events: ['workflow.started', 'workflow.step'")
    assert lines[6].endswith("errors=0")
