"""The stored form: envelopes, key layout, no pickle, damaged or foreign rows."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import diskcache
import orjson
import pytest
from diskcache.core import MODE_BINARY, MODE_TEXT

from llmspell import Kernel
from llmspell.errors import CorruptRecordWarning, IntegrityError
from llmspell.plugins._diskcache import open_cache
from llmspell.plugins.state._codec import owner_prefix, split_key
from llmspell.plugins.state.backend import prefix_upper_bound


class _Planted:
    """Unpickling this would create a file: proof that nothing was unpickled."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (Path(self.marker).touch, ())


def test_key_layout_round_trips() -> None:
    for owner in ("u1", "a/b", "50%", "%2F", "ünï/%/"):
        prefix = owner_prefix("user", owner)
        assert prefix.count("/") == 2
        assert split_key(prefix + "k/with/slashes") == ("user", owner, "k/with/slashes")
    assert not owner_prefix("user", "u10").startswith(owner_prefix("user", "u1"))
    with pytest.raises(IntegrityError):
        split_key("nonsense")


def test_prefix_upper_bound() -> None:
    assert prefix_upper_bound("ab") == "ac"
    assert prefix_upper_bound("a\U0010ffff") == "b"
    assert prefix_upper_bound("\ud7ff"[0]) == "\ue000"
    assert prefix_upper_bound("") is None


async def test_records_are_json_envelopes_readable_by_plain_diskcache(
    make_kernel: Callable[..., Kernel], tmp_path: Path
) -> None:
    async with make_kernel(data_dir=tmp_path / "d") as kernel:
        await kernel.state.scope("user", "u1").set("theme", {"dark": True})
        await kernel.state.scope("user", "u1").set("theme", {"dark": False})
    with diskcache.Cache(str(tmp_path / "d" / "state")) as cache:
        data, version = cache.get("user/u1/theme", tag=True)
    assert orjson.loads(data) == {"schema_version": 1, "value": {"dark": False}}
    assert version == 2


async def test_pickled_row_is_refused_never_unpickled(
    make_kernel: Callable[..., Kernel], tmp_path: Path
) -> None:
    marker = tmp_path / "unpickled"
    async with make_kernel(data_dir=tmp_path / "d") as kernel:
        await kernel.state.scope("app").set("fine", 1)
    with diskcache.Cache(str(tmp_path / "d" / "state")) as cache:  # someone else's pickling cache
        cache.set("app/default/evil", _Planted(str(marker)), tag=1)
    async with make_kernel(data_dir=tmp_path / "d") as kernel:
        app = kernel.state.scope("app")
        with pytest.raises(IntegrityError) as info:
            await app.get("evil")
        assert "unpickle" in str(info.value)
        with pytest.warns(CorruptRecordWarning, match="evil"):
            assert await app.list() == ["fine"]  # a listing skips what it cannot read
        await app.delete("evil")  # and it can be deleted by key, unread
        assert await app.list() == ["fine"]
        assert await app.get("fine") == 1
    assert not marker.exists()


async def test_damaged_or_foreign_rows_are_integrity_errors(
    make_kernel: Callable[..., Kernel], tmp_path: Path
) -> None:
    async with make_kernel(data_dir=tmp_path / "d") as kernel:
        await kernel.state.scope("app").set("fine", 1)
    with diskcache.Cache(str(tmp_path / "d" / "state")) as cache:
        cache.set("app/default/garbage", b"\x00not json", tag=1)
        cache.set("app/default/untagged", b'{"schema_version":1,"value":1}')
        cache.set("app/default/badschema", b'{"schema_version":"1","value":1}', tag=1)
        cache.set(12345, b"an integer key from another program", tag=1)
    async with make_kernel(data_dir=tmp_path / "d") as kernel:
        app = kernel.state.scope("app")
        for key, needle in (
            ("garbage", "not a valid record"),
            ("untagged", "no version"),
            ("badschema", "schema version"),
        ):
            with pytest.raises(IntegrityError) as info:
                await app.get(key)
            assert needle in str(info.value)
        assert await app.get("fine") == 1
        reported: list[str] = []
        kernel.events.subscribe("state.record_skipped", lambda event: reported.append(event.payload["key"]))
        with pytest.warns(CorruptRecordWarning) as caught:
            assert [item.key async for item in app.scan()] == ["fine"]  # a listing skips what it cannot read
        skipped = {w.message.key for w in caught.list if isinstance(w.message, CorruptRecordWarning)}
        bad = {"app/default/garbage", "app/default/untagged", "app/default/badschema"}
        assert skipped == bad
        await kernel.events.flush()
        assert set(reported) == bad
        assert [r.key for r in await kernel.state.backend.scan("app/default/f")] == ["app/default/fine"]
        assert await kernel.state.backend.scan("1") == []  # the integer key is not ours
        with pytest.raises(IntegrityError):
            await kernel.state.backend.scan("")


