"""One bad session record never bricks the store: it is skipped, reported and deletable by id."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from diskcache.core import MODE_BINARY, MODE_PICKLE, MODE_RAW

from llmspell import Kernel
from llmspell.errors import CorruptRecordWarning, IntegrityError
from llmspell.plugins.sessions import sweep
from tests.contrib._services import redis_prefix  # noqa: F401 - a fixture
from tests.contrib.postgres.pg import pg_schema  # noqa: F401 - a fixture


def _plant(data_dir: Path, session_id: str, mode: int, value: Any, filename: str | None = None) -> None:
    """A row in the session store's SQLite file, written by something other than llmspell."""
    con = sqlite3.connect(data_dir / "sessions" / "cache.db")
    with con:
        con.execute(
            "INSERT INTO Cache(key, raw, store_time, expire_time, access_time, access_count,"
            " tag, size, mode, filename, value) VALUES (?, 1, 0, NULL, 0, 0, 1, 0, ?, ?, ?)",
            (f"session:{session_id}", mode, filename, value),
        )
    con.close()


def _plant_state(data_dir: Path, key: str, outside: Path) -> None:
    con = sqlite3.connect(data_dir / "state" / "cache.db")
    with con:
        con.execute(
            "INSERT INTO Cache(key, raw, store_time, expire_time, access_time, access_count,"
            " tag, size, mode, filename, value) VALUES (?, 1, 0, NULL, 0, 0, 1, 0, ?, ?, NULL)",
            (key, MODE_BINARY, str(outside)),
        )
    con.close()


def _plant_all(data_dir: Path, outside: Path) -> list[str]:
    _plant(data_dir, "bad-json", MODE_RAW, b"\x00 not json")
    _plant(data_dir, "bad-newer", MODE_RAW, json.dumps({"schema_version": 99, "id": "bad-newer"}).encode())
    _plant(data_dir, "bad-shape", MODE_RAW, b'{"schema_version": 1, "id": 7}')
    _plant(data_dir, "bad-pickle", MODE_PICKLE, b"\x80\x04K\x01.")
    _plant(data_dir, "bad-file", MODE_BINARY, None, str(outside))
    return ["bad-file", "bad-json", "bad-newer", "bad-pickle", "bad-shape"]


