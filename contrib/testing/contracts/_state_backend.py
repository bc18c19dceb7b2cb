"""Contract tests of the backend protocol itself: CAS, delete, scan, get-many, batch."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from llmspell.errors import ValidationError
from llmspell.plugins.state.api import ABSENT
from llmspell.plugins.state.backend import Delete, Put, StateBackend


def _prefix() -> str:
    return f"app/contract-{uuid.uuid4().hex}/"


class BackendProtocolTests:
    """Mixed into :class:`~llmspell.contrib.testing.contracts.state.StateContract`."""

    def backend(self, kernel: Any) -> StateBackend:
        backend = kernel.state.backend
        assert isinstance(backend, StateBackend)
        return backend

    async def test_backend_cas_versions(self, kernel: Any) -> None:
        b, p = self.backend(kernel), _prefix()
        assert await b.get(p + "k") is None
        first = await b.compare_and_set(p + "k", b"1", ABSENT)
        assert (first.ok, first.version, first.previous_version) == (True, 1, None)
        again = await b.compare_and_set(p + "k", b"2", ABSENT)
        assert not again.ok and again.previous_version == 1
        assert again.current is not None and again.current.data == b"1"
        stale = await b.compare_and_set(p + "k", b"2", 7)
        assert not stale.ok and stale.previous_version == 1
        second = await b.compare_and_set(p + "k", b"2", 1)
        assert (second.ok, second.version, second.previous_version) == (True, 2, 1)
        blind = await b.compare_and_set(p + "k", b"3")
        assert (blind.ok, blind.version) == (True, 3)
        record = await b.get(p + "k")
        assert record is not None and (record.key, record.data, record.version) == (p + "k", b"3", 3)

    async def test_backend_expected_version_on_missing_key(self, kernel: Any) -> None:
        b, p = self.backend(kernel), _prefix()
        result = await b.compare_and_set(p + "missing", b"1", 1)
        assert not result.ok and result.previous_version is None and result.current is None
        assert await b.get(p + "missing") is None

    async def test_backend_delete(self, kernel: Any) -> None:
        b, p = self.backend(kernel), _prefix()
        gone = await b.delete(p + "nothing")
        assert gone.ok and gone.previous_version is None
        await b.compare_and_set(p + "k", b"1")
        await b.compare_and_set(p + "k", b"2")
        refused = await b.delete(p + "k", 1)
        assert not refused.ok and refused.previous_version == 2
        assert await b.get(p + "k") is not None
        done = await b.delete(p + "k", 2)
        assert done.ok and done.previous_version == 2
        assert await b.get(p + "k") is None
        again = await b.compare_and_set(p + "k", b"x", ABSENT)
        assert again.ok and again.version == 1  # a deleted key starts again at 1

    async def test_backend_scan_prefix_order_and_pages(self, kernel: Any) -> None:
        b, p = self.backend(kernel), _prefix()
        keys = [f"{p}item/{i:03d}" for i in range(25)] + [p + "item", p + "itemz", p + "other"]
        for key in keys:
            await b.compare_and_set(key, b"{}")
        await b.compare_and_set(p[:-1] + "0/x", b"{}")  # a sibling owner: never in the scan
        first = await b.scan(p + "item/", limit=10)
        assert [r.key for r in first] == [f"{p}item/{i:03d}" for i in range(10)]
        rest = await b.scan(p + "item/", after=first[-1].key, limit=100)
        assert [r.key for r in rest] == [f"{p}item/{i:03d}" for i in range(10, 25)]
        everything = await b.scan(p, limit=1000)
        assert [r.key for r in everything] == sorted(keys)
        assert await b.scan(p + "nothing") == []

    async def test_backend_scan_unicode_prefix(self, kernel: Any) -> None:
        b, p = self.backend(kernel), _prefix()
        keys = [p + "é", p + "é/1", p + "é\uffff", p + "ê", p + "\U0001f600"]
        for key in keys:
            await b.compare_and_set(key, b"1")
        assert [r.key for r in await b.scan(p + "é")] == [p + "é", p + "é/1", p + "é\uffff"]
        assert [r.key for r in await b.scan(p + "\U0001f600")] == [p + "\U0001f600"]

    async def test_backend_get_many(self, kernel: Any) -> None:
        b, p = self.backend(kernel), _prefix()
        for i in range(3):
            await b.compare_and_set(f"{p}{i}", str(i).encode())
        found = await b.get_many([f"{p}{i}" for i in range(5)])
        assert sorted(found) == [f"{p}{i}" for i in range(3)]
        assert found[f"{p}2"].data == b"2" and found[f"{p}2"].version == 1
        assert await b.get_many([]) == {}

    async def test_backend_batch_is_atomic(self, kernel: Any) -> None:
        b, p = self.backend(kernel), _prefix()
        await b.compare_and_set(p + "a", b"a1")
        await b.compare_and_set(p + "b", b"b1")
        failed = await b.batch([Put(p + "a", b"a2", 1), Put(p + "new", b"n", ABSENT), Delete(p + "b", 5)])
        assert not failed.ok and failed.failed == 2
        assert failed.conflict is not None and failed.conflict.previous_version == 1
        assert (await b.get(p + "a")).data == b"a1"  # type: ignore[union-attr]
        assert await b.get(p + "new") is None
        done = await b.batch([Put(p + "a", b"a2", 1), Put(p + "new", b"n", ABSENT), Delete(p + "b", 1)])
        assert done.ok and [r.version for r in done.results] == [2, 1, None]
        assert [r.previous_version for r in done.results] == [1, None, 1]
        assert await b.get(p + "b") is None

    async def test_backend_batch_forced_versions_and_bad_batches(self, kernel: Any) -> None:
        b, p = self.backend(kernel), _prefix()
        done = await b.batch([Put(p + "x", b"1", None, 41)])
        assert done.ok and done.results[0].version == 41
        assert (await b.compare_and_set(p + "x", b"2", 41)).version == 42
        with pytest.raises(ValidationError):
            await b.batch([Put(p + "y", b"1"), Delete(p + "y")])
        with pytest.raises(ValidationError):
            await b.compare_and_set(p + "y", b"1", -1)
        assert await b.get(p + "y") is None
        assert (await b.batch([])).ok
