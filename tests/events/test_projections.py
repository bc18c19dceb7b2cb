"""Event sourcing: rebuild == live, determinism, idempotence, snapshots, live projections."""

from __future__ import annotations

import random
from typing import Any

import pytest

from llmspell import Kernel, serde
from llmspell.plugins._values import dumps_data
from llmspell.plugins.events import state_projection, state_values
from llmspell.plugins.events.api import Event, Projection, _apply_state

SESSION = "0190e6b2-0000-7000-8000-000000000001"


def mixed_events(count: int, seed: int = 5) -> tuple[list[tuple[str, dict[str, Any], str]], dict[Any, Any]]:
    """``count`` events for one session (state writes and deletes among other events) and
    the state a store would hold after them (the model the rebuild must equal)."""
    rng = random.Random(seed)
    model: dict[tuple[str, str, str], Any] = {}
    versions: dict[tuple[str, str, str], int] = {}
    out = []
    owners = {"session": [SESSION], "user": ["u1", "u2"], "agent": ["planner", "coder"], "app": [""]}
    for i in range(count):
        roll = rng.random()
        if roll < 0.3:
            kind = rng.choice(["note.added", "agent.started", "tool.called", "model.finished"])
            out.append((kind, {"i": i, "text": f"noise {i}"}, SESSION))
            continue
        scope = rng.choice(list(owners))
        owner = rng.choice(owners[scope])
        key = f"k{rng.randrange(12)}"
        ident = (scope, owner, key)
        old = versions.get(ident)
        new = (old or 0) + 1
        deleted = ident in model and roll > 0.9
        value = None if deleted else {"n": i, "tags": [rng.choice("abc") for _ in range(rng.randrange(3))]}
        versions[ident] = new
        if deleted:
            del model[ident]
        else:
            model[ident] = value
        out.append(("state.changed", {"scope": scope, "owner": owner, "key": key, "old_version": old,
                                      "new_version": new, "value": value, "deleted": deleted}, SESSION))
    return out, model


async def publish_all(kernel: Kernel, events: list[tuple[str, dict[str, Any], str]]) -> None:
    for type_name, payload, session in events:
        await kernel.events.publish(type_name, payload, session_id=session, source="state")


async def test_rebuild_by_replay_equals_live_state_after_1000_mixed_events(kernel: Kernel) -> None:
    events, model = mixed_events(1000)
    assert sum(1 for e in events if e[0] == "state.changed") > 600
    live = await kernel.events.live(SESSION, state_projection())
    other_session = [("state.changed", {"scope": "user", "owner": "u1", "key": "k1", "old_version": None,
                                        "new_version": 99, "value": "elsewhere", "deleted": False}, "another")]
    await publish_all(kernel, events[:500])
    await publish_all(kernel, other_session)
    await publish_all(kernel, events[500:])
    await kernel.events.flush()
    assert await kernel.events.last_seq(SESSION) == 1000
    assert live.seq == 1000
    assert state_values(live.state) == model

    rebuilt = await kernel.events.project(SESSION, state_projection(), snapshot=False)
    assert (rebuilt.seq, rebuilt.snapshot_seq) == (1000, 0)
    assert rebuilt.state == live.state
    assert state_values(rebuilt.state) == model
    again = await kernel.events.project(SESSION, state_projection(), snapshot=False)
    assert dumps_data(again.state) == dumps_data(rebuilt.state)  # deterministic, byte for byte
    live.close()


async def test_folding_the_same_events_twice_changes_nothing(kernel: Kernel) -> None:
    events, model = mixed_events(300, seed=11)
    await publish_all(kernel, events)
    stored = [e async for e in kernel.events.read(SESSION)]
    once: dict[str, Any] = {}
    for event in stored:
        once = _apply_state(once, event)
    twice = dict(serde.loads(dumps_data(once)))
    for event in stored:  # a second delivery of every event, in order
        twice = _apply_state(twice, event)
    for event in reversed(stored):  # and out of order
        twice = _apply_state(twice, event)
    assert twice == once and state_values(once) == model


