"""examples/hooks_and_callbacks.py runs and shows every kind of hook result."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hooks_and_callbacks.py"


def test_example(tmp_path, llmspell_env):
    env = {k: v for k, v in llmspell_env.items() if k != "LLMSPELL_CONFIG"}
    out = subprocess.run(
        [sys.executable, str(EXAMPLE), str(tmp_path / "demo")], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "the agent saw: 'my password is [redacted]'" in out
    assert "cancelled: hook 'guardrail' cancelled agent_before: destructive request" in out
    assert "answered from the cache: '9 to 5, Monday to Friday.'" in out
    assert "audit: tool calculator -> 144" in out
    assert "agent_after ran 2 times" in out
    assert "broken hook: 3 calls, 3 errors, breaker open, 2 calls skipped while open" in out
