"""The event model: names, patterns, the envelope, typed classes, malformed records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

from llmspell import Kernel
from llmspell.errors import IntegrityError, SerializationError, ValidationError
from llmspell.plugins.events.api import (
    FAMILIES,
    SYSTEM_TYPES,
    Event,
    MalformedEventError,
    StateChanged,
    WorkflowStep,
    check_stream,
    check_type,
    compile_patterns,
)
from llmspell.plugins.events.backend import EventCodec


@pytest.mark.parametrize("name", ["a", "agent.started", "my-app.order_paid.v2", "A.B.C"])
def test_valid_type_names(name: str) -> None:
    assert check_type(name) == name


@pytest.mark.parametrize("name", ["", "agent.", ".agent", "agent..x", "agent.*", "a b", "ä.b", 3, None, "x" * 201])
def test_invalid_type_names(name: Any) -> None:
    with pytest.raises(ValidationError):
        check_type(name)


@pytest.mark.parametrize("name", ["", "a\nb", "x" * 513, 5])
def test_invalid_stream_names(name: Any) -> None:
    with pytest.raises(ValidationError):
        check_stream(name)


@pytest.mark.parametrize(
    ("pattern", "yes", "no"),
    [
        ("agent.*", ["agent.started", "agent.x"], ["agent", "agent.tool.called", "agents.x", "x.agent.y"]),
        ("agent.**", ["agent.started", "agent.tool.called.deep"], ["agent", "agentx.y"]),
        ("agent.started", ["agent.started"], ["agent.started.x", "agent"]),
        ("*.called", ["tool.called", "model.called"], ["called", "agent.tool.called"]),
        ("**", ["a", "a.b", "a.b.c"], []),
        ("*", ["a"], ["a.b"]),
        ("a.**.z", ["a.b.z", "a.b.c.z"], ["a.z", "a.b.c"]),
    ],
)
def test_topic_patterns(pattern: str, yes: list[str], no: list[str]) -> None:
    compiled = compile_patterns(pattern)
    assert all(compiled.match(t) for t in yes)
    assert not any(compiled.match(t) for t in no)


def test_several_patterns_and_bad_ones() -> None:
    both = compile_patterns(["agent.*", "tool.called"])
    assert both.match("agent.x") and both.match("tool.called") and not both.match("tool.failed")
    assert both.prefixes == ("agent.", "tool.called")
    for bad in ("age*", "a..b", "", "a.b c", "a.***"):
        with pytest.raises(ValidationError):
            compile_patterns(bad)
    with pytest.raises(ValidationError):
        compile_patterns([])


def test_events_are_frozen_with_standard_metadata() -> None:
    event = Event("note.added", {"text": "hi"})
    assert len(event.id) == 36 and event.id[14] == "7"  # UUIDv7
    assert event.time.tzinfo is UTC
    assert (event.stream, event.seq, event.schema_version, event.source) == (None, None, 1, "")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.type = "other"  # type: ignore[misc]
    later = Event("note.added")
    assert later.id > event.id


def test_codec_round_trip_and_envelope() -> None:
    codec = EventCodec()
    when = datetime(2025, 5, 6, 7, 8, 9, 101112, tzinfo=timezone(timedelta(hours=2)))
    event = Event("x.y", {"a": [1, "b", None]}, time=when, source="s", session_id="sid", schema_version=2)
    data = codec.envelope(event)
    assert data == {"v": 1, "id": event.id, "type": "x.y", "time": "2025-05-06T05:08:09.101112+00:00",
                    "payload": {"a": [1, "b", None]}, "source": "s", "session_id": "sid", "schema_version": 2}
    back = codec.decode(codec.encode(event), "st", 4)
    assert attrs.asdict(back) == {**attrs.asdict(event), "time": when.astimezone(UTC), "stream": "st", "seq": 4}
    carried = codec.decode(codec.encode(attrs.evolve(event, stream="st", seq=9), position=True))
    assert (carried.stream, carried.seq) == ("st", 9)
    assert event.as_dict()["stream"] is None


def test_codec_refuses_what_is_not_json() -> None:
    codec = EventCodec()
    for payload, where in (({"t": datetime.now(UTC)}, "$.payload.t"), ({"n": float("inf")}, "$.payload.n"),
                           ({1: "x"}, "$.payload"), ({"s": {1, 2}}, "$.payload.s")):
        with pytest.raises(SerializationError, match=rf"at {where.replace('$', '[$]')}"):
            codec.encode(Event("x.y", payload))
    with pytest.raises(SerializationError, match="naive"):
        codec.encode(Event("x.y", {}, time=datetime(2025, 1, 1)))


GOOD = b'{"v":1,"id":"i","type":"x.y","time":"2025-01-01T00:00:00+00:00","payload":{}}'


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (GOOD.replace(b'"v":1', b'"v":2'), "newer than this code reads"),
        (GOOD.replace(b'"v":1,', b""), "unknown envelope version None"),
        (GOOD.replace(b',"payload":{}', b""), "missing key 'payload'"),
        (GOOD.replace(b'"payload":{}', b'"payload":[]'), "payload must be an object"),
        (GOOD.replace(b'"x.y"', b'"x y"'), "invalid event type"),
        (GOOD.replace(b"+00:00", b""), "no timezone"),
        (GOOD.replace(b'"payload":{}', b'"payload":{},"tenant":"t"'), "unknown key(s) tenant"),
        (GOOD.replace(b'"id":"i"', b'"id":5'), "id and source must be strings"),
        (GOOD.replace(b'"payload":{}', b'"payload":{},"session_id":7'), "ids must be strings"),
    ],
)
def test_malformed_records_name_their_stream_and_seq(raw: bytes, reason: str) -> None:
    with pytest.raises(MalformedEventError) as info:
        EventCodec().decode(raw, "sess-1", 17)
    assert (info.value.stream, info.value.seq) == ("sess-1", 17)
    assert "stream 'sess-1' seq 17" in str(info.value) and reason in str(info.value)
    assert isinstance(info.value, IntegrityError)


def test_typed_classes_and_families(kernel: Kernel) -> None:
    codec = EventCodec.for_kernel(kernel)
    assert codec.cls_for("state.changed") is StateChanged
    assert codec.cls_for("agent.tool.called").__name__ == "AgentEvent"
    assert codec.cls_for("agent.started").__name__ == "AgentStarted"
    assert codec.cls_for("vendor.thing") is Event
    registered = {str(r.name) for r in kernel.registry("event_type")}
    assert set(FAMILIES) | set(SYSTEM_TYPES) <= registered
    assert {name.split(".")[0] for name in SYSTEM_TYPES} == {
        "kernel", "plugin", "agent", "tool", "model", "state", "session", "artifact", "workflow", "hook"}
    step = WorkflowStep.create({"workflow": "w", "run_id": "r", "step": "s", "index": 2, "status": "started"})
    assert (step.type, step.step, step.index, step.status) == ("workflow.step", "s", 2, "started")
    with pytest.raises(ValidationError, match="step, index"):
        WorkflowStep.create({"workflow": "w", "run_id": "r", "status": "x"})
    with pytest.raises(ValidationError):
        Event.create({})
    assert StateChanged.create({"scope": "app"}).deleted is False


async def test_malformed_stored_events_are_reported_with_stream_and_seq(make_kernel: Any) -> None:
    for backend in ("memory", "diskcache"):
        async with make_kernel({"events": {"backend": backend}}) as kernel:
            await kernel.events.publish_many([Event("ok.x", {"i": i}, stream="s") for i in range(1, 4)])
            await plant(kernel, "s", 4, b'{"v":1,"id":"bad","type":"ok.x","payload":{}}')
            await kernel.events.publish_many([Event("ok.x", {"i": i}, stream="s") for i in range(5, 7)])
            before: list[int] = []
            with pytest.raises(MalformedEventError, match=r"stream 's' seq 4: missing key 'time'") as info:
                async for event in kernel.events.read("s"):
                    before.append(event.payload["i"])
            assert (info.value.stream, info.value.seq) == ("s", 4)
            assert before == [1, 2, 3]
            good = [e.payload["i"] async for e in kernel.events.read("s", malformed="skip")]
            assert good == [1, 2, 3, 5, 6]
            assert kernel.events.stats()["malformed"] == 1
            assert "stream 's' seq 4" in kernel.events.malformed[0]


async def plant(kernel: Kernel, stream: str, seq: int, raw: bytes) -> None:
    """Write a raw record behind the codec's back, as a foreign or broken writer would."""
    log: Any = kernel.events.log
    if hasattr(log, "_streams"):
        log._streams.setdefault(stream, []).append(("bad", "ok.x", 0, raw))
        return

    def write() -> None:
        con = log._cache._con
        con.execute(
            "INSERT INTO llmspell_events (stream, seq, id, type, time, data) VALUES (?, ?, ?, ?, ?, ?)",
            (stream, seq, "bad", "ok.x", 0, raw),
        )
        con.execute("UPDATE llmspell_event_streams SET last_seq = ? WHERE stream = ?", (seq, stream))

    await log._run(write)


@pytest.mark.parametrize(
    "value",
    [None, True, 0, 2**63, -(2**63) - 1, 1.5, float("nan"), "s", [1, [2, {"a": None}]], (1, "x"),
     {"k": {"n": float("inf")}}, {1: "x"}, {"k": b"bytes"}, {"k": {1, 2}}, object()],
)
def test_the_fast_json_check_agrees_with_the_one_that_names_the_path(value: Any) -> None:
    from llmspell.serde import check_json, is_json

    try:
        check_json(value)
        ok = True
    except SerializationError:
        ok = False
    assert is_json(value) is ok
