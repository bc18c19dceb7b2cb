"""Bad arguments and payloads at the event API: a named error that names the argument."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from llmspell import Kernel
from llmspell.errors import SerializationError, ValidationError
from llmspell.serde import MAX_DEPTH, MAX_VALUE_BYTES

NOT_COUNTS = ["1", 1.5, None, True, 2**63, 2**64, [1]]


def _nested(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


async def _read(kernel: Kernel, stream: str, *args: Any, **kwargs: Any) -> list[Any]:
    return [e async for e in kernel.events.read(stream, *args, **kwargs)]


@pytest.mark.parametrize("from_seq", [0, -5, *NOT_COUNTS])
async def test_read_from_seq(kernel: Kernel, from_seq: Any) -> None:
    await kernel.events.publish("note.added", {"n": 1}, session_id="s1")
    with pytest.raises(ValidationError, match="^from_seq must be an integer from 1"):
        await _read(kernel, "s1", from_seq=from_seq)
    assert len(await _read(kernel, "s1", from_seq=1)) == 1


@pytest.mark.parametrize("to_seq", [-1, "3", 1.5, True, 2**63])
async def test_read_to_seq(kernel: Kernel, to_seq: Any) -> None:
    with pytest.raises(ValidationError, match="^to_seq must be an integer"):
        await _read(kernel, "s1", 1, to_seq)


@pytest.mark.parametrize("limit", [-1, "2", 1.5, True, 2**63])
async def test_read_and_query_limit(kernel: Kernel, limit: Any) -> None:
    with pytest.raises(ValidationError, match="^limit must be an integer"):
        await _read(kernel, "s1", limit=limit)
    with pytest.raises(ValidationError, match="^limit must be an integer"):
        await kernel.events.query(limit=limit)


@pytest.mark.parametrize(("argument", "value"), [("limit", -1), ("limit", "2"), ("limit", True), ("limit", 2**63),
                                               ("since", datetime(2030, 1, 1)), ("until", "2030"),
                                               ("types", 5), ("stream", ""), ("reverse", "yes")])
async def test_the_log_backend_checks_query_arguments_too(kernel: Kernel, argument: str, value: Any) -> None:
    """The log itself (not only the service) refuses a bad query argument, naming it."""
    with pytest.raises(ValidationError, match=argument):
        await kernel.events.log.query(**{argument: value})


async def test_replay_checks_its_range(kernel: Kernel) -> None:
    with pytest.raises(ValidationError, match="^from_seq"):
        await kernel.events.replay("s1", lambda e: None, from_seq=0)
    with pytest.raises(ValidationError, match="replay needs a function"):
        await kernel.events.replay("s1", "not callable")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("since", "2025-01-01"),
        ("until", 12),
        ("since", datetime(2025, 1, 1)),  # naive: no timezone
        ("types", 5),
        ("types", [1, 2]),
        ("reverse", "yes"),
        ("stream", ""),
    ],
)
async def test_query_arguments(kernel: Kernel, argument: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=argument if argument != "stream" else "stream"):
        await kernel.events.query(**{argument: value})


@pytest.mark.parametrize(
    ("argument", "value"),
    [("last", -1), ("last", "3"), ("follow", "yes"), ("poll_interval", 0), ("poll_interval", float("inf")),
     ("types", 7)],
)
async def test_tail_arguments(kernel: Kernel, argument: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=argument):
        [e async for e in kernel.events.tail("s1", **{argument: value})]


@pytest.mark.parametrize("many", [False, True])
async def test_cyclic_and_deep_payloads_name_their_path(kernel: Kernel, many: bool) -> None:
    loop: dict[str, Any] = {"a": [1]}
    loop["a"].append(loop)

    async def publish(payload: Any) -> Any:
        if many:
            return await kernel.events.publish_many([("note.added", payload)])
        return await kernel.events.publish("note.added", payload, session_id="s1")

    with pytest.raises(SerializationError, match="cyclic") as info:
        await publish(loop)
    assert info.value.path == "$.payload.a[1]"
    with pytest.raises(SerializationError, match="too deeply") as info:
        await publish({"deep": _nested(2000)})
    assert info.value.path.startswith("$.payload.deep[0]")
    await publish({"deepest": _nested(MAX_DEPTH)})  # each value may nest as deeply as a state value
    with pytest.raises(ValidationError, match="payload must be a mapping"):
        await publish([1, 2])


async def test_one_size_limit_for_payloads_and_state_values(kernel: Kernel) -> None:
    big = "x" * (MAX_VALUE_BYTES + 70 * 1024)
    with pytest.raises(ValidationError, match="the limit is") as info:
        await kernel.events.publish("note.added", {"text": big}, session_id="s-big")
    assert str(MAX_VALUE_BYTES) in str(info.value)
    assert await kernel.events.last_seq("s-big") == 0
    with pytest.raises(ValidationError, match="max_value_bytes"):
        await kernel.state.scope("session", "s-big").set("k", big)
    # the largest value state accepts is still published as its state.changed event
    largest = "y" * (MAX_VALUE_BYTES - 64)
    await kernel.state.scope("session", "s-big").set("k", largest)
    [changed] = [e async for e in kernel.events.read("s-big") if e.type == "state.changed"]
    assert len(changed.payload["value"]) == len(largest)


@pytest.mark.parametrize(
    ("argument", "value"),
    [("source", 5), ("session_id", 5), ("user_id", ["u"]), ("correlation_id", 1.5), ("causation_id", b"x")],
)
async def test_publish_metadata_types(kernel: Kernel, argument: str, value: Any) -> None:
    """A wrong type is refused before it is logged (it would make the stored record unreadable)."""
    meta = {"session_id": "s-meta", argument: value}
    with pytest.raises(ValidationError, match=f"^{argument} must be a string"):
        await kernel.events.publish("note.added", {}, **meta)
    assert await kernel.events.last_seq("s-meta") == 0


async def test_other_entry_points(kernel: Kernel) -> None:
    events = kernel.events
    with pytest.raises(ValidationError, match="^timeout"):
        await events.wait_for("a.b", timeout="1")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="^predicate"):
        await events.wait_for("a.b", 5, timeout=1)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="^prefix"):
        await events.streams(5)  # type: ignore[arg-type]
    for bad in (5, "a.b", {"a.b": {}}):
        with pytest.raises(ValidationError, match="^publish_many takes"):
            await events.publish_many(bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="pairs"):
        await events.publish_many([("a.b", {}, "extra")])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="^projection must be a Projection"):
        await events.project("s1", None)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="^to_seq"):
        await events.project("s1", None, to_seq="x")  # type: ignore[arg-type]
