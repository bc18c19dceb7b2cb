"""``kernel.state.write_many``: several keys, every one as its own write would be, all or none."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from llmspell import Kernel
from llmspell.errors import ConflictError, SerializationError, ValidationError
from llmspell.hooks import Replace
from llmspell.plugins.agents.api import DELETE
from llmspell.plugins.state.api import KeyWrite, StateChange
from tests.agents.agent_helpers import Writer


async def changes(kernel: Kernel, run: Callable[[], Any]) -> list[StateChange]:
    """The ``state.changed`` of every write ``run()`` makes."""
    seen: list[StateChange] = []
    watch = kernel.state.watch(None, None, "", seen.append)
    try:
        await run()
        await kernel.events.flush()
    finally:
        watch.close()
    return seen


async def test_every_key_is_written_with_its_policy_hook_and_event(kernel: Kernel) -> None:
    kernel.state.set_policy("count", "merge:counter_add")
    kernel.hooks.register(
        "state_before_write",
        lambda call: Replace(call.request.value.upper()) if call.request.key == "shout" else None,
    )
    user, app = kernel.state.scope("user", "u1"), kernel.state.scope("app")
    await user.set("count", 5)
    await user.set("gone", 1)

    async def write() -> None:
        versions = await kernel.state.write_many(
            [
                KeyWrite(user, "count", 2),
                KeyWrite(user, "shout", "hi"),
                KeyWrite(app, "plain", {"a": 1}),
                KeyWrite(user, "gone", delete=True),
            ]
        )
        assert versions == (2, 1, 1, None)

    seen = await changes(kernel, write)
    assert await user.get("count") == 7  # merged by its reducer
    assert await user.get("shout") == "HI"  # the hook ran for its key
    assert await app.get("plain") == {"a": 1}
    assert await user.get("gone") is None
    assert [(c.scope, c.key, c.value, c.op, c.deleted) for c in seen] == [
        ("user", "count", 7, "merge", False),
        ("user", "shout", "HI", "set", False),
        ("app", "plain", {"a": 1}, "set", False),
        ("user", "gone", None, "delete", True),
    ]


async def test_a_conflict_on_one_key_writes_nothing(kernel: Kernel) -> None:
    kernel.state.set_policy("guarded", "reject")
    s = kernel.state.scope("user", "u1")
    await s.set("a", "old")
    await kernel.state.scope("user", "u1").set("guarded", "theirs")  # this handle never saw it

    async def write() -> None:
        with pytest.raises(ConflictError) as info:
            await kernel.state.write_many(
                [KeyWrite(s, "a", "new"), KeyWrite(s, "b", 1), KeyWrite(s, "guarded", "mine")]
            )
        assert info.value.key == "guarded" and info.value.current_value == "theirs"
        with pytest.raises(ConflictError):
            await kernel.state.write_many([KeyWrite(s, "a", "new"), KeyWrite(s, "b", 1, expected_version=3)])

    assert await changes(kernel, write) == []
    assert await s.get("a") == "old" and await s.get("b") is None and await s.get("guarded") == "theirs"
    await s.get("guarded")  # now seen: the write goes through, and the handle remembers its version
    assert await kernel.state.write_many([KeyWrite(s, "guarded", "mine"), KeyWrite(s, "a", "new")]) == (2, 2)
    assert await kernel.state.write_many([KeyWrite(s, "guarded", "again")]) == (3,)


async def test_a_merged_key_is_read_again_after_a_race(
    kernel: Kernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    kernel.state.set_policy("count", "merge:counter_add")
    s = kernel.state.scope("user", "u1")
    await s.set("count", 1)
    backend = kernel.state.backend
    batch = backend.batch
    raced = []

    async def racing(ops: Any) -> Any:
        if not raced:  # another writer gets in between the read and the batch, once
            raced.append(await kernel.state.scope("user", "u1").set("count", 10))
        return await batch(ops)

    monkeypatch.setattr(backend, "batch", racing)
    assert await kernel.state.write_many([KeyWrite(s, "count", 5), KeyWrite(s, "other", "x")]) == (3, 1)
    assert raced == [2] and await s.get("other") == "x"
    assert await s.get("count") == 16  # 1, + 10 (theirs, merged), + 5


@pytest.mark.parametrize(
    ("writes", "message"),
    [
        ("not a list", "needs a list of KeyWrite"),
        (KeyWrite(None, "k"), "needs a list of KeyWrite"),  # type: ignore[arg-type]
        (["k"], "is str, not KeyWrite"),
        ([KeyWrite(None, "k", 1)], "needs a scope handle"),  # type: ignore[arg-type]
        ([("user", "u1", "k")], "is tuple, not KeyWrite"),
    ],
)
async def test_bad_inputs_are_named(kernel: Kernel, writes: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        await kernel.state.write_many(writes)


async def test_bad_keys_and_values_write_nothing(make_kernel: Callable[..., Kernel]) -> None:
    async with make_kernel({"state": {"max_value_bytes": 1000}}) as kernel, make_kernel() as other:
        s = kernel.state.scope("user", "u1")
        bad = [
            ([KeyWrite(s, "a", 1), KeyWrite(s, "", 2)], "must not be empty"),
            ([KeyWrite(s, "a", 1), KeyWrite(s, "a", 2)], "written twice"),
            ([KeyWrite(s, "a", 1), KeyWrite(s, "b", "x" * 1000)], "max_value_bytes"),
            ([KeyWrite(s, "a", 1), KeyWrite(s, "b", 1, expected_version=-1)], "expected_version"),
            ([KeyWrite(s, "a", 1), KeyWrite(other.state.scope("user", "u1"), "b", 1)], "from this kernel"),
        ]
        for writes, message in bad:
            with pytest.raises(ValidationError, match=message):
                await kernel.state.write_many(writes)
        with pytest.raises(SerializationError, match="not JSON data"):
            await kernel.state.write_many([KeyWrite(s, "a", 1), KeyWrite(s, "b", {1, 2})])
        assert await s.list() == []


async def test_an_agent_delta_is_all_or_nothing(kernel: Kernel) -> None:
    kernel.state.set_policy("locked", "reject")
    await kernel.state.scope("agent", "w").set("locked", "theirs")
    writer = kernel.agents.create(
        Writer, name="w", writes={"agent:a": 1, "temp:t": 2, "user:x": 3, "locked": 4}
    )
    with pytest.raises(ValidationError, match="no user"):  # refused before anything is written
        await kernel.run(writer, "go")
    assert await kernel.state.scope("agent", "w").get("a") is None
    writer = kernel.agents.create(
        Writer, name="w2", writes={"agent:a": 1, "agent:b": DELETE, "agent:locked": 4}
    )
    await kernel.state.scope("agent", "w2").set("locked", "theirs")
    with pytest.raises(ConflictError):
        await kernel.run(writer, "go")
    assert await kernel.state.scope("agent", "w2").list() == ["locked"]
    assert await kernel.state.scope("agent", "w").list() == ["locked"]


async def test_the_events_of_a_batch_are_logged_in_one_append(kernel: Kernel) -> None:
    """A batch's state.changed events reach the event log together (one transaction on
    the diskcache log), in the order of the writes."""
    log = kernel.events.log  # type: ignore[attr-defined]
    appended: list[list[str]] = []
    append = log.append

    async def counting(events: Any) -> Any:
        appended.append([e.payload.get("key") for e in events])
        return await append(events)

    log.append = counting
    session = kernel.state.scope("session", "s1")
    await kernel.state.write_many([KeyWrite(session, "a", 1), KeyWrite(session, "b", 2), KeyWrite(session, "c", 3)])
    await session.set("d", 4)
    assert appended == [["a", "b", "c"], ["d"]]
    logged = [e.payload["key"] async for e in kernel.events.read("s1") if e.type == "state.changed"]
    assert logged == ["a", "b", "c", "d"]
