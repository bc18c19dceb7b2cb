"""``llmspell sessions ...`` as a real subprocess."""

from __future__ import annotations

import asyncio
import json
import subprocess

from llmspell import Kernel


def llmspell(*args, env, check=True):
    return subprocess.run(["llmspell", *args], env=env, capture_output=True, text=True, check=check)


def test_sessions_commands(tmp_path, llmspell_env):
    data = str(tmp_path / "data")

    async def seed():
        async with Kernel(data_dir=data, env=llmspell_env) as kernel:
            first = await kernel.sessions.create(user_id="u1", app="demo", title="first", tags=["t"])
            await first.state.set("topic", "cli")
            second = await kernel.sessions.create(user_id="u2", app="demo")
            await kernel.sessions.complete(second.id)
            await kernel.events.flush()
            return first.id, second.id

    first, second = asyncio.run(seed())
    listed = json.loads(llmspell("--data-dir", data, "sessions", "list", "--json", env=llmspell_env).stdout)
    assert [s["id"] for s in listed["sessions"]] == [second, first]
    only = json.loads(llmspell("--data-dir", data, "sessions", "list", "--user", "u1", "--status", "active", "--json", env=llmspell_env).stdout)
    assert [s["id"] for s in only["sessions"]] == [first]

    shown = json.loads(llmspell("--data-dir", data, "sessions", "show", first, "--json", env=llmspell_env).stdout)
    assert shown["session"]["title"] == "first"
    assert shown["state"] == {"topic": {"value": "cli", "version": 1}}
    assert [e["type"] for e in shown["events"]] == ["session.created", "state.changed"]

    export = tmp_path / "first.jsonl"
    llmspell("--data-dir", data, "sessions", "export", first, "-o", str(export), env=llmspell_env)
    other = str(tmp_path / "other")
    imported = json.loads(llmspell("--data-dir", other, "sessions", "import", str(export), "--json", env=llmspell_env).stdout)
    assert imported == {"imported": first}
    again = json.loads(llmspell("--data-dir", other, "sessions", "show", first, "--json", env=llmspell_env).stdout)
    assert again["state"] == shown["state"] and again["events"] == shown["events"]

    missing = llmspell("--data-dir", data, "sessions", "show", "nope", env=llmspell_env, check=False)
    assert missing.returncode == 1 and "session 'nope' does not exist" in missing.stderr

    deleted = json.loads(llmspell("--data-dir", data, "sessions", "delete", second, "--yes", "--json", env=llmspell_env).stdout)
    assert deleted == {"deleted": [second]}
    swept = json.loads(llmspell("--data-dir", data, "sessions", "sweep", "--json", env=llmspell_env).stdout)
    assert swept == {"interrupted": [], "expired": [], "archived": [], "deleted": []}
