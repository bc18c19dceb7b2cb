"""Bad arguments and values at the state API: a named error that names the argument, nothing written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from llmspell import Kernel
from llmspell.errors import ConflictError, SerializationError, ValidationError

BAD_VERSIONS = [2**63 - 1, 2**63, 2**64, 2**200, -1, "1", 1.0, True, [1]]


def _nested(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


@pytest.mark.parametrize("version", BAD_VERSIONS)
async def test_expected_version_out_of_range_or_not_an_integer(kernel: Kernel, version: Any) -> None:
    s = kernel.state.scope("user", "u1")
    await s.set("k", 1)
    with pytest.raises(ValidationError, match="expected_version"):
        await s.set("k", 2, expected_version=version)
    with pytest.raises(ValidationError, match="expected_version"):
        await s.delete("k", expected_version=version)
    assert await s.get_versioned("k") is not None and await s.get("k") == 1


async def test_the_largest_version_is_a_conflict_not_an_error(kernel: Kernel) -> None:
    s = kernel.state.scope("user", "u1")
    with pytest.raises(ConflictError):
        await s.set("k", 1, expected_version=2**63 - 2)


@pytest.mark.parametrize("retries", [-1, 2**63, "3", 1.5, True])
async def test_update_retries_must_be_a_count(kernel: Kernel, retries: Any) -> None:
    s = kernel.state.scope("user", "u1")
    calls: list[Any] = []
    with pytest.raises(ValidationError, match="^retries must be an integer"):
        await s.update("n", lambda n: calls.append(n) or 1, retries=retries)
    assert calls == [] and await s.get("n") is None
    assert (await s.update("n", lambda n: 7, retries=0)).value == 7


@pytest.mark.parametrize("prefix", [5, None, b"a"])
async def test_list_and_scan_prefix_must_be_text(kernel: Kernel, prefix: Any) -> None:
    s = kernel.state.scope("user", "u1")
    with pytest.raises(ValidationError, match="^prefix must be a string"):
        await s.list(prefix)
    with pytest.raises(ValidationError, match="^prefix must be a string"):
        [item async for item in s.scan(prefix)]


async def test_policy_arguments(kernel: Kernel) -> None:
    for pattern in ("", None, 3):
        with pytest.raises(ValidationError, match="policy pattern"):
            kernel.state.set_policy(pattern, "reject")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="conflict policy"):
        kernel.state.set_policy("k*", None)  # type: ignore[arg-type]


@pytest.mark.parametrize("scope", ["user", "session", "temp"])
async def test_cyclic_and_deep_values_name_their_path(kernel: Kernel, scope: str) -> None:
    s = kernel.state.scope(scope, "o1")
    loop: dict[str, Any] = {"a": {"b": [0, 1, 2]}}
    loop["a"]["b"].append(loop)
    with pytest.raises(SerializationError, match="cyclic") as info:
        await s.set("k", loop)
    assert info.value.path == "$.a.b[3]"
    with pytest.raises(SerializationError, match="cyclic"):
        await s.update("k", lambda _: loop)
    with pytest.raises(SerializationError, match="too deeply") as info:
        await s.set("k", {"deep": _nested(1000)})
    assert info.value.path.startswith("$.deep[0][0]")
    assert await s.get("k") is None


async def test_the_deepest_allowed_value_is_stored_and_published(kernel: Kernel) -> None:
    """A session key's write is logged as ``state.changed``: the event carries the value one level down."""
    from llmspell.serde import MAX_DEPTH

    deepest = _nested(MAX_DEPTH)
    s = kernel.state.scope("session", "s-deep")
    await s.set("k", deepest)
    assert await s.get("k") == deepest
    changes = [e async for e in kernel.events.read("s-deep") if e.type == "state.changed"]
    assert changes and changes[-1].payload["value"] == deepest


async def test_delete_under_reject_after_another_writer_conflicts(make_kernel: Callable[..., Kernel]) -> None:
    async with make_kernel({"state": {"policies": {"doc": "reject"}}}) as kernel:
        mine = kernel.state.scope("user", "u1")
        theirs = kernel.state.scope("user", "u1")  # another handle: another writer
        await mine.set("doc", "v1")
        await theirs.get("doc")
        await theirs.set("doc", "v2")
        with pytest.raises(ConflictError) as info:
            await mine.delete("doc")
        assert info.value.current_version == 2 and info.value.current_value == "v2"
        assert await theirs.get("doc") == "v2"
        # a handle that never saw the key may not delete it blindly either
        with pytest.raises(ConflictError):
            await kernel.state.scope("user", "u1").delete("doc")
        await mine.get("doc")  # after reading the current version, the delete goes through
        assert await mine.delete("doc") is True
        assert await theirs.get("doc") is None


async def test_value_size_limit_is_the_shared_default(make_kernel: Callable[..., Kernel]) -> None:
    from llmspell.serde import MAX_VALUE_BYTES

    async with make_kernel() as kernel:
        assert kernel.state.config.max_value_bytes == MAX_VALUE_BYTES


async def test_get_many_and_update_arguments(kernel: Kernel) -> None:
    s = kernel.state.scope("user", "u1")
    for keys in (5, "abc", None):
        with pytest.raises(ValidationError, match="^keys must be a list"):
            await s.get_many(keys)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="state key"):
        await s.get_many(["a", 5])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="^update needs a function"):
        await s.update("k", 5)  # type: ignore[arg-type]
