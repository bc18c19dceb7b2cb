"""``kernel.state.scan_owners``: the keys of many owners in one read, as each scope's scan."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from diskcache.core import MODE_PICKLE

from llmspell import Kernel
from llmspell.errors import CorruptRecordWarning, UnknownNameError, ValidationError


@pytest.mark.parametrize("backend", ["memory", "diskcache"])
async def test_every_owner_reads_as_its_own_scan(make_kernel: Callable[..., Kernel], backend: str) -> None:
    async with make_kernel({"state": {"backend": backend}}) as kernel:
        state = kernel.state
        owners = ["s1", "s10", "s2", "a/b", "a%2Fb", "empty"]
        for i, owner in enumerate(owners[:-1]):
            scope = state.scope("session", owner)
            for key in ("k", "k/deep", f"n{i}", "\u00e9"):
                await scope.set(key, {"owner": owner, "key": key})
        many = state.scope("session", "many")
        for i in range(1203):  # more than one page of a scan
            await many.set(f"key{i:05}", i)
        await state.scope("user", "s1").set("other-scope", 1)
        got = await state.scan_owners("session", [*owners, "many", "s1"])
        assert list(got) == [*owners, "many"]  # each owner once, in the order asked
        for owner in [*owners, "many"]:
            expected = [item async for item in state.scope("session", owner).scan()]
            assert got[owner] == expected
        assert got["empty"] == []
        assert len(got["many"]) == 1203
        assert await state.scan_owners("session", []) == {}
        with pytest.raises(UnknownNameError, match="nope"):
            await state.scan_owners("nope", ["s1"])
        with pytest.raises(ValidationError):
            await state.scan_owners("session", ["bad\x00owner"])


async def test_a_row_it_cannot_read_is_skipped_and_reported(make_kernel: Callable[..., Kernel], tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with make_kernel(data_dir=data) as kernel:
        await kernel.state.scope("session", "s1").set("good", 1)
    con = sqlite3.connect(data / "state" / "cache.db")
    with con:
        con.execute(
            "INSERT INTO Cache(key, raw, store_time, expire_time, access_time, access_count,"
            " tag, size, mode, filename, value) VALUES (?, 1, 0, NULL, 0, 0, 1, 0, ?, NULL, ?)",
            ("session/s1/planted", MODE_PICKLE, b"\x80\x04K\x01."),
        )
    con.close()
    async with make_kernel(data_dir=data) as kernel:
        with pytest.warns(CorruptRecordWarning, match="planted"):
            got = await kernel.state.scan_owners("session", ["s1"])
        assert [(item.key, item.value) for item in got["s1"]] == [("good", 1)]
