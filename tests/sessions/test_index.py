"""The listing index of the diskcache session store: kept by the store, whoever writes."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from llmspell.contrib.testing.contracts.sessions import make_session
from llmspell.plugins.sessions._backends import DiskcacheSessionBackend
from llmspell.plugins.sessions.api import Session, SessionQuery
from llmspell.plugins.sessions.backend import StateSessionBackend

_N = iter(range(1, 10**6))


def _record(session_id: str, **changes: Any) -> Session:
    return make_session(next(_N), id=session_id, **changes)


def _drop_index(directory: Path) -> None:
    """Make the store look like one written before the index existed."""
    con = sqlite3.connect(directory / "cache.db")
    with con:
        for (name,) in con.execute("SELECT name FROM sqlite_master WHERE name LIKE 'llmspell_sessions%'").fetchall():
            con.execute(f'DROP INDEX "{name}"')
    con.close()


async def test_a_store_written_before_the_index_gets_it_built_when_it_opens(tmp_path: Path) -> None:
    backend = DiskcacheSessionBackend(tmp_path / "sessions")
    await backend.open()
    stored = [await backend.put(_record(f"s{i}", user_id=f"u{i % 2}"), expected_version=0) for i in range(5)]
    await backend.close()
    _drop_index(tmp_path / "sessions")
    plain = StateSessionBackend(DiskcacheSessionBackend(tmp_path / "sessions").store, prefix="session:")
    await plain.open()  # a writer on the plain store: its row is indexed when the index is built
    await plain.put(_record("late", user_id="u0"), expected_version=0)
    await plain.close()
    backend = DiskcacheSessionBackend(tmp_path / "sessions")
    await backend.open()
    try:
        listed = await backend.list(SessionQuery(user_id="u0", limit=1000))
        expected = sorted([s.id for s in stored if s.user_id == "u0"] + ["late"])
        assert sorted(s.id for s in listed.items) == expected
    finally:
        await backend.close()


async def test_writes_by_another_connection_are_listed_and_deletes_leave_the_listing(tmp_path: Path) -> None:
    first, second = DiskcacheSessionBackend(tmp_path / "s"), DiskcacheSessionBackend(tmp_path / "s")
    await first.open()
    await second.open()
    try:
        a = await first.put(_record("a"), expected_version=0)
        await second.put(_record("b"), expected_version=0)
        assert {s.id for s in (await first.list(SessionQuery())).items} == {"a", "b"}
        await second.put(a.replace(title="renamed by the other"), expected_version=a.version)
        assert [s.title for s in (await first.list(SessionQuery())).items if s.id == "a"] == ["renamed by the other"]
        await second.delete("a")
        assert [s.id for s in (await first.list(SessionQuery())).items] == ["b"]
    finally:
        await first.close()
        await second.close()


async def test_a_changed_app_user_or_status_moves_the_record_in_the_listing(tmp_path: Path) -> None:
    from llmspell.plugins.sessions.api import SessionStatus

    backend = DiskcacheSessionBackend(tmp_path / "s")
    await backend.open()
    try:
        stored = await backend.put(_record("a", app="one", user_id="u1"), expected_version=0)
        stored = await backend.put(stored.replace(title="touched"), expected_version=stored.version)
        stored = await backend.put(
            stored.replace(app="two", user_id=None, status=SessionStatus.SUSPENDED), expected_version=stored.version
        )

        async def ids(**filters: Any) -> list[str]:
            return [s.id for s in (await backend.list(SessionQuery(**filters))).items]

        assert await ids(app="one") == []
        assert await ids(user_id="u1") == []
        assert await ids(status=(SessionStatus.ACTIVE,)) == []
        assert await ids(app="two", status=(SessionStatus.SUSPENDED,)) == ["a"]
        assert [s.title for s in (await backend.list(SessionQuery(app="two"))).items] == ["touched"]
    finally:
        await backend.close()


async def test_pages_through_the_index_as_the_reference_listing_does(tmp_path: Path) -> None:
    """Random records (equal creation times, ids that prefix each other, every status,
    tags, parents) paged with every filter: the same pages as :func:`page` over them all."""
    import random
    from datetime import timedelta

    from llmspell.contrib.testing.contracts.sessions import T0
    from llmspell.plugins.sessions._backends import MemorySessionBackend
    from llmspell.plugins.sessions.api import SessionStatus

    rng = random.Random(7)
    disk, memory = DiskcacheSessionBackend(tmp_path / "s"), MemorySessionBackend()
    await disk.open()
    try:
        ids = [f"{p}{n}" for p in ("a", "a-", "a.b", "b", "A", "s0") for n in ("", "1", "10", "-x", "9")]
        ids += [f"m{n}" for n in range(120)]  # past one chunk of the index when a filter drops rows
        for session_id in ids:
            at = T0 + timedelta(seconds=rng.choice([0, 0, 1, 2, 2.5, 3, 4.000001]))
            record = make_session(
                1, id=session_id, created_at=at, updated_at=at, last_active_at=at + timedelta(seconds=rng.randint(0, 5)),
                app=rng.choice(["x", "y"]), user_id=rng.choice(["u1", "u2", None]),
                status=rng.choice(list(SessionStatus)), tags=tuple(rng.sample(["t1", "t2", "t3"], rng.randint(0, 2))),
                parent_id=rng.choice([None, "a"]),
            )
            await disk.put(record, expected_version=0)
            await memory.put(record, expected_version=0)
        queries: list[dict[str, Any]] = [
            {}, {"app": "x"}, {"user_id": "u2"}, {"status": (SessionStatus.ACTIVE, SessionStatus.FAILED)},
            {"tags": ("t1",)}, {"parent_id": "a"}, {"created_after": T0 + timedelta(seconds=1)},
            {"created_before": T0 + timedelta(seconds=2.5)}, {"active_after": T0 + timedelta(seconds=3)},
            {"app": "y", "user_id": "u1"},
        ]
        for filters in queries:
            for limit in (1, 2, 3, 7, 60, 1000):
                pages: dict[str, list[list[str]]] = {"disk": [], "memory": []}
                for name, backend in (("disk", disk), ("memory", memory)):
                    cursor = None
                    while True:
                        got = await backend.list(SessionQuery(**filters, limit=limit, cursor=cursor))
                        pages[name].append([s.id for s in got.items])
                        cursor = got.next_cursor
                        if cursor is None:
                            break
                assert pages["disk"] == pages["memory"], (filters, limit)
    finally:
        await disk.close()
