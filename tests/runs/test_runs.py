"""Durable runs: pauses for approvals and questions, decisions, resumes in another kernel
or process, calls in doubt after a SIGKILL, one execution however often a run is resumed."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from llmspell import Answer, Approve, Edit, Kernel, Reject, Retry
from llmspell.errors import ConfigError, LlmspellError, ValidationError
from llmspell.plugins.agents.api import AgentOutput, Message
from llmspell.plugins.runs.api import ReplayMismatch

from .agents import TOOLS, Script, effects, script

CHILD = Path(__file__).with_name("_child.py")
BASE: dict[str, Any] = {"sessions": {"sweep_interval": 0}}


@pytest.fixture(autouse=True)
def effects_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "effects.txt"
    monkeypatch.setenv("LLMSPELL_TEST_EFFECTS", str(path))
    yield path


def kernel(tmp_path: Path, **sections: Any) -> Kernel:
    return Kernel({**BASE, **sections}, data_dir=tmp_path / "data", env={})


@pytest.fixture(params=["diskcache", "redis", pytest.param("postgres", marks=pytest.mark.postgres), "nats"])
def journal_config(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """The journal (the event log) on each backend that outlives a process."""
    from tests.contrib._services import (
        NATS_URL,
        REDIS_URL,
        drop_nats_prefix,
        drop_redis_prefix,
        new_prefix,
        require,
    )

    if request.param == "diskcache":
        yield dict(BASE)
    elif request.param == "redis":
        require(REDIS_URL, "Redis")
        prefix = new_prefix()
        yield {**BASE, "redis": {"url": REDIS_URL, "prefix": prefix}, "events": {"backend": "redis"}}
        drop_redis_prefix(prefix)
    elif request.param == "nats":
        require(NATS_URL, "NATS")
        prefix = new_prefix()
        yield {**BASE, "nats": {"servers": NATS_URL, "prefix": prefix}, "events": {"backend": "nats"}}
        drop_nats_prefix(prefix)
    else:
        from tests.contrib.postgres.pg import drop_schema, new_schema, pg_config, require_server

        require_server()
        schema = new_schema()
        yield {**BASE, **pg_config(schema), "events": {"backend": "postgres"}}
        drop_schema(schema)


async def test_an_approval_pauses_the_run_and_another_kernel_resumes_it(
    tmp_path: Path, journal_config: dict[str, Any]
) -> None:
    async with Kernel(journal_config, data_dir=tmp_path / "data", env={}) as k:
        out = await k.run(script(k), "lookup:x pay:10:alice")
        assert out.status == "paused" and out.run_id
        (item,) = out.pending
        assert (item.id, item.kind, item.tool, item.args, item.path) == ("p1", "approval", "pay",
                                                                          {"amount": 10, "to": "alice"}, "")
        assert item.expires_at is not None
        assert [e.split()[0] for e in effects()] == ["lookup"]  # the approved tool has not run
    async with Kernel(journal_config, data_dir=tmp_path / "data", env={}) as k:  # nothing of the run in memory
        assert [(r.id, r.status) for r in await k.runs.list(status="paused")] == [(out.run_id, "paused")]
        done = await k.resume(out.run_id, {"p1": Approve(note="ok")}, agent=script(k), by="alice")
        assert done.status == "completed" and done.run_id == out.run_id
        assert done.data == [{"q": "x", "found": "X"}, {"paid": 10, "to": "alice"}]
        assert [e.split()[0] for e in effects()] == ["lookup", "pay"]  # each ran once: lookup was replayed
        history = await k.runs.history(out.run_id)
        decided = [h for h in history if h["type"] == "run.decided"]
        assert [(h["by"], h["data"]["decision"]["kind"], h["data"]["note"]) for h in decided] == [("alice", "approve", "ok")]
        assert (await k.runs.get(out.run_id)).status == "completed"
        with pytest.raises(ValidationError, match="already completed"):
            await k.resume(out.run_id, {"p1": Approve()}, agent=script(k, "again"))
    assert len(effects()) == 2


@attrs.define(eq=False, kw_only=True)
class Asker(Script):
    """Asks its model what to pay, then pays (the offline model echoes)."""

    type_name = "asker"

    async def execute(self, request: Any, ctx: Any) -> AgentOutput:
        answer = await self.model([Message.user("how much?")], ctx)
        return await super().execute(attrs.evolve(request, input=f"pay:{len(answer.content)}:alice"), ctx)


async def test_a_recorded_model_call_is_not_made_again_and_a_model_only_run_writes_nothing(tmp_path: Path) -> None:
    async with kernel(tmp_path) as k:
        calls: list[str] = []
        k.callbacks.on("model_after", lambda call: calls.append(call.point))
        out = await k.run(k.agents.create(Asker, name="asker", deps={"tools": dict(TOOLS)}), "go")
        assert out.status == "paused" and len(calls) == 1
        done = await k.resume(out.run_id, {"p1": Approve()}, agent=k.agents.create(Asker, name="a2",
                                                                                   deps={"tools": dict(TOOLS)}))
        assert done.status == "completed" and len(calls) == 1  # replayed from the journal
        chat = await k.run(k.agents.create("chat", name="helper"), "hello")
        assert chat.status == "completed" and chat.run_id
        assert [r.id for r in await k.runs.list()] == [out.run_id]  # the chat turn left no journal


@attrs.define(eq=False, kw_only=True)
class Fixed(Script):
    """A script agent whose calls come from its config's description, not its input."""

    type_name = "fixed"

    async def execute(self, request: Any, ctx: Any) -> AgentOutput:
        return await super().execute(attrs.evolve(request, input=self.config.description), ctx)


