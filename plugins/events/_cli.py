"""``llmspell events``: tail, replay and list the event log.

The commands open the configured log backend only (the kernel is built, not started),
so looking at the log adds nothing to it. ``--json`` prints one event per line: its
envelope with ``stream`` and ``seq``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from llmspell.plugins.events.api import Event

if TYPE_CHECKING:
    from llmspell import Kernel

SYSTEM_STREAM = "system"

__all__ = ["register_commands"]


def _line(event: Event, as_json: bool) -> str:
    if as_json:
        return json.dumps(event.as_dict(), separators=(",", ":"))
    payload = json.dumps(event.payload, separators=(",", ":"), default=str)
    if len(payload) > 120:
        payload = payload[:117] + "..."
    where = f"{event.stream}#{event.seq}" if event.stream else "-"
    source = f" [{event.source}]" if event.source else ""
    return f"{event.time:%Y-%m-%d %H:%M:%S.%f} {where} {event.type}{source} {payload}"


async def _with_bus(kernel: Kernel, work: Any) -> None:
    from ._service import EventBus

    bus = EventBus(kernel, kernel.config.section("events"))
    await bus.log.open()
    try:
        await work(bus)
    finally:
        await bus.log.close()


def register_commands(cli: click.Group) -> None:
    from llmspell.plugins.cli.api import echo_json, pass_kernel, progress, run

    from ._worker import register_worker

    register_worker(cli)

    @cli.group("events")
    def events() -> None:
        """Look at the event log: tail, replay, streams, types."""

    @events.command("tail")
    @click.option("-f", "--follow", is_flag=True, help="Keep printing events as they are appended (Ctrl-C stops).")
    @click.option("-t", "--type", "types", multiple=True, metavar="PATTERN", help="Only these types (agent.*, agent.**); repeatable.")
    @click.option("-s", "--session", metavar="ID", help="Only this session's stream.")
    @click.option("--stream", metavar="NAME", help="Only this stream (e.g. system).")
    @click.option("-n", "--lines", default=10, show_default=True, help="How many recent events to print first.")
    @click.option("--json", "as_json", is_flag=True, help="One JSON event per line.")
    @pass_kernel
    def tail_cmd(kernel: Kernel, follow: bool, types: tuple[str, ...], session: str | None, stream: str | None,
                 lines: int, as_json: bool) -> None:
        """Print the latest events of the log (all streams, or one), optionally following it."""

        async def work(bus: Any) -> None:
            if stream or session or types or follow or lines <= 0:
                async for event in bus.tail(stream or session, types=list(types) or None, last=lines, follow=follow):
                    click.echo(_line(event, as_json))
                return
            # all streams: the application's events first; the kernel's own (system) ones after
            infos = [i for i in await bus.log.streams() if i.name != SYSTEM_STREAM and i.last_seq]
            infos.sort(key=lambda i: (i.last_time is not None, i.last_time), reverse=True)
            own = [e for i in infos[:lines] async for e in bus.tail(i.name, last=lines)]
            own = sorted(own, key=lambda e: (e.time, e.stream or "", e.seq or 0))[-lines:]
            system = [e async for e in bus.tail(SYSTEM_STREAM, last=lines - len(own))] if len(own) < lines else []
            for event in own:
                click.echo(_line(event, as_json))
            for event in system:
                click.echo(_line(event, as_json))
            if not as_json and len(own) >= lines:
                click.echo(f"-- the kernel's own events: llmspell events tail --stream {SYSTEM_STREAM}", err=True)

        try:
            run(_with_bus(kernel, work))
        except KeyboardInterrupt:
            pass

    @events.command("replay")
    @click.argument("stream")
    @click.option("--from-seq", default=1, show_default=True, help="First sequence number.")
    @click.option("--to-seq", type=int, default=None, help="Last sequence number.")
    @click.option("-t", "--type", "types", multiple=True, metavar="PATTERN", help="Only these types; repeatable.")
    @click.option("--json", "as_json", is_flag=True, help="One JSON event per line.")
    @pass_kernel
    def replay_cmd(kernel: Kernel, stream: str, from_seq: int, to_seq: int | None, types: tuple[str, ...],
                   as_json: bool) -> None:
        """Print the events of STREAM in order (malformed records are reported on stderr and skipped)."""

        async def work(bus: Any) -> None:
            head = await bus.last_seq(stream)
            if not head:
                from llmspell.errors import NotFoundError

                raise NotFoundError(f"stream {stream!r} does not exist (no event was ever appended to it)")
            last = to_seq if to_seq is not None else head
            with progress(json_mode=as_json, stdout_data=True, unit="items") as bar:
                task = bar.add_task(f"replaying {stream}", total=max(last - from_seq + 1, 0))

                def show(event: Event) -> None:
                    click.echo(_line(event, as_json))
                    bar.update(task, completed=(event.seq or from_seq) - from_seq + 1)

                count = await bus.replay(stream, show, from_seq=from_seq, to_seq=to_seq,
                                         types=list(types) or None, malformed="skip")
            for problem in bus.malformed:
                click.echo(f"error: {problem}", err=True)
            if not as_json:
                click.echo(f"-- {count} event(s) from {stream}", err=True)

        run(_with_bus(kernel, work))

    @events.command("streams")
    @click.option("--prefix", default="", help="Only streams whose name starts with this.")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @pass_kernel
    def streams_cmd(kernel: Kernel, prefix: str, as_json: bool) -> None:
        """List the streams of the log with their last sequence number."""
        found: list[Any] = []

        async def work(bus: Any) -> None:
            found.extend(await bus.streams(prefix))

        run(_with_bus(kernel, work))
        rows = [{"stream": s.name, "last_seq": s.last_seq,
                 "last_time": s.last_time.isoformat() if s.last_time else None} for s in found]
        if as_json:
            echo_json({"streams": rows})
            return
        for row in rows:
            click.echo(f"{row['stream']}  {row['last_seq']}  {row['last_time'] or '-'}")

    @events.command("types")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @pass_kernel
    def types_cmd(kernel: Kernel, as_json: bool) -> None:
        """List the registered event types and families with the plugin that registered each."""
        rows = [{"type": str(r.name), "class": f"{r.value.__module__}.{r.value.__qualname__}", "plugin": r.plugin,
                 "description": r.description} for r in kernel.registry("event_type")]
        if as_json:
            echo_json({"types": rows})
            return
        for row in rows:
            click.echo(f"{row['type']:<22} {row['plugin']:<10} {row['description']}")
