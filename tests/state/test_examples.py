"""The state examples run as scripts, and remember between runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run(script: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMSPELL_")}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_state_basics_runs_and_persists(tmp_path: Path) -> None:
    first = _run("state_basics.py", tmp_path)
    assert "visit number 1 (version 1)" in first
    assert "conflict on 'theme'" in first and "current value {'dark': True}" in first
    assert "profile: Profile(name='Ada', languages=('en', 'fr'))" in first
    assert "tags: ['python', 'agents']" in first
    assert "watched: [('draft.title', 1)]" in first
    assert "temp keys during the invocation: ['partial']" in first
    assert "keys of user u1: ['draft.title', 'profile', 'tags', 'theme', 'visits']" in first
    assert "visit number 2 (version 2)" in _run("state_basics.py", tmp_path)
    assert (tmp_path / ".llmspell" / "state" / "cache.db").is_file()


def test_state_migrations_runs_and_remembers(tmp_path: Path) -> None:
    first = _run("state_migrations.py", tmp_path)
    assert "read as schema 3: {'name': 'ada', 'languages': []}" in first
    assert "the agent has run 1 time(s) in total" in first
    assert "the agent has run 2 time(s) in total" in _run("state_migrations.py", tmp_path)