async def test_parallel_branches_pause_together_in_one_flat_list(tmp_path: Path) -> None:
    def team(k: Kernel) -> Any:
        for name, text in (("payroll", "lookup:staff pay:5:ann"), ("vendors", "pay:7:acme"), ("audit", "lookup:q")):
            k.agents.create(Fixed, name=name, description=text, deps={"tools": dict(TOOLS)})
        return k.agents.create("parallel", name="team", agents=["payroll", "vendors", "audit"])

    async with kernel(tmp_path) as k:
        out = await k.run(team(k), "go")
        assert out.status == "paused"
        assert sorted((p.path, p.tool, p.args["to"]) for p in out.pending) == [
            ("payroll", "pay", "ann"), ("vendors", "pay", "acme")]
        assert sorted(e.split()[0] for e in effects()) == ["lookup", "lookup"]  # audit finished, payroll looked up
    ids = {p.path: p.id for p in out.pending}
    async with kernel(tmp_path) as k:
        half = await k.resume(out.run_id, {ids["payroll"]: Approve()}, agent=team(k))
        assert half.status == "paused" and [(p.path, p.id) for p in half.pending] == [("vendors", ids["vendors"])]
    async with kernel(tmp_path) as k:
        done = await k.resume(out.run_id, {ids["vendors"]: Approve()}, agent=team(k))
        assert done.status == "completed"
    assert sorted(e.split()[0] for e in effects()) == ["lookup", "lookup", "pay", "pay"]  # nothing ran twice


async def test_a_rejected_call_never_runs_and_the_agent_sees_the_message(tmp_path: Path) -> None:
    async with kernel(tmp_path) as k:
        out = await k.run(script(k), "pay:500:mallory")
        done = await k.resume(out.run_id, {"p1": Reject("over budget")}, agent=script(k, "s2"), by="alice")
        assert done.data == ["rejected by alice: over budget"]
        assert effects() == []


async def test_an_edit_runs_the_edited_call_and_bad_arguments_are_refused(tmp_path: Path) -> None:
    async with kernel(tmp_path) as k:
        out = await k.run(script(k), "pay:500:alice")
        with pytest.raises(ValidationError, match="Edit"):
            await k.resume(out.run_id, {"p1": Answer(1)}, agent=script(k, "s2"))  # not a decision for an approval
        done = await k.resume(out.run_id, {"p1": Edit(args={"amount": 50, "to": "alice"})}, agent=script(k, "s3"))
        assert done.data == [{"paid": 50, "to": "alice"}]
        out = await k.run(script(k, "s4"), "pay:5:bob")
        with pytest.raises(ValidationError, match="invalid arguments for tool 'pay'"):
            await k.resume(out.run_id, {"p1": Edit(args={"amount": "lots", "to": "bob"})}, agent=script(k, "s5"))
    assert [e.split()[0] for e in effects()] == ["pay"]


async def test_a_question_waits_for_its_answer_which_must_match_the_schema(tmp_path: Path) -> None:
    async with kernel(tmp_path) as k:
        out = await k.run(script(k), "ask:city lookup:x")
        (item,) = out.pending
        assert (item.id, item.kind, item.question) == ("q1", "question", "Which city?")
        with pytest.raises(ValidationError, match="'q9' is not pending"):
            await k.resume(out.run_id, {"q9": Answer("Lyon")}, agent=script(k, "s2"))
        done = await k.resume(out.run_id, {"q1": Answer("Lyon")}, agent=script(k, "s3"), by="bob")
        assert done.data == ["Lyon", {"q": "x", "found": "X"}]
        out = await k.run(script(k, "s4"), "ask:colour")
        with pytest.raises(LlmspellError, match="the question was rejected by ann: no colours"):
            await k.resume(out.run_id, {"q1": Reject("no colours")}, agent=script(k, "s5"), by="ann")
        assert (await k.runs.get(out.run_id)).status == "failed"


