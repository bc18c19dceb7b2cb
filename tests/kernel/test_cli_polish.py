"""The command line on a real terminal: progress bars for long operations, quiet ``--json``,
one-line errors (the traceback with ``--debug``)."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pexpect
import pytest

BAR = "━"  # what rich draws a progress bar with
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def env_for(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMSPELL_", "OTEL_"))}
    env.update({"LLMSPELL_DATA_DIR": str(data), "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"})
    return env


def on_terminal(data: Path, command: str, *, timeout: float = 120) -> tuple[int, str]:
    """Run a shell command line under a pseudo-terminal; returns (exit status, what the terminal saw)."""
    child = pexpect.spawn("/bin/bash", ["-c", command], env=env_for(data), cwd=str(data.parent), timeout=timeout,
                          encoding="utf-8", dimensions=(40, 120))
    seen = ANSI.sub("", child.read())
    child.close()
    return child.exitstatus if child.exitstatus is not None else -1, seen


def llmspell(*args: str) -> str:
    return " ".join([sys.executable, "-c", "'from llmspell.plugins.cli import main; main()'", *args])


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_artifact_put_and_get_show_a_bar_on_a_terminal_and_json_stays_clean(data: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(6 * 1024 * 1024))
    status, seen = on_terminal(data, llmspell("artifacts", "put", str(big)))
    assert status == 0, seen
    assert "put big.bin" in seen and BAR in seen
    assert "saved artifact:app/app/big.bin@1" in seen

    status, seen = on_terminal(data, llmspell("artifacts", "put", str(big), "--name", "again.bin", "--json"))
    assert status == 0, seen
    assert BAR not in seen and "put again.bin" not in seen
    assert json.loads(seen)["size"] == 6 * 1024 * 1024

    out = tmp_path / "copy.bin"
    status, seen = on_terminal(data, llmspell("artifacts", "get", "big.bin", "-o", str(out)))
    assert status == 0 and "get big.bin" in seen and BAR in seen
    assert out.read_bytes() == big.read_bytes()
    # the data itself on stdout: the terminal gets no bar mixed into it; redirected, the bar is back
    status, seen = on_terminal(data, llmspell("artifacts", "get", "big.bin") + f" > {tmp_path / 'piped.bin'}")
    assert status == 0 and "get big.bin" in seen
    assert (tmp_path / "piped.bin").read_bytes() == big.read_bytes()

    junk = tmp_path / "junk.bin"
    junk.write_bytes(os.urandom(1024))
    status, seen = on_terminal(data, llmspell("artifacts", "put", str(junk), "--json") + " && "
                               + llmspell("artifacts", "rm", "junk.bin") + " && "
                               + llmspell("artifacts", "gc", "--grace", "0"))
    assert status == 0 and "collecting garbage" in seen, seen
    assert "1 blobs, 0 uploads: freed" in seen
    status, seen = on_terminal(data, llmspell("artifacts", "gc", "--grace", "0", "--json"))
    assert status == 0 and BAR not in seen and json.loads(seen)["bytes_freed"] == 0


def _fill(data: Path) -> str:
    import asyncio

    from llmspell import Kernel

    async def go() -> str:
        async with Kernel(data_dir=data, env={}) as kernel:
            session = await kernel.sessions.create(user_id="ada")
            await kernel.events.publish_many([("note.added", {"n": i}) for i in range(1)])
            for i in range(300):
                await kernel.events.publish("note.added", {"n": i}, session_id=session.id)
            await session.state.set("k", {"v": 1})
            return session.id

    return asyncio.run(go())


def test_replay_export_import_and_migrate_show_bars_and_json_is_quiet(data: Path, tmp_path: Path) -> None:
    sid = _fill(data)
    out = tmp_path / "replayed.jsonl"
    status, seen = on_terminal(data, llmspell("events", "replay", sid) + f" > {out}")
    assert status == 0, seen
    assert f"replaying {sid}" in seen and BAR in seen
    assert len(out.read_text().splitlines()) == 302  # session.created, 300 notes, state.changed
    status, seen = on_terminal(data, llmspell("events", "replay", sid, "--json") + f" > {out}")
    assert status == 0 and seen.strip() == ""  # quiet: nothing but the data, which went to the file
    assert [json.loads(line)["seq"] for line in out.read_text().splitlines()] == list(range(1, 303))

    export = tmp_path / "session.jsonl"
    status, seen = on_terminal(data, llmspell("sessions", "export", sid, "-o", str(export)))
    assert status == 0 and f"exporting {sid}" in seen, seen
    other = tmp_path / "other"
    status, seen = on_terminal(other, llmspell("sessions", "import", str(export)))
    assert status == 0 and "importing session.jsonl" in seen and f"imported session {sid}" in seen, seen

    status, seen = on_terminal(data, llmspell("state", "migrate"))
    assert status == 0 and "migrating state records" in seen and "records: migrated 0" in seen, seen
    status, seen = on_terminal(data, llmspell("state", "migrate", "--json"))
    assert status == 0 and BAR not in seen and json.loads(seen)["migrated"] == 0


def test_errors_are_one_line_and_debug_shows_the_traceback(data: Path, tmp_path: Path) -> None:
    status, seen = on_terminal(data, llmspell("artifacts", "get", "missing.txt", "-o", str(tmp_path / "x")))
    lines = [line for line in seen.splitlines() if line.strip()]
    assert status == 1 and len(lines) == 1 and lines[0].startswith("error: "), seen
    assert "missing.txt" in lines[0]

    status, seen = on_terminal(data, llmspell("--debug", "artifacts", "get", "missing.txt", "-o", str(tmp_path / "x")))
    assert status == 1 and "Traceback (most recent call last)" in seen

    plugin = tmp_path / "boom.py"
    plugin.write_text(
        "import click\nfrom llmspell import hookimpl\n\n"
        "@hookimpl\ndef llmspell_register_commands(cli, kernel):\n"
        "    @cli.command('boom')\n    def boom():\n        raise RuntimeError('a bug in a plugin command ' + 'x' * 150)\n"
    )
    status, seen = on_terminal(data, llmspell("-p", str(plugin), "boom"))
    lines = [line for line in seen.splitlines() if line.strip()]
    assert status == 1 and len(lines) == 1, seen
    assert lines[0].startswith("error: RuntimeError: a bug in a plugin command xxx")
    assert lines[0].endswith("(run with --debug for the traceback)")
    status, seen = on_terminal(data, llmspell("-p", str(plugin), "--debug", "boom"))
    assert status == 1 and "Traceback (most recent call last)" in seen and "RuntimeError" in seen
