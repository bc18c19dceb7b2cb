"""The diskcache backend's write paths and its WAL checkpoints (the contract covers the rest)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import diskcache
import pytest

from llmspell.errors import IntegrityError
from llmspell.plugins._diskcache import WAL_PAGES, Checkpointer, DiskcacheStateBackend
from llmspell.plugins.state.backend import Put, Record


@pytest.fixture
async def backend(tmp_path: Path) -> Any:
    backend = DiskcacheStateBackend(tmp_path / "state")
    await backend.open()
    yield backend
    await backend.close()


async def test_conditional_writes_in_one_statement_and_their_conflicts(backend: DiskcacheStateBackend) -> None:
    first = await backend.compare_and_set("k", b"1", 0)  # absent: inserted
    assert (first.ok, first.version, first.previous_version) == (True, 1, None)
    taken = await backend.compare_and_set("k", b"2", 0)  # present: nothing written
    assert (taken.ok, taken.previous_version, taken.current) == (False, 1, Record("k", b"1", 1))
    second = await backend.compare_and_set("k", b"2", 1)  # the version matches
    assert (second.ok, second.version, second.previous_version) == (True, 2, 1)
    stale = await backend.compare_and_set("k", b"3", 1)
    assert (stale.ok, stale.previous_version, stale.current) == (False, 2, Record("k", b"2", 2))
    missing = await backend.compare_and_set("nothing", b"x", 4)
    assert (missing.ok, missing.previous_version, missing.current) == (False, None, None)
    assert await backend.get("k") == Record("k", b"2", 2)
    assert await backend.get("nothing") is None
    plain = await backend.compare_and_set("k", b"4")  # no expected version: the next one
    assert (plain.ok, plain.version, plain.previous_version) == (True, 3, 2)
    new = await backend.compare_and_set("blind", b"5")  # no expectation: an upsert, in one statement
    assert (new.ok, new.version, new.previous_version) == (True, 1, None)
    assert await backend.get("blind") == Record("blind", b"5", 1)
    forced = await backend.batch([Put("top", b"6", version=2**63 - 1)])
    assert forced.ok
    with pytest.raises(OverflowError):  # past the largest version: refused, as before, not a float
        await backend.compare_and_set("top", b"7")
    assert await backend.get("top") == Record("top", b"6", 2**63 - 1)
    one = await backend.batch([Put("k", b"5")])  # a batch of one key takes the same paths
    assert one.ok and (one.results[0].version, one.results[0].previous_version) == (4, 3)
    stale_one = await backend.batch([Put("k", b"6", 3)])
    assert (stale_one.ok, stale_one.failed, stale_one.conflict.current) == (False, 0, Record("k", b"5", 4))
    new = await backend.batch([Put("fresh", b"1")])
    assert (new.results[0].version, new.results[0].previous_version) == (1, None)
    assert await backend.get("k") == Record("k", b"5", 4)


async def test_a_row_with_a_side_file_is_refused_and_its_file_left_alone(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    with diskcache.Cache(str(directory), disk_min_file_size=1) as cache:  # another program's big value
        cache.set("big", b"x" * 1000, tag=1)
    files = [p for p in directory.rglob("*.val")]
    assert len(files) == 1
    backend = DiskcacheStateBackend(directory)
    await backend.open()
    try:
        with pytest.raises(IntegrityError, match="points at a file"):
            await backend.compare_and_set("big", b"small", 1)
        with pytest.raises(IntegrityError, match="points at a file"):  # nor overwritten blind
            await backend.compare_and_set("big", b"small")
        with pytest.raises(IntegrityError, match="points at a file"):
            await backend.compare_and_set("big", b"small")
        with pytest.raises(IntegrityError, match="points at a file"):
            await backend.get("big")
        assert (await backend.delete("big")).ok  # the row goes, by key, unread
        assert await backend.get("big") is None
        assert files[0].exists()  # a file named by a row is never removed
    finally:
        await backend.close()


async def test_a_foreign_version_is_an_integrity_error_not_a_conflict(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    with diskcache.Cache(str(directory)) as cache:
        cache.set("k", b"{}", tag="v1")
    backend = DiskcacheStateBackend(directory)
    await backend.open()
    try:
        with pytest.raises(IntegrityError, match="no version"):
            await backend.compare_and_set("k", b"{}", 1)
        with pytest.raises(IntegrityError, match="no version"):
            await backend.compare_and_set("k", b"{}", 0)
        with pytest.raises(IntegrityError, match="no version"):
            await backend.compare_and_set("k", b"{}")
        with pytest.raises(IntegrityError, match="no version"):  # a write without an expected version too
            await backend.compare_and_set("k", b"{}")
        with pytest.raises(IntegrityError, match="no version"):
            await backend.batch([Put("k", b"{}")])
    finally:
        await backend.close()


async def test_writes_keep_the_wal_bounded(backend: DiskcacheStateBackend) -> None:
    for i in range(4000):
        await backend.compare_and_set(f"k{i % 50}", b"x" * 300)
    checkpointer = backend._checkpointer
    assert checkpointer is not None and checkpointer.checkpoints > 0
    wal = backend.directory / "cache.db-wal"
    assert wal.stat().st_size <= (WAL_PAGES + 500) * (4096 + 24)


def test_a_checkpoint_overtaken_by_writes_is_finished_by_the_next_writer(tmp_path: Path) -> None:
    path = tmp_path / "db"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode = wal")
    writer.execute("CREATE TABLE t (x)")
    for i in range(20):
        writer.execute("INSERT INTO t VALUES (?)", (i,))
    checkpointer = Checkpointer(path, every=10)

    class Overtaken:
        """The checkpoint's connection, with a commit landing while it runs."""

        def __init__(self) -> None:
            self.con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

        def execute(self, sql: str) -> Any:
            cursor = self.con.execute(sql)
            writer.execute("INSERT INTO t VALUES (0)")
            checkpointer.wrote(1)
            return cursor

        def close(self) -> None:
            self.con.close()

    checkpointer._con = Overtaken()  # type: ignore[assignment]
    checkpointer._checkpoint()
    assert checkpointer.checkpoints == 1
    assert checkpointer.wrote(1) is True  # this writer finishes the job
    assert checkpointer.wrote(1) is False
    checkpointer._con.close()  # type: ignore[union-attr]
    checkpointer._con = None
    for _ in range(30):
        checkpointer.wrote(1)  # every 10 pages: a checkpoint on the thread
    checkpointer.close()
    assert checkpointer.checkpoints >= 2
    writer.close()


async def test_a_batch_written_op_by_op_rolls_back_on_a_conflict(backend: DiskcacheStateBackend) -> None:
    """Each operation is written in one statement where it can; the first whose expectation
    fails rolls back those written before it (nothing of the batch stays)."""
    await backend.compare_and_set("a", b"1")
    await backend.compare_and_set("b", b"1")
    failed = await backend.batch([Put("a", b"2"), Put("new", b"1", 0), Put("b", b"2", 7)])
    assert (failed.ok, failed.failed) == (False, 2)
    assert failed.conflict is not None and failed.conflict.current == Record("b", b"1", 1)
    assert await backend.get("a") == Record("a", b"1", 1) and await backend.get("new") is None
    done = await backend.batch([Put("a", b"2"), Put("new", b"1", 0), Put("b", b"2", 1)])
    assert [(r.version, r.previous_version) for r in done.results] == [(2, 1), (1, None), (2, 1)]
