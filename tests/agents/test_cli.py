"""``llmspell run`` and ``llmspell chat``, as real processes (chat through a pseudo-terminal)."""

from __future__ import annotations

import json
import re
import subprocess

import pexpect  # in the dev extra: a missing one is an error, not a silent skip
import pytest


@pytest.fixture
def cli(llmspell_env, tmp_path):
    def run(*args, check=True):
        return subprocess.run(["llmspell", "--data-dir", str(tmp_path / "data"), *args], env=llmspell_env, cwd=tmp_path,
                              capture_output=True, text=True, check=check, timeout=120)

    return run


def test_run_prints_the_answer(cli):
    assert cli("run", "tool", "what is 12*12?", "--tool", "calculator").stdout.strip() == "calculator returned 144."
    assert cli("run", "chat", "hi", "--set", 'system="Be terse."', "--set", "max_steps=2").stdout.startswith("(offline")


def test_run_json_and_stream(cli):
    data = json.loads(cli("run", "chat", "my name is Ada", "--json").stdout)
    assert data["agent"] == "chat" and data["content"] == "Nice to meet you, Ada."
    streamed = cli("run", "chat", "hello there", "--stream").stdout
    assert "You said: hello there" in streamed


def test_run_errors_are_one_clear_line(cli):
    done = cli("run", "nosuchtype", "hi", check=False)
    assert done.returncode == 1
    assert "unknown agent type 'nosuchtype'; registered:" in done.stderr
    assert "Traceback" not in done.stderr


def test_run_in_a_session_keeps_the_conversation(cli):
    first = cli("run", "chat", "my name is Ada", "--new-session")
    session = re.search(r"session: (\S+)", first.stderr).group(1)
    assert cli("run", "chat", "what is my name?", "--session", session).stdout.strip() == "Your name is Ada."
    bad = cli("run", "chat", "hi", "--set", "max_steps", check=False)
    assert bad.returncode == 2 and "'max_steps' is not key=value" in bad.stderr


def spawn(tmp_path, env, *args):
    child = pexpect.spawn("llmspell", ["--data-dir", str(tmp_path / "data"), "chat", *args], env=env, cwd=str(tmp_path),
                          encoding="utf-8", timeout=60, dimensions=(40, 200))
    return child


def test_chat_repl_two_turns_quit_and_resume(tmp_path, llmspell_env):
    env = {**llmspell_env, "TERM": "dumb"}
    child = spawn(tmp_path, env, "--user", "u1")
    child.expect(r"session (\S+)\r?\n")
    session = child.match.group(1)
    child.expect("you> ")
    child.sendline("my name is Ada")
    child.expect(r"assistant> Nice to meet you, Ada\.")
    child.expect("you> ")
    child.sendline("what is my name?")
    child.expect(r"assistant> Your name is Ada\.")
    child.expect("you> ")
    child.sendline("/state")
    child.expect(r"chat/chat = \[")
    child.expect("you> ")
    child.sendline("/session")
    child.expect(re.escape(f"session {session}"))
    child.expect("you> ")
    child.sendline("/events")
    child.expect("you> ")
    if "agent.run.finished" not in child.before and "no event service" not in child.before:
        pytest.fail(f"/events printed neither events nor a notice: {child.before!r}")
    child.sendline("/quit")
    child.expect(re.escape(f"bye; resume with: llmspell chat chat --session {session}"))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

    again = spawn(tmp_path, env, "--session", session, "--user", "u1")
    again.expect(r"resuming: 4 earlier messages")
    again.expect(r"user: my name is Ada")
    again.expect(r"assistant: Your name is Ada\.")
    again.expect("you> ")
    again.sendline("what is my name?")
    again.expect(r"assistant> Your name is Ada\.")
    again.expect("you> ")
    again.sendeof()
    again.expect(pexpect.EOF)
    again.close()
    assert again.exitstatus == 0
