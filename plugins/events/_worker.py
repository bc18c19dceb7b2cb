"""``llmspell worker``: a process that runs the configured triggers until it is stopped.

The worker starts the kernel (so every configured plugin loads and its
``llmspell_startup`` adds its triggers), runs the ``--setup`` functions, joins the
work-sharing groups of the grouped triggers and handles events until SIGTERM or SIGINT.
With a consumer-group transport (``[events] transport = "redis"`` or ``"nats"``) any
number of workers on any hosts share each group's events: each event is handled by one
of them, and what a worker took but did not finish is redelivered to the others when it
dies. On SIGTERM a worker finishes and acknowledges the events in hand, then stops.

A trigger module for ``[plugins] load`` (or ``--setup module:function``)::

    from llmspell import hookimpl

    @hookimpl
    def llmspell_startup(kernel):
        kernel.events.triggers.add("order.paid", ship_order, group="shipping")
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import signal
import socket
from typing import TYPE_CHECKING, Any

import click

from llmspell.config import resolve
from llmspell.errors import ConfigError, ValidationError

from ._service import BUS

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["register_worker", "run_worker"]


def _say(as_json: bool, event: str, text: str, **data: Any) -> None:
    if as_json:
        click.echo(json.dumps({"event": event, **data}, default=str), nl=True)
    else:
        click.echo(text)


async def run_worker(kernel: Kernel, setups: tuple[str, ...] = (), *, as_json: bool = False,
                     stop: asyncio.Event | None = None) -> dict[str, Any]:
    """Start ``kernel``, run ``setups``, handle triggered events until ``stop`` is set or a signal arrives."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    async with kernel:
        for target in setups:
            try:
                setup = resolve(target)
            except ValueError as exc:
                raise ConfigError([f"worker --setup {target}: {exc}"]) from None
            result = setup(kernel)
            if inspect.isawaitable(result):
                await result
        events = kernel.stash[BUS]  # the plugin's own bus: it leaves the transport's groups below
        await events.triggers.join_all()
        triggers = list(events.triggers)
        if not triggers:
            raise ValidationError(
                "the worker has nothing to do: no triggers are registered. Register one with "
                "kernel.events.triggers.add(...) in a function and pass it as --setup module:function, "
                "or in a plugin's llmspell_startup ([plugins] load = [\"module\"])"
            )
        groups = sorted({t.group for t in triggers if t.group})
        transport = kernel.config.section("events").transport
        handlers = [signal.SIGTERM, signal.SIGINT]
        for sig in handlers:
            loop.add_signal_handler(sig, stop.set)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "transport": transport, "groups": groups,
                "triggers": [t.name for t in triggers]}
        shared = "" if transport != "local" else " (transport local: groups are not shared with other processes)"
        _say(as_json, "ready", f"worker {info['host']}:{info['pid']} ready: {len(triggers)} trigger(s), "
             f"groups {', '.join(groups) or 'none'}, transport {transport}{shared}", **info)
        try:
            await stop.wait()
        finally:
            for sig in handlers:
                loop.remove_signal_handler(sig)
        for group in groups:  # finish and acknowledge the work in hand before stopping
            await events.transport.leave(group)
        await events.flush(kernel.config.section("events").drain_timeout)
        done = {t.name: {"fired": t.fired, "errors": t.errors} for t in triggers}
        _say(as_json, "stopped", f"worker stopped: {sum(d['fired'] for d in done.values())} event(s) handled",
             pid=info["pid"], triggers=done)
        return done


def register_worker(cli: click.Group) -> None:
    from llmspell.plugins.cli.api import pass_kernel, run

    @cli.command("worker")
    @click.option("--setup", "setups", multiple=True, metavar="MODULE:FUNCTION",
                  help="Call FUNCTION(kernel) after start to add triggers (a module path or a .py file); repeatable.")
    @click.option("--json", "as_json", is_flag=True, help="Print the ready and stopped lines as JSON.")
    @pass_kernel
    def worker_cmd(kernel: Kernel, setups: tuple[str, ...], as_json: bool) -> None:
        """Run the configured triggers and handle events until SIGTERM or Ctrl-C.

        Grouped triggers (group=...) share their events with every other worker of the
        group when the transport is redis or nats.
        """
        run(run_worker(kernel, setups, as_json=as_json))
