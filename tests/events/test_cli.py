"""``llmspell events ...`` in a real process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from llmspell.plugins.events.api import Event

from .test_model import plant


def cli(env: dict[str, str], data_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-c", "from llmspell.plugins.cli import main; main()", "--data-dir", str(data_dir), *args],
        env=env, capture_output=True, text=True, timeout=120,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


async def fill(make_kernel: Any, data_dir: Path) -> None:
    async with make_kernel(data_dir=data_dir) as kernel:
        await kernel.events.publish("note.added", {"text": "one"}, session_id="s1", source="tests")
        await kernel.events.publish("agent.started", {"agent": "a"}, session_id="s1")
        await kernel.events.publish("note.added", {"text": "two"}, session_id="s2")
        await plant(kernel, "s1", 3, b'{"v":1,"garbage":true}')
        await kernel.events.publish("note.added", {"text": "three"}, session_id="s1")


async def test_tail_replay_streams_types(make_kernel: Any, llmspell_env: dict[str, str], tmp_path: Path) -> None:
    data = tmp_path / "data"
    await fill(make_kernel, data)
    system_before = len(await _system(make_kernel, data))

    out = cli(llmspell_env, data, "events", "tail", "--session", "s1", "--json", "-n", "5").stdout.splitlines()
    events = [json.loads(line) for line in out]
    assert [(e["stream"], e["seq"], e["type"]) for e in events] == [
        ("s1", 1, "note.added"), ("s1", 2, "agent.started"), ("s1", 4, "note.added")]
    assert events[0]["payload"] == {"text": "one"} and events[0]["source"] == "tests"

    text = cli(llmspell_env, data, "events", "tail", "--type", "note.*").stdout
    assert "s1#1 note.added [tests] {\"text\":\"one\"}" in text and "s2#1 note.added" in text
    assert "agent.started" not in text

    replay = cli(llmspell_env, data, "events", "replay", "s1", "--json")
    assert [json.loads(line)["seq"] for line in replay.stdout.splitlines()] == [1, 2, 4]
    assert "malformed event at stream 's1' seq 3" in replay.stderr

    streams = json.loads(cli(llmspell_env, data, "events", "streams", "--json").stdout)["streams"]
    assert [(s["stream"], s["last_seq"]) for s in streams][:2] == [("s1", 4), ("s2", 1)]
    types = json.loads(cli(llmspell_env, data, "events", "types", "--json").stdout)["types"]
    assert {"type": "state.changed", "plugin": "events"}.items() <= next(
        t for t in types if t["type"] == "state.changed").items()

    assert len(await _system(make_kernel, data)) == system_before  # looking adds nothing


async def _system(make_kernel: Any, data: Path) -> list[Event]:
    kernel = make_kernel(data_dir=data)
    log = kernel.create_backend("event_backend", "diskcache")
    await log.open()
    try:
        return await log.read("system")
    finally:
        await log.close()


async def test_tail_follow_prints_events_appended_by_another_process(
    make_kernel: Any, llmspell_env: dict[str, str], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    (tmp_path / "follow.toml").write_text("[events]\npoll_interval = 0.02\n")
    env = {**llmspell_env, "LLMSPELL_CONFIG": str(tmp_path / "follow.toml")}
    async with make_kernel(data_dir=data) as kernel:
        await kernel.events.publish("job.created", {"n": 0}, session_id="s1")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "from llmspell.plugins.cli import main; main()", "--data-dir", str(data),
            "events", "tail", "--follow", "--json", "--type", "job.*", "-n", "1",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None

        async def line() -> dict[str, Any]:
            return json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))  # type: ignore[union-attr]

        try:
            assert (await line())["payload"] == {"n": 0}
            for n in range(1, 4):
                await kernel.events.publish("job.created", {"n": n}, session_id=f"s{n}")
            await kernel.events.publish("other.thing", {}, session_id="s1")
            lines = [await line() for _ in range(3)]
            assert [item["payload"]["n"] for item in lines] == [1, 2, 3]
        finally:
            proc.terminate()
            await proc.wait()
