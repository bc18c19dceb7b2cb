"""The interop examples run, and print what they promise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(name: str, data: Path | None, env: dict[str, str]) -> str:
    args = [str(data)] if data else []
    return subprocess.run([sys.executable, str(EXAMPLES / name), *args], env=env, capture_output=True,
                          text=True, check=True, timeout=120).stdout


def run_in_temp(name: str, tmp_path: Path, env: dict[str, str]) -> str:
    """Run without a data directory: the example's temporary one must be gone afterwards."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    out = run(name, None, {**env, "TMPDIR": str(temp)})
    assert not list(temp.iterdir()), "left behind in the temporary directory"
    return out


@pytest.mark.slow
def test_langgraph_example_resumes_in_a_second_run(tmp_path, llmspell_env):
    first = run("interop_langgraph.py", tmp_path / "data", llmspell_env)
    assert "waiting for: ship a teapot?" in first and "order-1 of ann in app langgraph" in first
    second = run("interop_langgraph.py", tmp_path / "data", llmspell_env)
    assert "log: ['approved: yes', 'shipped a teapot']" in second


@pytest.mark.slow
def test_adk_example(tmp_path, llmspell_env):
    out = run_in_temp("interop_adk.py", tmp_path, llmspell_env)
    assert "agent: Noted." in out and "['buy milk']" in out and "ADK sessions of ann: ['s1']" in out
    assert "ADK events in the llmspell log: 4" in out


@pytest.mark.slow
def test_openai_agents_example(tmp_path, llmspell_env):
    out = run_in_temp("interop_openai_agents.py", tmp_path, llmspell_env)
    assert "agent: You are Ann." in out and "items kept: 4" in out and "['chat-1']" in out


@pytest.mark.slow
def test_mcp_example_uses_llmspell_served_over_mcp(tmp_path, llmspell_env):
    out = run_in_temp("interop_mcp.py", tmp_path, llmspell_env)
    assert "calling calc_calculator {'expression': '2 ** 10'}" in out and "agent: 2^10 is 1024." in out
