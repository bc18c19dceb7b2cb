"""The state backends' SPI helpers (``llmspell.plugins.state.backend``) on their own."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from llmspell.errors import ValidationError
from llmspell.plugins.state.api import ABSENT
from llmspell.plugins.state.backend import (
    BatchResult,
    CasResult,
    Delete,
    Put,
    Record,
    StateBackendBase,
    WriteOp,
    plan_batch,
)


def test_plan_batch_gives_each_new_version_or_the_first_conflict() -> None:
    a, b = Record("a", b"1", 3), Record("b", b"2", 1)
    done = plan_batch([Put("a", b"x", 3), Put("new", b"y", ABSENT), Delete("b"), Put("c", b"z", None, 40)],
                      [a, None, b, None])
    assert done == BatchResult(True, (CasResult(True, 4, 3), CasResult(True, 1, None), CasResult(True, None, 1),
                                      CasResult(True, 40, None)))
    failed = plan_batch([Put("a", b"x", 3), Delete("b", 5)], [a, b])
    assert (failed.ok, failed.failed, failed.conflict, failed.results) == (False, 1, CasResult(False, None, 1, b), ())


@pytest.mark.parametrize("ops", [[Put("k", b"1"), Delete("k")], [Put("k", b"1", -1)], [Delete("k", "1")],  # type: ignore[arg-type]
                                 [Put("k", b"1", None, 0)]])
def test_plan_batch_refuses_a_malformed_batch(ops: list[WriteOp]) -> None:
    with pytest.raises(ValidationError):
        plan_batch(ops, [None] * len(ops))


class DictBackend(StateBackendBase):
    name, persistent = "dict", False

    def __init__(self) -> None:
        self.records: dict[str, Record] = {}

    async def get_many(self, keys: Sequence[str]) -> dict[str, Record]:
        return {k: self.records[k] for k in keys if k in self.records}

    async def batch(self, ops: Sequence[WriteOp]) -> BatchResult:
        done = plan_batch(ops, [self.records.get(op.key) for op in ops])
        for op, result in zip(ops, done.results, strict=False):
            if isinstance(op, Put):
                self.records[op.key] = Record(op.key, op.data, result.version or 0)
            else:
                self.records.pop(op.key, None)
        return done


async def test_the_base_class_derives_get_cas_and_delete_from_batch() -> None:
    backend = DictBackend()
    assert (await backend.compare_and_set("k", b"1", ABSENT)) == CasResult(True, 1, None)
    assert (await backend.compare_and_set("k", b"2", ABSENT)) == CasResult(False, None, 1, Record("k", b"1", 1))
    assert await backend.get("k") == Record("k", b"1", 1)
    assert (await backend.delete("k", 2)).ok is False
    assert (await backend.delete("k", 1)) == CasResult(True, None, 1)
    assert await backend.get("k") is None
    with pytest.raises(ValidationError, match="expected_version"):
        await backend.compare_and_set("k", b"1", -1)
