"""``llmspell runs list|show|approve|reject|answer|resume``.

``approve``, ``reject`` and ``answer`` record a decision in the run's journal and run
nothing; ``resume`` runs the agent again (it must be one the kernel can build by name: an
agent of the configuration's ``[agents] specs``), as ``kernel.resume`` does from code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
import orjson

from llmspell import Answer, Approve, Reject, serde
from llmspell.plugins.cli.api import console, echo_json, pass_kernel, pass_reader, run

from .api import STATUSES, RunRecord

if TYPE_CHECKING:
    from llmspell import Kernel


def _row(record: RunRecord) -> dict[str, Any]:
    return serde.unstructure(record)


def _pending(record: RunRecord) -> str:
    return ", ".join(f"{p.id} {p.kind}: {p.tool or p.question}" for p in record.pending)


def _decide(kernel: Kernel, run_id: str, item: str, decision: Any, by: str | None, as_json: bool) -> None:
    async def go() -> RunRecord:
        async with kernel:
            return await kernel.runs.decide(run_id, {item: decision}, by=by)

    record = run(go())
    if as_json:
        echo_json(_row(record))
        return
    left = f"; still pending: {_pending(record)}" if record.pending else ""
    console.print(f"{item} decided{left}. Resume the run: llmspell runs resume {run_id}")


def register_commands(cli: click.Group) -> None:
    @cli.group("runs")
    def runs() -> None:
        """List runs, show one, decide what paused runs wait for, resume them."""

    @runs.command("list")
    @click.option("--status", type=click.Choice(STATUSES))
    @click.option("--user", "user_id", help="Only this user's runs.")
    @click.option("--session", "session_id", help="Only the runs of this session.")
    @click.option("--limit", default=100, show_default=True)
    @click.option("--json", "as_json", is_flag=True)
    @pass_reader
    def list_cmd(kernel: Kernel, status: str | None, user_id: str | None, session_id: str | None, limit: int,
                 as_json: bool) -> None:
        """Runs, newest first, with what the paused ones wait for."""

        async def go() -> list[RunRecord]:
            async with kernel:
                return await kernel.runs.list(status=status, user_id=user_id, session_id=session_id, limit=limit)

        records = run(go())
        if as_json:
            echo_json({"runs": [_row(r) for r in records]})
            return
        from rich.table import Table

        table = Table(title="runs")
        table.add_column("id", no_wrap=True, min_width=max((len(r.id) for r in records), default=2))
        table.add_column("status", no_wrap=True)
        table.add_column("agent", overflow="fold")
        table.add_column("waiting for", overflow="fold")
        for r in records:
            table.add_row(r.id, r.status, r.agent, _pending(r))
        console.print(table)

    @runs.command("show")
    @click.argument("run_id")
    @click.option("--json", "as_json", is_flag=True)
    @pass_reader
    def show_cmd(kernel: Kernel, run_id: str, as_json: bool) -> None:
        """One run and its journal: every step, pause and decision, with who and when."""

        async def go() -> tuple[RunRecord, list[dict[str, Any]]]:
            async with kernel:
                return await kernel.runs.get(run_id), await kernel.runs.history(run_id)

        record, history = run(go())
        if as_json:
            echo_json({"run": _row(record), "history": serde.unstructure(history)})
            return
        console.print(f"run {record.id}: {record.status} ({record.agent})")
        for item in record.pending:
            what = f"{item.tool} {orjson.dumps(item.args).decode()}" if item.tool else item.question
            console.print(f"  waiting: {item.id} {item.kind}: {what} (expires {item.expires_at:%Y-%m-%d %H:%M})")
        for entry in history:
            by = f" by {entry['by']}" if entry["by"] else ""
            console.print(f"  {entry['seq']:>3} {entry['time']:%H:%M:%S} {entry['type']}{by}")

    @runs.command("approve")
    @click.argument("run_id")
    @click.argument("item")
    @click.option("--by", help="Who decides (kept in the journal).")
    @click.option("--note", default="", help="Why (kept in the journal).")
    @click.option("--json", "as_json", is_flag=True)
    @pass_kernel
    def approve_cmd(kernel: Kernel, run_id: str, item: str, by: str | None, note: str, as_json: bool) -> None:
        """Approve a pending call: it runs when the run resumes."""
        _decide(kernel, run_id, item, Approve(note=note), by, as_json)

    @runs.command("reject")
    @click.argument("run_id")
    @click.argument("item")
    @click.option("--message", default="rejected", show_default=True, help="What the agent is told.")
    @click.option("--by", help="Who decides (kept in the journal).")
    @click.option("--json", "as_json", is_flag=True)
    @pass_kernel
    def reject_cmd(kernel: Kernel, run_id: str, item: str, message: str, by: str | None, as_json: bool) -> None:
        """Reject a pending call or question: it never runs; the agent is told MESSAGE."""
        _decide(kernel, run_id, item, Reject(message), by, as_json)

    @runs.command("answer")
    @click.argument("run_id")
    @click.argument("item")
    @click.argument("value")
    @click.option("--by", help="Who decides (kept in the journal).")
    @click.option("--json", "as_json", is_flag=True)
    @pass_kernel
    def answer_cmd(kernel: Kernel, run_id: str, item: str, value: str, by: str | None, as_json: bool) -> None:
        """Answer a question (or give the result of a call in doubt): VALUE as JSON, else as text."""
        try:
            parsed: Any = orjson.loads(value)
        except orjson.JSONDecodeError:
            parsed = value
        _decide(kernel, run_id, item, Answer(parsed), by, as_json)

    @runs.command("resume")
    @click.argument("run_id")
    @click.option("--by", help="Who resumes (kept in the journal).")
    @click.option("--json", "as_json", is_flag=True)
    @pass_kernel
    def resume_cmd(kernel: Kernel, run_id: str, by: str | None, as_json: bool) -> None:
        """Run the agent again from the journal, acting on the decisions made."""

        async def go() -> Any:
            async with kernel:
                return await kernel.resume(run_id, by=by)

        out = run(go())
        if as_json:
            echo_json({"status": out.status, "run_id": out.run_id, "content": out.content,
                       "pending": [serde.unstructure(p) for p in out.pending]})
            return
        if out.status == "paused":
            console.print(f"paused again, waiting for: {', '.join(f'{p.id} {p.kind}' for p in out.pending)}")
        else:
            console.print(out.content)