async def test_partial_decisions_run_only_what_was_decided(tmp_path: Path) -> None:
    async with kernel(tmp_path) as k:
        out = await k.run(script(k), "pay:1:a pay:2:b")
        assert [p.id for p in out.pending] == ["p1"]
        out = await k.resume(out.run_id, {"p1": Approve()}, agent=script(k, "s2"))
        assert out.status == "paused" and [(p.id, p.args) for p in out.pending] == [("p2", {"amount": 2, "to": "b"})]
        assert [e.split()[0] for e in effects()] == ["pay"]
        out = await k.resume(out.run_id, {"p2": Approve()}, agent=script(k, "s3"))
        assert out.status == "completed" and len(effects()) == 2


async def test_needs_approval_may_be_a_function_of_the_arguments(tmp_path: Path) -> None:
    async with kernel(tmp_path) as k:
        out = await k.run(script(k), "spend:5 spend:500")
        assert [(p.tool, p.args) for p in out.pending] == [("spend", {"amount": 500})]
        assert len(effects()) == 1


@attrs.define(eq=False, kw_only=True)
class Changed(Script):
    """The script agent after a code change: it charges where it used to look something up."""

    type_name = "changed"

    async def execute(self, request: Any, ctx: Any) -> AgentOutput:
        return await super().execute(attrs.evolve(request, input="charge:1 pay:10:alice"), ctx)


async def test_a_resume_whose_agent_makes_other_calls_stops_before_executing_anything(tmp_path: Path) -> None:
    async with kernel(tmp_path) as k:
        out = await k.run(script(k), "lookup:x pay:10:alice")
        changed = k.agents.create(Changed, name="changed", deps={"tools": dict(TOOLS)})
        with pytest.raises(ReplayMismatch, match=r"made tool 'charge' of the run .* where its journal recorded tool 'lookup'"):
            await k.resume(out.run_id, {"p1": Approve()}, agent=changed)
        assert [e.split()[0] for e in effects()] == ["lookup"]
        assert (await k.runs.get(out.run_id)).status == "running"  # not failed: resume it with the right code
        done = await k.resume(out.run_id, agent=script(k, "fixed"))
        assert done.data == [{"q": "x", "found": "X"}, {"paid": 10, "to": "alice"}]


async def test_two_resumes_at_once_execute_the_call_once(tmp_path: Path, journal_config: dict[str, Any]) -> None:
    async with Kernel(journal_config, data_dir=tmp_path / "data", env={}) as a, \
            Kernel(journal_config, data_dir=tmp_path / "data", env={}) as b:
        out = await a.run(script(a), "pay:10:alice")
        results = await asyncio.gather(
            a.resume(out.run_id, {"p1": Approve()}, agent=script(a, "s2")),
            b.resume(out.run_id, {"p1": Approve()}, agent=script(b, "s3")),
            return_exceptions=True,
        )
        assert sum(not isinstance(r, BaseException) for r in results) == 1, results
        assert all(isinstance(r, LlmspellError) for r in results if isinstance(r, BaseException)), results
        assert len(effects()) == 1


async def test_an_expired_approval_is_decided_by_the_policy_and_a_late_decision_refused(tmp_path: Path) -> None:
    async with kernel(tmp_path, runs={"approval_timeout": "0.2s"}) as k:
        out = await k.run(script(k), "pay:10:alice")
        await asyncio.sleep(0.3)
        with pytest.raises(ValidationError, match="expired"):
            await k.resume(out.run_id, {"p1": Approve()}, agent=script(k, "s2"))
        done = await k.resume(out.run_id, agent=script(k, "s3"))
        assert done.data == ["rejected by system: the approval expired"]
        assert effects() == []


