"""Contract tests of the backend protocol itself: CAS, delete, scan, get-many, batch."""

from __future__ import annotations

import uuid
from typing import Any

from llmspell.errors import ValidationError
from llmspell.plugins.state.api import ABSENT
from llmspell.plugins.state.backend import Delete, Put

from . import raises


def _prefix() -> str:
    return f"app/contract-{uuid.uuid4().hex}/"


class BackendProtocolTests:
    """Mixed into :class:`~llmspell.contrib.testing.contracts.state.StateContract`; ``backend`` is opened."""

    async def test_backend_cas_versions(self, backend: Any) -> None:
        """Versions start at 1 and grow by 1; ``expected_version=ABSENT`` (0) creates only, a
        stale version is refused with the current record, ``None`` writes blindly."""
        b, p = backend, _prefix()
        assert await b.get(p + "k") is None, "rule: a missing key reads as None"
        first = await b.compare_and_set(p + "k", b"1", ABSENT)
        assert (first.ok, first.version, first.previous_version) == (True, 1, None), "rule: a new key gets version 1"
        again = await b.compare_and_set(p + "k", b"2", ABSENT)
        assert not again.ok and again.previous_version == 1, "rule: ABSENT on an existing key is refused"
        assert again.current is not None and again.current.data == b"1", "rule: a refused CAS returns the current record"
        stale = await b.compare_and_set(p + "k", b"2", 7)
        assert not stale.ok and stale.previous_version == 1, "rule: a wrong expected version is refused"
        second = await b.compare_and_set(p + "k", b"2", 1)
        assert (second.ok, second.version, second.previous_version) == (True, 2, 1), "rule: a matching CAS bumps by 1"
        blind = await b.compare_and_set(p + "k", b"3")
        assert (blind.ok, blind.version) == (True, 3), "rule: expected_version=None always writes"
        record = await b.get(p + "k")
        assert record is not None and (record.key, record.data, record.version) == (p + "k", b"3", 3), (
            "rule: get returns the last written bytes and version"
        )

    async def test_backend_expected_version_on_missing_key(self, backend: Any) -> None:
        """A CAS expecting version n >= 1 on a missing key fails (no current record) and writes nothing."""
        b, p = backend, _prefix()
        result = await b.compare_and_set(p + "missing", b"1", 1)
        assert not result.ok and result.previous_version is None and result.current is None, (
            "rule: expecting a version of a missing key fails with no current record"
        )
        assert await b.get(p + "missing") is None, "rule: a failed CAS writes nothing"

    async def test_backend_delete(self, backend: Any) -> None:
        """Deleting a missing key succeeds; a delete with a stale version is refused; a deleted
        key created again starts at version 1."""
        b, p = backend, _prefix()
        gone = await b.delete(p + "nothing")
        assert gone.ok and gone.previous_version is None, "rule: deleting a missing key is ok"
        await b.compare_and_set(p + "k", b"1")
        await b.compare_and_set(p + "k", b"2")
        refused = await b.delete(p + "k", 1)
        assert not refused.ok and refused.previous_version == 2, "rule: a delete with a stale version is refused"
        assert await b.get(p + "k") is not None, "rule: a refused delete removes nothing"
        done = await b.delete(p + "k", 2)
        assert done.ok and done.previous_version == 2, "rule: a delete with the current version succeeds"
        assert await b.get(p + "k") is None, "rule: a deleted key reads as None"
        again = await b.compare_and_set(p + "k", b"x", ABSENT)
        assert again.ok and again.version == 1, "rule: a deleted key starts again at version 1"

    async def test_backend_scan_prefix_order_and_pages(self, backend: Any) -> None:
        """``scan(prefix)`` returns the keys starting with ``prefix`` in code-point order, at most
        ``limit``, strictly after ``after`` (exclusive); a sibling prefix never leaks in."""
        b, p = backend, _prefix()
        keys = [f"{p}item/{i:03d}" for i in range(25)] + [p + "item", p + "itemz", p + "other"]
        for key in keys:
            await b.compare_and_set(key, b"{}")
        await b.compare_and_set(p[:-1] + "0/x", b"{}")  # a sibling owner: never in the scan
        first = await b.scan(p + "item/", limit=10)
        assert [r.key for r in first] == [f"{p}item/{i:03d}" for i in range(10)], (
            "rule: scan returns the first `limit` keys with the prefix, in order"
        )
        rest = await b.scan(p + "item/", after=first[-1].key, limit=100)
        assert [r.key for r in rest] == [f"{p}item/{i:03d}" for i in range(10, 25)], (
            "rule: scan(after=k) starts strictly after k"
        )
        everything = await b.scan(p, limit=1000)
        assert [r.key for r in everything] == sorted(keys), "rule: scan is in code-point order, prefix only"
        assert await b.scan(p + "nothing") == [], "rule: a prefix with no keys scans empty"

    async def test_backend_scan_unicode_prefix(self, backend: Any) -> None:
        """Scans order and match non-ASCII keys by code point (U+FFFF and 4-byte characters too)."""
        b, p = backend, _prefix()
        keys = [p + "é", p + "é/1", p + "é\uffff", p + "ê", p + "\U0001f600"]
        for key in keys:
            await b.compare_and_set(key, b"1")
        assert [r.key for r in await b.scan(p + "é")] == [p + "é", p + "é/1", p + "é\uffff"], (
            "rule: a non-ASCII prefix matches by code point"
        )
        assert [r.key for r in await b.scan(p + "\U0001f600")] == [p + "\U0001f600"], (
            "rule: a 4-byte prefix matches by code point"
        )

    async def test_backend_get_many(self, backend: Any) -> None:
        """``get_many`` returns the records of the keys that exist (missing ones are left out);
        no keys gives an empty dict."""
        b, p = backend, _prefix()
        for i in range(3):
            await b.compare_and_set(f"{p}{i}", str(i).encode())
        found = await b.get_many([f"{p}{i}" for i in range(5)])
        assert sorted(found) == [f"{p}{i}" for i in range(3)], "rule: get_many leaves missing keys out"
        assert found[f"{p}2"].data == b"2" and found[f"{p}2"].version == 1, "rule: get_many returns each record"
        assert await b.get_many([]) == {}, "rule: get_many([]) is {}"

    async def test_backend_batch_is_atomic(self, backend: Any) -> None:
        """A batch applies every operation or none: one failed condition fails the whole batch,
        names the failing index and its current version, and writes nothing."""
        b, p = backend, _prefix()
        await b.compare_and_set(p + "a", b"a1")
        await b.compare_and_set(p + "b", b"b1")
        failed = await b.batch([Put(p + "a", b"a2", 1), Put(p + "new", b"n", ABSENT), Delete(p + "b", 5)])
        assert not failed.ok and failed.failed == 2, "rule: a failed batch names the index that failed"
        assert failed.conflict is not None and failed.conflict.previous_version == 1, (
            "rule: a failed batch reports the current version of the failing key"
        )
        assert (await b.get(p + "a")).data == b"a1", "rule: a failed batch writes nothing"
        assert await b.get(p + "new") is None, "rule: a failed batch creates nothing"
        done = await b.batch([Put(p + "a", b"a2", 1), Put(p + "new", b"n", ABSENT), Delete(p + "b", 1)])
        assert done.ok and [r.version for r in done.results] == [2, 1, None], "rule: a batch returns each new version"
        assert [r.previous_version for r in done.results] == [1, None, 1], "rule: ... and each previous version"
        assert await b.get(p + "b") is None, "rule: a batch delete removes the key"

    async def test_backend_batch_forced_versions(self, backend: Any) -> None:
        """A ``Put`` with a forced version stores exactly that version (imports); the next CAS
        continues from it; an empty batch is ok."""
        b, p = backend, _prefix()
        done = await b.batch([Put(p + "x", b"1", None, 41)])
        assert done.ok and done.results[0].version == 41, "rule: a forced version is stored as given"
        assert (await b.compare_and_set(p + "x", b"2", 41)).version == 42, "rule: versions continue from a forced one"
        assert (await b.batch([])).ok, "rule: an empty batch is ok"

    async def test_backend_batch_with_the_same_key_twice_raises_validation_error(self, backend: Any) -> None:
        """A batch with the same key twice raises ValidationError and writes nothing."""
        b, p = backend, _prefix()
        with raises(ValidationError, "a batch with the same key twice raises ValidationError"):
            await b.batch([Put(p + "y", b"1"), Delete(p + "y")])
        assert await b.get(p + "y") is None, "rule: a batch with the same key twice writes nothing"

    async def test_backend_negative_expected_version_raises_validation_error(self, backend: Any) -> None:
        """A negative expected version raises ValidationError (for CAS and delete) and writes nothing."""
        b, p = backend, _prefix()
        with raises(ValidationError, "a negative expected version of compare_and_set raises ValidationError"):
            await b.compare_and_set(p + "y", b"1", -1)
        with raises(ValidationError, "a negative expected version of delete raises ValidationError"):
            await b.delete(p + "y", -1)
        assert await b.get(p + "y") is None, "rule: a negative expected version writes nothing"
