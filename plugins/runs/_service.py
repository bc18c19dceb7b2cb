"""The run manager: journaled calls, pauses, decisions and resumes (``kernel.runs``).

A call is identified in its run by a *key*: its kind (``tool``, ``model``, ``ask``), the
agent that made it, its name, the digest of its arguments and how many times the same
call came before it in this run. On resume the agent runs again from the top and each
call finds its key in the journal: a finished call returns what it returned; a tool call
whose intent was written but whose result was not (its process died while it ran) is *in
doubt*: an ``idempotent`` tool runs again with the same idempotency key, any other pauses
the run for a decision. A call the journal does not know, while recorded calls remain
that this execution has not made, is a :class:`~.api.ReplayMismatch`: nothing runs.
"""

from __future__ import annotations

import asyncio
import builtins
import contextvars
import inspect
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from llmspell import serde
from llmspell.decisions import Answer, Approve, Edit, Reject, Retry
from llmspell.errors import ConfigError, LlmspellError, NotFoundError, SerializationError, ValidationError
from llmspell.plugins.agents.api import AgentOutput, compile_schema, validate_arguments
from llmspell.plugins.events.api import EventService

from ._journal import Journal, JournalConflict, digest, expired, fold, owner
from .api import STREAM_PREFIX, PendingItem, ReplayMismatch, RunPaused, RunRecord, RunsConfig

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["RunManager", "seconds"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(value: float | str, where: str = "runs.approval_timeout") -> float:
    """``3600``, ``"90s"``, ``"15m"``, ``"12h"``, ``"3d"`` as seconds (positive)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        match = _DURATION.fullmatch(str(value).strip())
        if match is None:
            raise ConfigError([f"{where}: {value!r} is not a duration (e.g. 3600, '90s', '15m', '12h', '3d')"])
        number = float(match[1]) * _UNITS[match[2]]
    if number <= 0:
        raise ConfigError([f"{where}: {value!r} must be more than zero"])
    return number


class _Run:
    """One execution of a run in this process: its journal and what this execution consumed."""

    __slots__ = ("_events", "_journal", "_lock", "_recorded", "fresh", "held", "root", "run_id", "seen", "used")

    def __init__(self, journal: Journal | None, root: str, run_id: str, events: EventService | None = None,
                 fresh: dict[str, Any] | None = None) -> None:
        self._journal = journal
        self._events = events
        self.fresh = fresh or {}
        """What ``run.started`` records for a new run (written with its first entry)."""
        self.run_id = run_id
        self.root = root
        """The name of the run's agent: its own calls have the path "" (so a resume may use an
        instance of another name); calls of the agents it runs are under their names."""
        self.seen: dict[tuple[str, ...], int] = {}
        self.used: set[str] = set()
        self._recorded: dict[str, dict[str, None]] | None = None
        self._lock: asyncio.Lock | None = None
        self.held: list[tuple[str, Any, Callable[[Any], Any] | None]] = []
        """Model results not written yet: they go with the next entry that must be durable (a
        tool's intent, a pause, the end of a run that wrote anything). A model call is safe to
        make again, so a crash before then only costs that call; a model-only run writes nothing."""

    @property
    def journal(self) -> Journal:
        if self._journal is None:
            self._journal = Journal(self._events, self.run_id)
        return self._journal

    @property
    def started(self) -> bool:
        """Whether the run's journal has begun (something durable was written or read)."""
        return self._journal is not None and self._journal.started is not None

    @property
    def lock(self) -> asyncio.Lock:
        """Serializes this run's journal writes (parallel branches); made on first use."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    def key(self, kind: str, path: str, name: str, args: Any) -> str:
        base = (kind, "" if path == self.root else path, name, digest(args))
        n = self.seen.get(base, 0)
        self.seen[base] = n + 1
        key = "|".join((*base, str(n)))
        self.used.add(key)
        return key

    def unreached(self, path: str) -> str | None:
        """The first call the journal recorded for agent ``path`` that this execution has not
        made yet, or None (each recorded call is looked at until it is reached, once)."""
        if self._recorded is None:
            self._recorded = {}
            for entry in self.journal.entries:
                if entry.type in ("run.call.intent", "run.call.done"):
                    key = entry.payload["key"]
                    self._recorded.setdefault(key.split("|")[1], {})[key] = None
        keys = self._recorded.get(path)
        while keys:
            first = next(iter(keys))
            if first not in self.used:
                return first
            del keys[first]
        return None


_current: contextvars.ContextVar[_Run | None] = contextvars.ContextVar("llmspell.run", default=None)


def _describe(key: str) -> str:
    kind, path, name, args, n = key.split("|")
    return f"{kind} {name!r} of {path or 'the run'} (arguments {args}, occurrence {int(n) + 1})"


class RunManager:
    """``kernel.runs`` (see :class:`~.api.RunService`)."""

    def __init__(self, kernel: Kernel, config: RunsConfig) -> None:
        self.kernel = kernel
        self.config = config
        self.timeout = seconds(config.approval_timeout)
        self._found: EventService | None = None

    # -- helpers -------------------------------------------------------------------------

    def _log(self) -> EventService | None:
        """The event service that keeps the journals (found once: this manager lives as long as
        one start of its kernel), or None without the events plugin."""
        if self._found is None:
            self._found = self.kernel.services.find(EventService)
        return self._found

    def _events(self) -> EventService:
        events = self._log()
        if events is None:
            raise LlmspellError("durable runs need the events plugin (its log keeps the journal)")
        return events

    def active(self) -> bool:
        return _current.get() is not None

    def _expiry(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.timeout)

    async def _pause(self, run: _Run, item: PendingItem) -> RunPaused:
        """Commit a pause for ``item`` (numbered now) and return the exception to raise."""
        async with run.lock:
            journal = run.journal
            if any(p.step == item.step for p in journal.pending.values()):  # still waiting: the same item
                return RunPaused(journal.run_id, tuple(journal.pending.values()))
            prefix = {"approval": "p", "question": "q", "in_doubt": "d"}[item.kind]
            numbered = attrs.evolve(item, id=f"{prefix}{journal.items + 1}")
            await _append(run, ("run.paused", {"items": [serde.unstructure(numbered)]}))
            return RunPaused(journal.run_id, tuple(journal.pending.values()))

    # -- the run of one kernel.run --------------------------------------------------------

    async def execute(self, agent: Any, input: Any, ctx: Any, run: Callable[[], Awaitable[Any]], *,
                      run_id: str | None = None) -> Any:
        events = self._log()
        if not self.config.journal or events is None:
            return await run()
        if run_id is not None:
            journal = await Journal(events, run_id).load()
            if journal.started is None:
                raise NotFoundError(f"no run {run_id!r}")
            state = _Run(journal, agent.name, run_id)
        else:  # the journal is made when the run first needs it (a run without calls never does)
            state = _Run(None, agent.name, ctx.invocation_id, events,
                         {"agent": agent.name, "input": input, "session_id": ctx.session_id, "user_id": ctx.user_id})
        token = _current.set(state)
        try:
            output = await run()
        except RunPaused:  # every pending item of the run, committed (parallel branches' too)
            return AgentOutput(agent=agent.name, status="paused", run_id=state.run_id,
                               pending=tuple(state.journal.pending.values()))
        except (ReplayMismatch, JournalConflict):
            raise  # the run is not over: resumed elsewhere, or to resume with the agent's code fixed
        except Exception as exc:
            if state.started:
                await _append(state, ("run.finished", {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}))
            raise
        finally:
            _current.reset(token)
        if state.started:  # (a run that wrote nothing durable leaves no journal)
            await _append(state, ("run.finished", {"status": "completed"}))
        return output.of_run(state.run_id)

    async def _write(self, run: _Run, *entries: tuple[str, dict[str, Any]]) -> None:
        async with run.lock:
            await _append(run, *entries)

    # -- one journaled call ----------------------------------------------------------------

    async def step(self, kind: str, name: str, path: str, args: Any, run: Callable[[Any, str], Awaitable[Any]], *,
                   tool: Any = None, ctx: Any = None, encode: Callable[[Any], Any] | None = None,
                   decode: Callable[[Any], Any] | None = None) -> Any:
        state = _current.get()
        if state is None:
            if tool is not None and _needs_approval(tool, args, ctx):
                raise LlmspellError(
                    f"tool {name!r} needs approval, which only a journaled run can wait for "
                    "(call it through kernel.run with the runs plugin on and [runs] journal = true)"
                )
            return await run(args, "")
        journal = state.journal
        key = state.key(kind, path, name, args)
        path = key.split("|")[1]
        outcome = journal.outcomes.get(key)
        if outcome is not None:  # finished before: what it returned, never run again
            return _replayed(outcome, decode)
        key_of_intent = f"{journal.run_id}:{digest(key)}"
        intent = journal.intents.get(key)
        decided = journal.decided.get(key)
        if intent is None and decided is None:
            recorded = state.unreached(path)
            if recorded is not None:
                raise ReplayMismatch(
                    f"run {journal.run_id}: the agent made {_describe(key)} where its journal recorded "
                    f"{_describe(recorded)}; nothing was executed (agent code must make the same calls "
                    "given the same results)"
                )
        if decided is not None:
            return await self._decided(state, key, kind, name, args, decided, run, key_of_intent, tool, encode)
        if intent is not None:  # begun, never finished: in doubt
            if tool is not None and getattr(tool, "idempotent", False):
                return await self._run_body(state, key, args, run, intent["idempotency_key"], encode)
            raise await self._pause(state, PendingItem("", "in_doubt", path, tool=name, args=intent.get("args"),
                                                       expires_at=self._expiry(), step=key))
        if tool is not None and _needs_approval(tool, args, ctx):  # asked of live calls only
            raise await self._pause(state, PendingItem("", "approval", path, tool=name, args=dict(args),
                                                       expires_at=self._expiry(), step=key))
        if kind == "tool":  # the intent is durable before the body runs
            await self._write(state, ("run.call.intent", {
                "key": key, "kind": kind, "name": name, "path": path, "args": args, "idempotency_key": key_of_intent,
            }))
        return await self._run_body(state, key, args, run, key_of_intent, encode)

    async def _run_body(self, state: _Run, key: str, args: Any, run: Callable[[Any, str], Awaitable[Any]],
                        idempotency_key: str, encode: Callable[[Any], Any] | None) -> Any:
        try:
            result = await run(args, idempotency_key)
        except RunPaused:
            raise
        except Exception as exc:
            await self._write(state, ("run.call.done", {"key": key, "error": f"{type(exc).__name__}: {exc}"}))
            raise
        if key.startswith("model|"):  # held: written with the next durable entry (see _Run.held)
            state.held.append((key, result, encode))
        else:
            await self._write(state, ("run.call.done", {"key": key, "result": _stored(key, result, encode)}))
        return result

    async def _decided(self, state: _Run, key: str, kind: str, name: str, args: Any, decided: dict[str, Any],
                       run: Callable[[Any, str], Awaitable[Any]], idempotency_key: str, tool: Any,
                       encode: Callable[[Any], Any] | None) -> Any:
        decision = decided["decision"]
        kind_of = decision["kind"]
        if kind_of == "reject":
            message = decision.get("message") or "rejected"
            text = f"rejected by {decided.get('by') or 'a person'}: {message}"
            if kind == "ask":  # a question has no result to stand in: the agent's ask raises
                await self._write(state, ("run.call.done", {"key": key, "error": f"the question was {text}"}))
                raise LlmspellError(f"the question was {text}")
            await self._write(state, ("run.call.done", {"key": key, "result": text, "rejected": message}))
            return text
        if kind_of == "answer":
            await self._write(state, ("run.call.done", {"key": key, "result": decision["value"]}))
            return decision["value"]
        if kind_of == "edit":
            args = decision["args"]
            compiled = getattr(tool, "compiled", None)
            if compiled is not None:
                validate_arguments(name, compiled, args)
        await self._write(state, ("run.call.intent", {
            "key": key, "kind": kind, "name": name, "path": key.split("|")[1], "args": args,
            "idempotency_key": idempotency_key,
        }))
        return await self._run_body(state, key, args, run, idempotency_key, encode)

    async def ask(self, ctx: Any, question: str, *, schema: Mapping[str, Any] | None = None) -> Any:
        state = _current.get()
        if state is None:
            raise LlmspellError("ctx.ask needs a journaled run (kernel.run with the runs plugin and [runs] journal on)")
        if not isinstance(question, str) or not question:
            raise ValidationError(f"ctx.ask needs a question (a non-empty string), got {question!r}")
        wanted = dict(schema) if schema is not None else None
        args = {"question": question, "schema": wanted}
        key = state.key("ask", "", "ask", args)
        journal = state.journal
        outcome = journal.outcomes.get(key)
        if outcome is not None:
            return _replayed(outcome, None)
        decided = journal.decided.get(key)
        if decided is not None:
            return await self._decided(state, key, "ask", "ask", args, decided, _nothing, "", None, None)
        raise await self._pause(state, PendingItem("", "question", "", question=question,
                                                   schema=wanted, expires_at=self._expiry(), step=key))

    # -- listing and resuming --------------------------------------------------------------

    async def _load(self, run_id: str) -> Journal:
        if not isinstance(run_id, str) or not run_id:
            raise ValidationError(f"a run id is a non-empty string, got {run_id!r}")
        journal = await Journal(self._events(), run_id).load()
        if journal.started is None:
            raise NotFoundError(f"no run {run_id!r}")
        return journal

    async def get(self, run_id: str) -> RunRecord:
        return (await self._load(run_id)).record()

    async def history(self, run_id: str) -> builtins.list[dict[str, Any]]:
        journal = await self._load(run_id)
        return [{"seq": e.seq, "type": e.type, "time": e.time, "by": e.payload.get("by"), "data": e.payload}
                for e in journal.entries]

    async def list(self, *, status: str | None = None, user_id: str | None = None, session_id: str | None = None,
                   limit: int = 100) -> builtins.list[RunRecord]:
        events = self._events()
        records = []
        for info in await events.streams(prefix=STREAM_PREFIX):
            run_id = info.name.removeprefix(STREAM_PREFIX)
            record = fold(run_id, [e async for e in events.read(info.name)])
            if status is not None and record.status != status:
                continue
            if (user_id is not None and record.user_id != user_id) or (
                    session_id is not None and record.session_id != session_id):
                continue
            records.append(record)
        records.sort(key=lambda r: r.created_at or datetime.min.replace(tzinfo=UTC), reverse=True)
        return records[:limit]

    async def decide(self, run_id: str, decisions: Mapping[str, Any], *, by: str | None = None) -> RunRecord:
        await self._decide(await self._load(run_id), decisions, by)
        return await self.get(run_id)

    async def _decide(self, journal: Journal, decisions: Mapping[str, Any], by: str | None) -> None:
        """Journal ``decisions`` (and the expired items' policy decisions); refused as a whole
        when one names an item that is not pending, has expired or does not fit its kind."""
        run_id = journal.run_id
        if journal.finished is not None:
            raise ValidationError(f"run {run_id} has already {journal.finished['status']}; nothing to decide")
        if by is not None and (not isinstance(by, str) or not by or len(by) > 200 or not by.isprintable()):
            raise ValidationError(f"by= names who decided: a printable string of 1 to 200 characters, got {by!r}")
        entries: list[tuple[str, dict[str, Any]]] = []
        now = datetime.now(UTC)
        for item_id in decisions:
            if item_id not in journal.pending:
                decided = "already decided" if any(
                    e.type == "run.decided" and e.payload["item"] == item_id for e in journal.entries) else "not pending"
                raise ValidationError(
                    f"run {run_id}: item {item_id!r} is {decided} (pending: {', '.join(journal.pending) or 'none'})"
                )
        for item in list(journal.pending.values()):
            if expired(item, now):
                if item.id in decisions:
                    raise ValidationError(f"run {run_id}: item {item.id!r} expired at {item.expires_at}; "
                                          f"it was decided by [runs] on_timeout = {self.config.on_timeout!r}")
                entries.append(("run.decided", _decision(item, _on_timeout(self.config.on_timeout), "system",
                                                          "expired")))
            elif item.id in decisions:
                entries.append(("run.decided", _decision(item, _check(item, decisions[item.id]), by, None)))
        if not entries:
            return
        failing = [e for kind, e in entries if e["decision"]["kind"] == "fail"]
        if failing:
            error = f"item {failing[0]['item']} expired ([runs] on_timeout = 'fail')"
            entries.append(("run.finished", {"status": "failed", "error": error}))
        await journal.append(*entries)
        if failing:
            raise LlmspellError(f"run {run_id} failed: {failing[0]['item']} expired ([runs] on_timeout = 'fail')")

    async def resume(self, run_id: str, decisions: Mapping[str, Any] | None = None, *, agent: Any = None,
                     by: str | None = None) -> Any:
        journal = await self._load(run_id)
        if journal.finished is not None:
            raise ValidationError(f"run {run_id} has already {journal.finished['status']}; nothing to resume")
        started = journal.started or {}
        if not started.get("input_kept", True):
            raise ValidationError(f"run {run_id} began with an input that is not JSON data, so its journal could not "
                                  "keep it; it cannot be resumed")
        target = agent
        if target is None:
            try:
                target = self.kernel.agents.get(started["agent"])
            except LookupError:
                raise ValidationError(
                    f"run {run_id}: this kernel has no agent {started['agent']!r} to run again; pass agent= "
                    "(kernel.resume(run_id, ..., agent=...)) or define it in [agents] specs"
                ) from None
        await self._decide(journal, dict(decisions or {}), by)
        await journal.append(("run.resumed", {"by": by, "owner": owner()}))
        return await self.kernel.agents.run(
            target, started["input"], session_id=started.get("session_id"), user_id=started.get("user_id"),
            run_id=run_id,
        )


async def _append(run: _Run, *entries: tuple[str, dict[str, Any]]) -> None:
    """Append to a run's journal after the model results it holds, beginning the journal
    with ``run.started`` the first time."""
    journal = run.journal
    if run.held:
        held = [("run.call.done", {"key": key, "result": _stored(key, result, encode)}) for key, result, encode in run.held]
        entries, run.held = (*held, *entries), []
    if journal.started is None:
        fresh = run.fresh
        kept = serde.is_json(fresh["input"])  # a resume runs the agent again on it
        entries = (("run.started", {**fresh, "input": fresh["input"] if kept else None, "input_kept": kept,
                                    "owner": owner()}), *entries)
    await journal.append(*entries)


def _stored(key: str, result: Any, encode: Callable[[Any], Any] | None) -> Any:
    """A call's result as the journal keeps it (JSON data), or an error naming the call."""
    stored = encode(result) if encode is not None else result
    try:
        serde.check_json(stored, "$.result")
    except SerializationError as exc:
        raise ValidationError(
            f"{_describe(key)} returned a value the run's journal cannot keep ({exc}); return JSON data"
        ) from None
    return stored


async def _nothing(args: Any, key: str) -> Any:
    return None


def _replayed(outcome: dict[str, Any], decode: Callable[[Any], Any] | None) -> Any:
    if "error" in outcome:
        raise LlmspellError(f"(replayed from the run's journal) {outcome['error']}")
    result = outcome["result"]
    return decode(result) if decode is not None and "rejected" not in outcome else result


def _needs_approval(tool: Any, args: Any, ctx: Any) -> bool:
    needs = getattr(tool, "needs_approval", False)
    if callable(needs):
        answer = needs(args, ctx)
        if inspect.isawaitable(answer):
            raise ValidationError(f"needs_approval of tool {tool.name!r} must be a plain function, not a coroutine")
        return bool(answer)
    return bool(needs)


def _on_timeout(policy: str) -> dict[str, Any]:
    return {"approve": {"kind": "approve"}, "reject": {"kind": "reject", "message": "the approval expired"},
            "fail": {"kind": "fail"}}[policy]


def _decision(item: PendingItem, decision: dict[str, Any], by: str | None, note: str | None) -> dict[str, Any]:
    return {"item": item.id, "key": item.step, "decision": decision, "by": by, "note": note or decision.get("note")}


def _check(item: PendingItem, decision: Any) -> dict[str, Any]:
    """A decision as journal data, refused when it does not fit the item's kind."""
    allowed = {"approval": (Approve, Edit, Reject), "question": (Answer, Reject),
               "in_doubt": (Retry, Answer, Reject)}[item.kind]
    if not isinstance(decision, allowed):
        names = ", ".join(c.__name__ for c in allowed)
        raise ValidationError(f"item {item.id!r} is {item.kind.replace('_', ' ')}: decide it with {names}, "
                              f"not {decision!r}")
    if isinstance(decision, Approve):
        return {"kind": "approve", "note": decision.note}
    if isinstance(decision, Reject):
        return {"kind": "reject", "message": decision.message, "note": decision.note}
    if isinstance(decision, Retry):
        return {"kind": "retry", "note": decision.reason}
    if isinstance(decision, Edit):
        serde.check_json(decision.args, "$.args")
        return {"kind": "edit", "args": dict(decision.args), "note": decision.note}
    serde.check_json(decision.value, "$.value")
    if item.schema is not None:
        problems = compile_schema(item.schema, what=f"the schema of question {item.id!r}").problems(decision.value)
        if problems:
            raise ValidationError(f"answer to {item.id!r} does not match its schema: " + "; ".join(problems))
    return {"kind": "answer", "value": decision.value, "note": decision.note}
