"""The hooks plugin: runtime hooks, callbacks, the hook policy, observers and retries.

Beside plugin hooks, two kinds of functions attach to a hook point while a kernel runs:

* **runtime hooks**: ``kernel.hooks.register(point, fn, priority=...)`` or ``[[hooks]]``
  entries in the configuration; they answer like plugin hooks;
* **callbacks**: ``kernel.callbacks.on(point, fn)`` or ``agent.callbacks.on(point, fn)``;
  they observe: their return value is ignored.

*Order.* Every function has a priority, higher first. Runtime hooks and callbacks get the
one they were registered with (default 0). Plugin hooks get 0, ``TRYFIRST`` (1000) with
``tryfirst=True`` and ``TRYLAST`` (-1000) with ``trylast=True``. Ties: plugin hooks
first (in pluggy's order: the later registered plugin first), then kernel runtime hooks
and callbacks, then the agent's own callbacks, each in registration order. Plugin
``wrapper=True`` hooks wrap all of that, outermost first.

*Results.* ``Cancel`` stops the point at once and the call raises
:class:`~llmspell.errors.CancelledByHook`. Otherwise every function runs; ``Replace``
sets ``call.result`` (later hooks see it; in a *before* point the call itself is then
skipped); ``Retry`` in an *after* or *error* point runs the call again (before-hooks
included) with ``call.attempt`` increased, up to ``max_retries`` with exponential backoff.
Precedence within one point: Cancel > Retry > Replace > continue.

*Isolation* (``[hook_policy]``). A hook that raises is logged and counted, and the call
goes on (unless the policy is ``strict``). A hook that fails or runs over its time budget
``threshold`` times in a row is switched off by its circuit breaker, which half-opens
after ``cooldown`` seconds: one successful call closes it again.

*Observation.* Observers attached with ``kernel.dispatcher.add_observer`` see every unit
of work, hook point run and hook function outcome without taking part; tracing (the
``otel`` plugin) and ``LLMSPELL_DEBUG`` use them.

The plugin installs its :class:`~llmspell.plugins.hooks.api.Dispatcher` as the kernel's
hook loop extension first of all ``llmspell_configure`` hooks. Blocked
(``[plugins] disable = ["hooks"]``), the kernel still runs plugin hooks in the same order
with its smallest rules: a raising hook is logged and skipped, nothing is counted or
switched off, nothing is retried; ``kernel.hooks``, ``kernel.callbacks`` and
``kernel.dispatcher`` raise :class:`~llmspell.errors.ServiceNotAvailable`, and
``[hook_policy]`` is an unknown section. Import the names above from
``llmspell.plugins.hooks.api`` (they were in ``llmspell.hooks`` and ``llmspell.observe``).

``[[hooks]]`` tables attach functions to hook points without writing a package::

    [[hooks]]
    point = "agent_before"
    call = "my_rules:redact"        # module:function, or "rules.py:redact" (a file)
    priority = 10

Each target is imported when the kernel is built; a missing module or file, a missing
function or a function that does not take one argument fails the start with the path
of the bad entry. Hook statistics (calls, errors, time, breaker state) are written to
``<data_dir>/hooks/stats.json`` when the kernel stops, for ``llmspell hooks``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import click

from llmspell import hookimpl
from llmspell.config import resolve
from llmspell.errors import ConfigError, HookError
from llmspell.hooks import POINTS

from .api import STATS_FILE, DebugObserver, Dispatcher, HookPolicy, HookStats, describe

if TYPE_CHECKING:
    from llmspell import Kernel

log = logging.getLogger("llmspell.hooks")


@attrs.frozen
class ConfiguredHook:
    """One ``[[hooks]]`` entry."""

    point: str
    call: str
    priority: int = 0
    name: str | None = None
    callback: bool = False
    """Register as an observing callback (return value ignored) instead of a hook."""


@hookimpl
def llmspell_register_config(register: Any) -> None:
    register("hooks", list[ConfiguredHook], "hook functions attached by configuration")
    register("hook_policy", HookPolicy, "hook isolation, circuit breakers and retries")


def _debug_write(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


@hookimpl(tryfirst=True, specname="llmspell_configure")
def install(kernel: Kernel) -> None:
    """Make the dispatcher the kernel's hook loop extension, before other plugins configure."""

    def breaker_changed(stats: HookStats, state: str) -> None:
        log.warning("hook %s at %s: circuit breaker %s", stats.name, stats.point, state)
        kernel.emit_soon("hook.breaker", {"hook": stats.name, "point": stats.point, "state": state})

    dispatcher = Dispatcher(kernel.hook.loop, policy=kernel.config.section("hook_policy"), on_breaker=breaker_changed)
    kernel.hook.extend(dispatcher)
    if kernel.debug:  # each hook function's outcome, beside pluggy's trace of the calls
        dispatcher.add_observer(DebugObserver(write=_debug_write))


@hookimpl(trylast=True)
def llmspell_configure(kernel: Kernel) -> None:
    entries: list[ConfiguredHook] = kernel.config.section("hooks")
    base = Path(kernel.config.source).parent if kernel.config.source else None
    problems = []
    for i, entry in enumerate(entries):
        where = f"hooks[{i}]"
        if entry.point not in POINTS:
            problems.append(
                f"{where}.point: unknown hook point {entry.point!r} (allowed: {', '.join(sorted(POINTS))})"
            )
            continue
        try:
            fn = resolve(entry.call, base=base)
        except ValueError as exc:
            problems.append(f"{where}.call: {exc}")
            continue
        target = kernel.callbacks if entry.callback else kernel.hooks
        try:
            target.register(entry.point, fn, priority=entry.priority, name=entry.name or entry.call)
        except HookError as exc:
            problems.append(f"{where}.call: {exc}")
    if problems:
        raise ConfigError(problems, source=kernel.config.source)


@hookimpl(trylast=True)
def llmspell_shutdown(kernel: Kernel) -> None:
    stats = [s.as_dict() for s in kernel.hook_stats() if s.calls or s.skipped]
    if not stats:
        return
    path = kernel.data_dir / STATS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".stats-")
    with os.fdopen(fd, "w") as fh:
        json.dump({"pid": os.getpid(), "hooks": stats}, fh, indent=2)
    os.replace(tmp, path)


async def _started(kernel: Kernel) -> list[dict[str, Any]]:
    async with kernel:
        return describe(kernel)


@hookimpl
def llmspell_register_commands(cli: click.Group, kernel: Kernel) -> None:
    from llmspell.plugins.cli.api import console, echo_json, pass_reader

    @cli.command("hooks")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @pass_reader
    def hooks_cmd(kernel: Kernel, as_json: bool) -> None:
        """List hook functions per point, in call order, with their last stats and breaker state.

        The kernel is started (publishing nothing), so runtime hooks that plugins register
        at startup are listed too."""
        rows = asyncio.run(_started(kernel))
        if as_json:
            echo_json({"hooks": rows})
            return
        from rich.table import Table

        table = Table(title="llmspell hooks")
        table.add_column("point", overflow="fold")
        table.add_column("name", overflow="fold")  # folded, never cut: users name it in config
        for column in ("origin", "prio", "calls", "errors", "avg ms", "breaker"):
            table.add_column(column, overflow="fold")
        for row in rows:
            avg = row["total_time"] / row["calls"] * 1000 if row["calls"] else 0.0
            table.add_row(
                row["point"], row["name"], row["origin"], str(row["priority"]),
                str(row["calls"]), str(row["errors"]), f"{avg:.3f}", row["breaker"],
            )
        console.print(table)


__all__ = ["ConfiguredHook", "install"]
