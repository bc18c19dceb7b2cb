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
    assert "unknown agent or agent type 'nosuchtype'; registered: cache, chat," in done.stderr
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
    child.expect(r"chat/chat = \{")
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


# -- the commands the examples print ----------------------------------------------------------

EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[2] / "examples"


def printed_commands(script, data, env):
    """Run an example and return the ``llmspell ...`` commands it tells the user to try."""
    import shlex
    import sys

    done = subprocess.run([sys.executable, str(EXAMPLES / script), str(data)], env=env, cwd=EXAMPLES,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    if script == "demo.py":  # a user must not take the canned replies for a real model's
        assert done.stdout.splitlines()[0].startswith("(the answers come from the offline model: canned")
    found = re.findall(r"(llmspell (?:--data-dir|-c) \S+ .+)$", done.stdout, flags=re.MULTILINE)
    assert found, done.stdout
    return [shlex.split(command) for command in found]


@pytest.mark.slow
@pytest.mark.parametrize(("script", "agent", "earlier"), [
    ("agents_chat_memory.py", "helper", "My name is Ada"),
    ("demo.py", "billing", "invoice 1042 charged me twice"),
    ("agents_research.py", None, None),
    ("hooks_and_callbacks.py", None, None),
])
def test_every_command_an_example_prints_works(tmp_path, llmspell_env, script, agent, earlier):
    commands = printed_commands(script, tmp_path / "data", llmspell_env)
    env = {**llmspell_env, "COLUMNS": "250"}
    for command in commands:
        chat = "chat" in command
        done = subprocess.run(command, env=env, cwd=tmp_path, input="what did I say?\n/quit\n" if chat else None,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (command, done.stderr)
        assert done.stdout.strip(), command
        if chat:
            # the agent made in code is rebuilt from the session: same name, same conversation
            assert f"llmspell chat with {agent} (chat)" in done.stdout
            answer = done.stdout.split("you> assistant> ")[1]
            assert answer.startswith("Earlier you said: ") and earlier in answer
            assert f"resume with: llmspell chat {agent} --session" in done.stdout
    assert any("chat" in command for command in commands) == (agent is not None)


def test_chat_and_run_in_a_session_resume_the_agent_that_ran_there(cli, tmp_path, llmspell_env):
    script = """
import asyncio, sys
from llmspell import Kernel

async def main(data_dir):
    async with Kernel(data_dir=data_dir) as kernel:
        session = await kernel.sessions.create()
        helper = kernel.agents.create("chat", name="helper", system="You are terse.")
        await kernel.run(helper, "My name is Ada.", session=session.id)
        print(session.id)
asyncio.run(main(sys.argv[1]))
"""
    import sys

    made = subprocess.run([sys.executable, "-c", script, str(tmp_path / "data")], env=llmspell_env,
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    session = made.stdout.strip()
    data = json.loads(cli("run", "helper", "What is my name?", "--session", session, "--json").stdout)
    assert data["agent"] == "helper" and data["content"] == "Your name is Ada."
    chat = subprocess.run(["llmspell", "--data-dir", str(tmp_path / "data"), "chat", "--session", session],
                          env=llmspell_env, input="/quit\n", capture_output=True, text=True, timeout=120)
    assert chat.returncode == 0, chat.stderr
    assert "llmspell chat with helper (chat)" in chat.stdout
    unknown = cli("run", "helpr", "hi", "--session", session, check=False)
    assert unknown.returncode == 1
    assert "unknown agent or agent type 'helpr'; registered: cache, chat, code, guard, helper," in unknown.stderr


@pytest.mark.slow
def test_agents_describe_has_a_description_for_every_field(cli):
    types = json.loads(cli("agents", "types", "--json").stdout)["types"]
    assert len(types) >= 12
    for row in types:
        schema = json.loads(cli("agents", "describe", row["type"]).stdout)["config_schema"]
        missing = [name for name, field in schema["properties"].items() if not field.get("description")]
        assert not missing, (row["type"], missing)
