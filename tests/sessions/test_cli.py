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


def test_sessions_import_of_an_edited_export_stays_in_its_session(tmp_path, llmspell_env):
    data = str(tmp_path / "data")

    async def seed():
        async with Kernel(data_dir=data, env=llmspell_env) as kernel:
            mine = await kernel.sessions.create(user_id="u1")
            await kernel.events.publish("note.added", {"text": "mine"}, session_id=mine.id)
            victim = await kernel.sessions.create(user_id="u2")
            await kernel.events.publish("note.added", {"text": "private"}, session_id=victim.id)
            await kernel.artifacts.save("secret.md", b"u2's", session_id=victim.id)
            await kernel.events.flush()
            return mine.id, victim.id, await kernel.events.last_seq(victim.id), await kernel.events.last_seq("system")

    mine, victim, victim_seq, system_seq = asyncio.run(seed())
    export = tmp_path / "mine.jsonl"
    llmspell("--data-dir", data, "sessions", "export", mine, "-o", str(export), env=llmspell_env)
    docs = [json.loads(line) for line in export.read_text().splitlines()]
    events = [d for d in docs if d["kind"] == "event"]
    docs[0]["session"]["id"] = "copy-1"  # imported under a new id, its events aimed elsewhere
    for doc, stream in zip(events, [victim, "system"] * len(events), strict=False):
        doc["event"]["stream"] = doc["event"]["session_id"] = stream
        doc["event"]["id"] = doc["event"]["id"][:-4] + "ffff"
    edited = tmp_path / "edited.jsonl"
    edited.write_text("".join(json.dumps(d) + "\n" for d in docs))
    imported = json.loads(llmspell("--data-dir", data, "sessions", "import", str(edited), "--json", env=llmspell_env).stdout)
    assert imported == {"imported": "copy-1"}

    async def check():
        async with Kernel(data_dir=data, env=llmspell_env) as kernel:
            assert await kernel.events.last_seq(victim) == victim_seq
            planted = {d["event"]["id"] for d in events}
            assert not planted & {e.id async for e in kernel.events.read("system", from_seq=system_seq + 1)}
            moved = [e async for e in kernel.events.read("copy-1")]
            assert len(moved) == len(events) and {e.session_id for e in moved} == {"copy-1"}
            assert await kernel.artifacts.load("secret.md", session_id=victim) == b"u2's"

    asyncio.run(check())
    bad = tmp_path / "bad.jsonl"
    docs[0]["session"]["id"] = "a b"
    bad.write_text("".join(json.dumps(d) + "\n" for d in docs))
    refused = llmspell("--data-dir", data, "sessions", "import", str(bad), env=llmspell_env, check=False)
    assert refused.returncode == 1 and "exported session id 'a b' is not allowed" in refused.stderr