async def test_snapshots_bound_the_replay_and_give_the_same_state(kernel: Kernel) -> None:
    events, _ = mixed_events(650, seed=3)
    await publish_all(kernel, events[:500])
    first = await kernel.events.project(SESSION, state_projection(), snapshot_every=100)
    assert (first.seq, first.snapshot_seq, first.applied) == (500, 0, sum(1 for e in events[:500] if e[0] == "state.changed"))
    snap = await kernel.events.log.load_snapshot(SESSION, "state")
    assert snap is not None and snap.seq == 500 and snap.version == 1
    await publish_all(kernel, events[500:])
    resumed = await kernel.events.project(SESSION, state_projection(), snapshot_every=100)
    assert (resumed.seq, resumed.snapshot_seq) == (650, 500)
    assert resumed.applied == sum(1 for e in events[500:] if e[0] == "state.changed")
    full = await kernel.events.project(SESSION, state_projection(), snapshot=False)
    assert resumed.state == full.state
    assert (await kernel.events.log.load_snapshot(SESSION, "state")).seq == 650
    few = await kernel.events.project(SESSION, state_projection(), snapshot_every=100)
    assert (few.snapshot_seq, few.applied) == (650, 0)
    # A projection with another version ignores the snapshot; to_seq stops early.
    v2 = Projection("state", dict, _apply_state, ("state.changed",), version=2)
    assert (await kernel.events.project(SESSION, v2, snapshot_every=0)).snapshot_seq == 0
    early = await kernel.events.project(SESSION, state_projection(), to_seq=100)
    assert (early.seq, early.snapshot_seq) == (100, 0)


async def test_a_counting_projection_with_dump_and_load(kernel: Kernel) -> None:
    def count(state: dict[str, int], event: Event) -> dict[str, int]:
        state[event.type] = state.get(event.type, 0) + 1
        return state

    proj = Projection("counts", dict, count, types=("c.**",), dump=lambda s: sorted(s.items()),
                      load=lambda data: {k: v for k, v in data})
    for t in ["c.a", "c.b", "x.y", "c.a", "c.deep.z"]:
        await kernel.events.publish(t, {}, stream="counts")
    result = await kernel.events.project("counts", proj, snapshot_every=1)
    assert result.state == {"c.a": 2, "c.b": 1, "c.deep.z": 1} and result.applied == 4
    assert (await kernel.events.log.load_snapshot("counts", "counts")).state == [["c.a", 2], ["c.b", 1], ["c.deep.z", 1]]
    await kernel.events.publish("c.b", {}, stream="counts")
    again = await kernel.events.project("counts", proj)
    assert again.state == {"c.a": 2, "c.b": 2, "c.deep.z": 1} and again.snapshot_seq == 5


async def test_live_projection_fills_gaps_from_the_log(kernel: Kernel) -> None:
    await kernel.events.publish("state.changed", {"scope": "app", "owner": "", "key": "a", "new_version": 1,
                                                  "value": 1}, session_id=SESSION)
    live = await kernel.events.live(SESSION, state_projection())
    assert live.seq == 1
    # Another process appends straight to the shared log: this bus never sees these two.
    await kernel.events.log.append([
        Event("state.changed", {"scope": "app", "owner": "", "key": "b", "new_version": 1, "value": 2}, stream=SESSION),
        Event("state.changed", {"scope": "app", "owner": "", "key": "a", "new_version": 2, "value": 3}, stream=SESSION),
    ])
    await kernel.events.publish("state.changed", {"scope": "app", "owner": "", "key": "c", "new_version": 1,
                                                  "value": 4}, session_id=SESSION)
    await kernel.events.flush()
    assert live.seq == 4
    assert state_values(live.state) == {("app", "", "a"): 3, ("app", "", "b"): 2, ("app", "", "c"): 4}
    assert live.state == (await kernel.events.project(SESSION, state_projection(), snapshot=False)).state
    live.close()


@pytest.mark.parametrize("payload", [{}, {"scope": 1, "key": "k"}, {"scope": "app"}])
def test_state_projection_ignores_events_it_cannot_read(payload: dict[str, Any]) -> None:
    assert _apply_state({}, Event("state.changed", payload)) == {}


def test_a_key_created_again_after_a_delete_is_kept_whatever_its_version() -> None:
    def change(seq: int, version: int, value: Any = None, deleted: bool = False) -> Event:
        return Event("state.changed", {"scope": "app", "owner": "", "key": "k", "new_version": version,
                                       "value": value, "deleted": deleted}, stream="s", seq=seq)

    state: dict[str, Any] = {}
    for event in [change(1, 1, "a"), change(2, 2, "b"), change(3, 3, deleted=True), change(4, 1, "again")]:
        state = _apply_state(state, event)
    assert state_values(state) == {("app", "", "k"): "again"}
    assert state_values(_apply_state(state, change(2, 2, "b"))) == {("app", "", "k"): "again"}