@pytest.mark.parametrize("policy", ["approve", "fail"])
async def test_the_other_expiry_policies(tmp_path: Path, policy: str) -> None:
    async with kernel(tmp_path, runs={"approval_timeout": "0.2s", "on_timeout": policy}) as k:
        out = await k.run(script(k), "pay:10:alice")
        await asyncio.sleep(0.3)
        if policy == "approve":
            done = await k.resume(out.run_id, agent=script(k, "s2"))
            assert done.data == [{"paid": 10, "to": "alice"}] and len(effects()) == 1
            decided = [h["data"] for h in await k.runs.history(out.run_id) if h["type"] == "run.decided"]
            assert [(d["by"], d["decision"]["kind"], d["note"]) for d in decided] == [("system", "approve", "expired")]
        else:
            with pytest.raises(LlmspellError, match=r"expired \(\[runs\] on_timeout = 'fail'\)"):
                await k.resume(out.run_id, agent=script(k, "s2"))
            assert (await k.runs.get(out.run_id)).status == "failed" and effects() == []


async def test_with_the_journal_off_runs_leave_nothing_and_approvals_refuse(tmp_path: Path) -> None:
    async with kernel(tmp_path, runs={"journal": False}) as k:
        out = await k.run(script(k), "lookup:x")
        assert out.status == "completed" and out.run_id is None
        with pytest.raises(LlmspellError, match="needs approval, which only a journaled run can wait for"):
            await k.run(script(k, "s2"), "pay:10:alice")
        assert await k.runs.list() == []
        assert [e.split()[0] for e in effects()] == ["lookup"]


async def test_a_bad_approval_timeout_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="runs.approval_timeout: 'soon' is not a duration"):
        kernel(tmp_path, runs={"approval_timeout": "soon"})


async def test_without_the_runs_plugin_a_tool_that_needs_approval_refuses_to_run(tmp_path: Path) -> None:
    async with kernel(tmp_path, plugins={"disable": ["runs"]}) as k:
        with pytest.raises(LlmspellError, match="needs approval"):
            await k.run(script(k), "pay:10:alice")
        assert effects() == []


# -- crashes: a real process killed right after a tool's side effect ---------------------------


def _child(tmp_path: Path, config: dict[str, Any], text: str, kill_in: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LLMSPELL_TEST_EFFECTS": os.environ["LLMSPELL_TEST_EFFECTS"]}
    if kill_in:
        env["LLMSPELL_TEST_KILL_IN"] = kill_in
    return subprocess.run([sys.executable, str(CHILD), str(tmp_path / "data"), json.dumps(config), text],
                          env=env, capture_output=True, text=True, timeout=120)


async def test_a_call_cut_off_by_a_crash_is_in_doubt_and_never_silently_run_again(
    tmp_path: Path, journal_config: dict[str, Any]
) -> None:
    config = journal_config
    done = _child(tmp_path, config, "lookup:x charge:5", kill_in="charge")
    assert done.returncode == -9, done.stderr
    assert [e.split()[0] for e in effects()] == ["lookup", "charge"]
    async with Kernel(config, data_dir=tmp_path / "data", env={}) as k:
        (run,) = await k.runs.list(status="interrupted")  # its process died mid-run
        out = await k.resume(run.id, agent=script(k))
        (item,) = out.pending
        assert (item.kind, item.tool, item.args) == ("in_doubt", "charge", {"amount": 5})
        assert [e.split()[0] for e in effects()] == ["lookup", "charge"]  # nothing ran again, not even lookup
        done_out = await k.resume(run.id, {item.id: Answer({"charged": 5})}, agent=script(k, "s2"), by="ops")
        assert done_out.data == [{"q": "x", "found": "X"}, {"charged": 5}]
    assert len(effects()) == 2


async def test_retry_runs_a_call_in_doubt_again_with_the_same_idempotency_key(tmp_path: Path) -> None:
    _child(tmp_path, BASE, "charge:5", kill_in="charge")
    async with Kernel(BASE, data_dir=tmp_path / "data", env={}) as k:
        (run,) = await k.runs.list()
        out = await k.resume(run.id, agent=script(k))
        out = await k.resume(run.id, {out.pending[0].id: Retry()}, agent=script(k, "s2"))
        assert out.data == [{"charged": 5}]
    first, second = effects()
    assert first.split()[1] == second.split()[1] != "None"


async def test_an_idempotent_call_cut_off_by_a_crash_is_retried_on_resume(
    tmp_path: Path, journal_config: dict[str, Any]
) -> None:
    _child(tmp_path, journal_config, "lookup:x", kill_in="lookup")
    async with Kernel(journal_config, data_dir=tmp_path / "data", env={}) as k:
        (run,) = await k.runs.list()
        out = await k.resume(run.id, agent=script(k))
        assert out.status == "completed" and out.data == [{"q": "x", "found": "X"}]
    first, second = effects()
    assert first == second  # same call, same idempotency key