async def test_threaded_mode_and_reopen(make_kernel: Callable[..., Kernel], tmp_path: Path) -> None:
    config = {"state": {"diskcache": {"threaded": True}}}
    async with make_kernel(config, data_dir=tmp_path / "d") as kernel:
        s = kernel.state.scope("user", "u1")
        await s.set("a", [1])
        await s.update("a", lambda v: [*v, 2])
        assert await s.get_many(["a"]) == {"a": [1, 2]}
        assert await s.list() == ["a"]
        assert all(problems == [] for problems in (await kernel.health()).values())
    async with make_kernel(data_dir=tmp_path / "d") as kernel:
        assert (await kernel.state.scope("user", "u1").get_versioned("a")).version == 2


def test_no_pickle_module_use() -> None:
    """The state plugin's sources never import pickle."""
    import llmspell.plugins.state as package

    sources = list(Path(package.__file__).parent.glob("*.py"))
    assert len(sources) > 10
    for path in sources:
        text = path.read_text()
        assert "import pickle" not in text and "pickle.load" not in text, path


def test_fast_json_check_agrees_with_the_converter() -> None:
    import enum
    import math

    from llmspell import serde
    from llmspell.errors import SerializationError

    _is_json = serde.is_json  # the one fast check, shared by state, events and metadata

    class Colour(enum.IntEnum):
        RED = 1

    samples: list[Any] = [
        None,
        True,
        0,
        -0.0,
        1.5,
        "s",
        2**63 - 1,
        -(2**63),
        2**64 - 1,
        2**64,
        -(2**63) - 1,
        math.nan,
        math.inf,
        -math.inf,
        [1, (2, 3)],
        {"a": {"b": [None]}},
        {1: 2},
        {"a": {2}},
        b"bytes",
        Colour.RED,
        object(),
        [[[[{"deep": [math.nan]}]]]],
        {"k": ("t", 1.0)},
    ]
    for value in samples:
        try:
            serde.check_json(value)
            expected = True
        except SerializationError:
            expected = False
        assert _is_json(value) is expected, value


def _plant_file_row(database: Path, key: str, target: Path, mode: int) -> None:
    """A ``Cache`` row in diskcache's file mode whose ``filename`` points outside the store."""
    con = sqlite3.connect(database)
    with con:
        con.execute(
            "INSERT INTO Cache(key, raw, store_time, expire_time, access_time, access_count,"
            " tag, size, mode, filename, value) VALUES (?, 1, 0, NULL, 0, 0, 1, ?, ?, ?, NULL)",
            (key, target.stat().st_size, mode, str(target)),
        )
    con.close()


@pytest.mark.parametrize("mode", [MODE_BINARY, MODE_TEXT])
async def test_a_planted_file_row_is_never_read_nor_removed(
    make_kernel: Callable[..., Kernel], tmp_path: Path, mode: int
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    secrets = [outside / f"secret-{i}.json" for i in range(3)]
    for secret in secrets:  # valid records: reading them would return their content
        secret.write_bytes(b'{"schema_version":1,"value":"the secret"}')
    async with make_kernel(data_dir=tmp_path / "d") as kernel:
        await kernel.state.scope("app").set("fine", 1)
    database = tmp_path / "d" / "state" / "cache.db"
    for name, secret in zip(("read", "overwrite", "remove"), secrets, strict=True):
        _plant_file_row(database, f"app/default/{name}", secret, mode)
    async with make_kernel(data_dir=tmp_path / "d") as kernel:
        app = kernel.state.scope("app")
        with pytest.raises(IntegrityError, match="points at a file"):
            await app.get("read")
        with pytest.raises(IntegrityError, match="points at a file"):
            await app.set("overwrite", 2)
        await app.delete("remove")  # the row goes by key, unread; the file stays
        assert await app.get("remove") is None
        assert await app.get("fine") == 1
    with open_cache(tmp_path / "d" / "state", disk_min_file_size=2**30) as cache:  # diskcache's own API
        with pytest.raises(IntegrityError, match="points at a file"):
            cache.get("app/default/read")
        assert cache.delete("app/default/read")
        cache.set("app/default/overwrite", b"{}")
    assert all(secret.read_bytes() == b'{"schema_version":1,"value":"the secret"}' for secret in secrets)


def test_the_store_writes_every_value_inline(tmp_path: Path) -> None:
    with open_cache(tmp_path / "c") as cache:
        cache.set("big", b"x" * (1 << 20))
        cache.set("text", "y" * (1 << 20))
        assert cache.get("big") == b"x" * (1 << 20)
    assert not [p for p in (tmp_path / "c").rglob("*") if p.suffix in {".val", ".txt"}]