async def test_start_recovery_listing_and_delete_survive_bad_records(
    make_kernel: Callable[..., Kernel], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    async with make_kernel(data_dir=data) as kernel:
        good = await kernel.sessions.create(user_id="u1", app="demo")
        await good.state.set("k", 1)
        doomed = await kernel.sessions.create(user_id="u1", app="demo")
        await doomed.state.set("k", 2)
    bad = _plant_all(data, outside)
    _plant_state(data, f"session/{doomed.id}/planted", outside)  # a bad row in a session's own state
    with pytest.warns(CorruptRecordWarning) as caught:
        async with make_kernel(data_dir=data) as kernel:  # start runs the recovery sweep over every record
            await kernel.sessions.delete(doomed.id)  # its state holds a row that cannot be read
            assert await kernel.sessions.find(doomed.id) is None
            page = await kernel.sessions.list()
            assert [s.id for s in page.items] == [good.id]
            assert sorted(sid for sid, _ in page.skipped) == bad
            assert [s.id for s in (await kernel.sessions.list(user_id="u1")).items] == [good.id]
            await sweep(kernel.sessions)
            await kernel.events.flush()
            skipped = await kernel.events.query("session.record_skipped")
            assert sorted(e.payload["session_id"] for e in skipped) == bad
            with pytest.raises(IntegrityError):
                await kernel.sessions.get("bad-json")
            for session_id in bad:
                await kernel.sessions.delete(session_id)
            after = await kernel.sessions.list()
            assert ([s.id for s in after.items], after.skipped) == ([good.id], ())
            assert await (await kernel.sessions.get(good.id)).state.get("k") == 1
            await kernel.events.flush()
            deleted = await kernel.events.query("session.deleted")
            assert sorted(e.payload["session_id"] for e in deleted if e.payload.get("undecodable")) == bad
    reported = sorted({w.message.key for w in caught.list if isinstance(w.message, CorruptRecordWarning)})
    assert reported == bad
    assert outside.read_text() == "{}"  # the file a planted row names is neither read nor removed


def _llmspell(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["llmspell", *args], env=env, capture_output=True, text=True, check=False)


async def test_cli_lists_and_deletes_past_bad_records(
    make_kernel: Callable[..., Kernel], tmp_path: Path, llmspell_env: dict[str, str]
) -> None:
    data = tmp_path / "data"
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    async with make_kernel(data_dir=data) as kernel:
        good = await kernel.sessions.create(user_id="u1", app="demo")
    bad = _plant_all(data, outside)
    listed = await asyncio.to_thread(_llmspell, "--data-dir", str(data), "sessions", "list", "--json", env=llmspell_env)
    assert listed.returncode == 0, listed.stderr
    assert [s["id"] for s in json.loads(listed.stdout)["sessions"]] == [good.id]
    for session_id in bad:
        done = await asyncio.to_thread(_llmspell, "--data-dir", str(data), "sessions", "delete", session_id, env=llmspell_env)
        assert done.returncode == 0, done.stderr
    async with make_kernel(data_dir=data) as kernel:
        page = await kernel.sessions.list()
        assert ([s.id for s in page.items], page.skipped) == ([good.id], ())
    assert outside.read_text() == "{}"


@pytest.fixture(params=["postgres", "redis"])
def shared_store(request: pytest.FixtureRequest) -> tuple[dict[str, Any], Callable[[Kernel, str], None]]:
    """Config of a shared session backend, and how to damage one record in it directly."""
    if request.param == "postgres":
        from tests.contrib.postgres.pg import DSN, pg_config

        schema = request.getfixturevalue("pg_schema")

        def damage_pg(kernel: Kernel, session_id: str) -> None:
            import psycopg

            with psycopg.connect(DSN, autocommit=True) as conn:
                conn.execute(f'UPDATE "{schema}".sessions SET record = %s WHERE id = %s', (b"\x00 not json", session_id))

        return {"sessions": {"backend": "postgres"}, **pg_config(schema)}, damage_pg
    from tests.contrib._services import REDIS_URL

    prefix = request.getfixturevalue("redis_prefix")

    def damage_redis(kernel: Kernel, session_id: str) -> None:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        try:
            client.hset(kernel.sessions.backend._key(session_id), "d", b"\x00 not json")
        finally:
            client.close()

    return {"sessions": {"backend": "redis"}, "redis": {"url": REDIS_URL, "prefix": prefix}}, damage_redis


async def test_shared_backends_skip_a_damaged_record_and_delete_it_by_id(
    make_kernel: Callable[..., Kernel], shared_store: tuple[dict[str, Any], Callable[[Kernel, str], None]]
) -> None:
    config, damage = shared_store
    async with make_kernel(config) as kernel:
        good = await kernel.sessions.create(user_id="u1", app="demo")
        bad = await kernel.sessions.create(user_id="u1", app="demo")
        newest = await kernel.sessions.create(user_id="u1", app="demo")
        damage(kernel, bad.id)
    with pytest.warns(CorruptRecordWarning, match=bad.id):
        async with make_kernel(config) as kernel:  # the recovery sweep at start lists every active session
            page = await kernel.sessions.list(user_id="u1")
            assert [s.id for s in page.items] == [newest.id, good.id]
            assert [sid for sid, _ in page.skipped] == [bad.id]
            paged, cursor = [], None
            while True:  # pages of two: one of them ends on (or skips) the bad record
                part = await kernel.sessions.list(user_id="u1", limit=2, cursor=cursor)
                paged += [s.id for s in part.items]
                cursor = part.next_cursor
                if cursor is None:
                    break
            assert paged == [newest.id, good.id]
            await kernel.sessions.delete(bad.id)
            assert (await kernel.sessions.list(user_id="u1")).skipped == ()
