"""What a user notices at once on an 80-column terminal: nothing to copy is cut, unknown
names fail like ``sessions show``, headers and messages say what they mean."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import pytest

from llmspell import Kernel


def llmspell(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-c", "from llmspell.plugins.cli import main; main()", *args],
                          env={**env, "COLUMNS": "80"}, capture_output=True, text=True, timeout=120)
    if check:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], str, str]:
    """A data directory with a long-titled session and an artifact in it."""
    import os

    tmp = tmp_path_factory.mktemp("cli80")
    empty = tmp / "empty.toml"
    empty.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMSPELL_")}
    env.update({"LLMSPELL_CONFIG": str(empty), "LLMSPELL_DATA_DIR": str(tmp / "data")})

    async def make() -> tuple[str, str]:
        async with Kernel(env=env) as kernel:
            session = await kernel.sessions.create(user_id="a-user-with-a-long-name", app="an-application",
                                                   title="a title long enough to need folding at eighty columns")
            ref = await kernel.artifacts.save("a-report-with-a-long-name.md", b"# hi", session_id=session.id,
                                              content_type="text/markdown", tags=["research", "report"])
            await kernel.artifacts.save("a-report-with-a-long-name.md", b"# hi again", session_id=session.id)
            return session.id, str(ref)

    session_id, ref = asyncio.run(make())
    return env, session_id, ref


def first_column(table: str) -> str:
    """The text of a rich table's first column, its folded lines joined."""
    cells = [line.split("│")[1].strip() for line in table.splitlines() if line.startswith("│")]
    return "".join(cells)


def test_tables_fit_80_columns_and_never_cut_what_a_user_copies(made: Any) -> None:
    env, session_id, ref = made
    sessions = llmspell(env, "sessions", "list").stdout
    assert session_id in sessions  # whole, on one line
    artifacts = llmspell(env, "artifacts", "ls", "--session", session_id).stdout
    assert first_column(artifacts).replace("@2", "@1") == ref
    for out in (sessions, artifacts):
        assert "…" not in out
        assert max(len(line) for line in out.splitlines()) <= 80
    assert json.loads(llmspell(env, "sessions", "list", "--json").stdout)["sessions"][0]["id"] == session_id


def test_unknown_stream_and_unknown_session_do_not_exist(made: Any) -> None:
    env, _, _ = made
    shown = llmspell(env, "sessions", "show", "no-such-session", check=False)
    replay = llmspell(env, "events", "replay", "no-such-session", check=False)
    listed = llmspell(env, "artifacts", "ls", "--session", "no-such-session", check=False)
    assert shown.returncode == replay.returncode == listed.returncode == 1
    assert shown.stderr == listed.stderr == "error: session 'no-such-session' does not exist (never created, or deleted)\n"
    assert replay.stderr == "error: stream 'no-such-session' does not exist (no event was ever appended to it)\n"


def test_artifact_versions_have_a_header(made: Any) -> None:
    env, session_id, _ = made
    lines = llmspell(env, "artifacts", "versions", "a-report-with-a-long-name.md", "--session", session_id).stdout.splitlines()
    assert lines[0].split() == ["version", "size", "created", "sha256", "creator"]
    assert sorted(line.split()[0] for line in lines[1:]) == ["1", "2"]


def test_a_worker_without_triggers_says_how_to_register_one(made: Any) -> None:
    env, _, _ = made
    done = llmspell(env, "worker", check=False)
    assert done.returncode == 1
    assert "invalid configuration" not in done.stderr
    assert "no triggers are registered" in done.stderr and "kernel.events.triggers.add" in done.stderr
    assert "--setup module:function" in done.stderr


def test_read_only_commands_append_nothing_to_the_event_log(made: Any) -> None:
    env, session_id, _ = made

    def streams() -> Any:
        return json.loads(llmspell(env, "events", "streams", "--json").stdout)["streams"]

    before = streams()
    for command in (["sessions", "list"], ["sessions", "show", session_id], ["state", "list", "app:default"],
                    ["state", "get", "app:default", "nothing"], ["state", "info"], ["doctor"], ["agents", "list"],
                    ["agents", "types"], ["artifacts", "ls"], ["events", "tail"], ["plugins"], ["config"]):
        done = llmspell(env, *command, check=False)
        assert done.returncode in (0, 1), (command, done.stderr)  # state get of a missing key exits 1
    assert streams() == before


def test_doctor_names_each_backend_and_prints_errors_literally(made: Any, tmp_path: Any) -> None:
    env, _, _ = made
    lines = llmspell(env, "doctor").stdout.splitlines()
    assert any(line.startswith("ok  session backend diskcache in ") for line in lines), lines
    config = tmp_path / "redis.toml"
    config.write_text(f'data_dir = "{tmp_path / "d"}"\n[sessions]\nbackend = "redis"\n'
                      '[redis]\nurl = "redis://:secret@127.0.0.1:1/0"\n')
    done = llmspell({**env, "COLUMNS": "400"}, "-c", str(config), "doctor", check=False)
    assert done.returncode == 1
    assert "FAIL  start: " in done.stdout
    assert "[redis] url (or LLMSPELL_REDIS_URL)" in done.stdout  # not eaten as markup
    assert "secret" not in done.stdout


def test_plugins_fit_a_screen_one_line_each_hooks_with_v(made: Any) -> None:
    env, _, _ = made
    lines = llmspell(env, "plugins").stdout.splitlines()
    data = json.loads(llmspell(env, "plugins", "--json").stdout)
    assert len(lines) == len(data["plugins"]) and all(len(line) <= 80 for line in lines)
    assert all(line.split()[-1] == "loaded" for line in lines)
    assert lines[0].split()[:4] == ["events", "llmspell", data["plugins"][0]["version"], "default"]
    verbose = llmspell(env, "plugins", "-v").stdout
    assert "hooks: " in verbose and "state_backend: diskcache, memory" in verbose


def test_events_tail_shows_the_application_events_first(made: Any) -> None:
    env, session_id, _ = made
    done = llmspell(env, "events", "tail", "-n", "1")  # newer system events exist: kernel.stopping
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and f" {session_id}#1 session.created" in lines[0], lines
    both = llmspell(env, "events", "tail", "-n", "2").stdout.splitlines()  # the log has one such event
    assert f" {session_id}#1 " in both[0] and " system#" in both[1]
    assert "llmspell events tail --stream system" in done.stderr
    system = llmspell(env, "events", "tail", "--stream", "system", "-n", "1").stdout
    assert " system#" in system and "kernel." in system


def test_hooks_fit_80_columns_without_cutting_names(made: Any) -> None:
    env, _, _ = made
    out = llmspell(env, "hooks").stdout
    assert "…" not in out and max(len(line) for line in out.splitlines()) <= 80
