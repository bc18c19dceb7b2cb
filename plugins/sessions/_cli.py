"""``llmspell sessions list|show|export|import|delete|sweep``."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from llmspell import serde
from llmspell.plugins.cli.api import console, echo_json, pass_kernel, pass_reader, progress, run

if TYPE_CHECKING:
    from llmspell import Kernel


def _size(stream: Any) -> int | None:
    """Bytes left in a file opened by click (None for a pipe or stdin)."""
    try:
        return os.fstat(stream.fileno()).st_size - stream.tell() if os.path.isfile(stream.name) else None
    except (AttributeError, OSError, ValueError):
        return None


def _row(session: Any) -> dict[str, Any]:
    data = serde.unstructure(session)
    data.pop("lease", None)
    return data


def register_commands(cli: click.Group) -> None:
    @cli.group("sessions")
    def sessions() -> None:
        """List, inspect, export, import, delete and sweep sessions."""

    @sessions.command("list")
    @click.option("--user", "user_id", help="Only this user's sessions.")
    @click.option("--app", help="Only this app's sessions.")
    @click.option("--status", multiple=True, help="Only these statuses (repeatable).")
    @click.option("--tag", "tags", multiple=True, help="Only sessions with every tag (repeatable).")
    @click.option("--limit", default=50, show_default=True)
    @click.option("--cursor", help="The next_cursor of a previous page.")
    @click.option("--json", "as_json", is_flag=True)
    @pass_reader
    def list_cmd(kernel: Kernel, user_id: str | None, app: str | None, status: tuple[str, ...],
                 tags: tuple[str, ...], limit: int, cursor: str | None, as_json: bool) -> None:
        """List sessions, newest first."""

        async def go() -> Any:
            async with kernel:
                filters: dict[str, Any] = {"limit": limit, "cursor": cursor, "tags": tags}
                if user_id:
                    filters["user_id"] = user_id
                if app:
                    filters["app"] = app
                if status:
                    filters["status"] = status
                return await kernel.sessions.list(**filters)

        page = run(go())
        if as_json:
            echo_json({"sessions": [_row(s) for s in page.items], "next_cursor": page.next_cursor})
            return
        from rich.table import Table

        table = Table(title="sessions")
        width = max((len(s.id) for s in page.items), default=2)
        table.add_column("id", no_wrap=True, min_width=width)  # whole: users copy it
        table.add_column("status", no_wrap=True)
        for column in ("user", "app", "title"):
            table.add_column(column, overflow="fold")
        table.add_column("active", no_wrap=True)
        for s in page.items:
            table.add_row(s.id, s.status.value, s.user_id or "", s.app, s.title,
                          s.last_active_at.strftime("%m-%d %H:%M"))
        console.print(table)
        if page.next_cursor:
            console.print(f"more: --cursor {page.next_cursor}")

    @sessions.command("show")
    @click.argument("session_id")
    @click.option("--events", "last", default=10, show_default=True, help="How many recent events to show.")
    @click.option("--json", "as_json", is_flag=True)
    @pass_reader
    def show_cmd(kernel: Kernel, session_id: str, last: int, as_json: bool) -> None:
        """Show a session's metadata, state and last events."""
        from ._transfer import describe

        report = run(describe(kernel, session_id, last))
        if as_json:
            echo_json(report)
            return
        console.print_json(data=report)

    @sessions.command("delete")
    @click.argument("session_ids", nargs=-1, required=True)
    @click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
    @click.option("--json", "as_json", is_flag=True)
    @pass_kernel
    def delete_cmd(kernel: Kernel, session_ids: tuple[str, ...], yes: bool, as_json: bool) -> None:
        """Delete sessions with their state, events and session artifacts."""
        if not yes and not as_json and sys.stdin.isatty():
            click.confirm(f"delete {len(session_ids)} session(s) and everything they hold?", abort=True)

        async def go() -> None:
            async with kernel:
                with progress(json_mode=as_json, unit="items") as bar:
                    task = bar.add_task("deleting sessions", total=len(session_ids))
                    for session_id in session_ids:
                        await kernel.sessions.delete(session_id)
                        bar.advance(task)

        run(go())
        if as_json:
            echo_json({"deleted": list(session_ids)})
        else:
            console.print(f"deleted {len(session_ids)} session(s)")

    @sessions.command("sweep")
    @click.option("--json", "as_json", is_flag=True)
    @pass_kernel
    def sweep_cmd(kernel: Kernel, as_json: bool) -> None:
        """Expire idle sessions, mark interrupted ones, apply retention, now."""
        from ._manager import MANAGER
        from ._upkeep import sweep

        async def go() -> Any:
            async with kernel:
                return await sweep(kernel.stash[MANAGER])

        report = serde.unstructure(run(go()))
        if as_json:
            echo_json(report)
        else:
            for key, ids in report.items():
                console.print(f"{key}: {len(ids)} {' '.join(ids)}".rstrip())

    @sessions.command("export")
    @click.argument("session_id")
    @click.option("-o", "--output", type=click.Path(dir_okay=False), help="File to write (default: stdout).")
    @click.option("--json", "as_json", is_flag=True, help="Print a summary as JSON.")
    @pass_reader
    def export_cmd(kernel: Kernel, session_id: str, output: str | None, as_json: bool) -> None:
        """Export a session (record, state, events, artifact references) as JSON lines."""

        async def go() -> int:
            count = 0
            async with kernel:
                with progress(json_mode=as_json, stdout_data=output is None) as bar:
                    task = bar.add_task(f"exporting {session_id}", total=None)
                    sink = open(output, "wb") if output else sys.stdout.buffer  # noqa: ASYNC230
                    try:
                        async for line in kernel.sessions.export(session_id):
                            sink.write(line)
                            count += 1
                            bar.advance(task, len(line))
                    finally:
                        if output:
                            sink.close()
                        else:
                            sink.flush()
            return count

        lines = run(go())
        if as_json and output:
            echo_json({"session": session_id, "lines": lines, "file": output})

    @sessions.command("import")
    @click.argument("source", type=click.File("rb"))
    @click.option("--json", "as_json", is_flag=True)
    @pass_kernel
    def import_cmd(kernel: Kernel, source: Any, as_json: bool) -> None:
        """Import a session exported with ``llmspell sessions export``."""

        total = _size(source)

        async def go() -> Any:
            async with kernel:
                with progress(json_mode=as_json) as bar:
                    task = bar.add_task(f"importing {os.path.basename(getattr(source, 'name', '-'))}", total=total)

                    def lines() -> Iterator[bytes]:
                        for line in source:
                            bar.advance(task, len(line))
                            yield line

                    return await kernel.sessions.import_lines(lines())

        session = run(go())
        if as_json:
            echo_json({"imported": session.id})
        else:
            console.print(f"imported session {session.id}")
