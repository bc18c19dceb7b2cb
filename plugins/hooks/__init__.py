"""The hooks plugin: runtime hooks, callbacks, policy, breakers, observers, retries.

It installs its :class:`~llmspell.plugins.hooks.api.Dispatcher` as the kernel's hook
loop extension when the kernel is configured (first of all ``llmspell_configure``
hooks), applies ``[hook_policy]``, adds the ``LLMSPELL_DEBUG`` observer, and attaches the
functions named in the configuration. Blocked, the kernel still runs plugin hooks with its
own minimal rules (see :mod:`llmspell.hooks`).

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
from typing import Any

import attrs
import click

from llmspell import hookimpl
from llmspell.config import resolve
from llmspell.errors import ConfigError, HookError
from llmspell.hooks import POINTS

from .api import STATS_FILE, DebugObserver, Dispatcher, HookPolicy, HookStats, describe

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
def install(kernel: Any) -> None:
    """Make the dispatcher the kernel's hook loop extension, before other plugins configure."""

    def breaker_changed(stats: HookStats, state: str) -> None:
        log.warning("hook %s at %s: circuit breaker %s", stats.name, stats.point, state)
        kernel.emit_soon("hook.breaker", {"hook": stats.name, "point": stats.point, "state": state})

    dispatcher = Dispatcher(kernel.hook.loop, policy=kernel.config.section("hook_policy"), on_breaker=breaker_changed)
    kernel.hook.extend(dispatcher)
    if kernel.debug:  # each hook function's outcome, beside pluggy's trace of the calls
        dispatcher.add_observer(DebugObserver(write=_debug_write))


@hookimpl(trylast=True)
def llmspell_configure(kernel: Any) -> None:
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
def llmspell_shutdown(kernel: Any) -> None:
    stats = [s.as_dict() for s in kernel.hook_stats() if s.calls or s.skipped]
    if not stats:
        return
    path = kernel.data_dir / STATS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".stats-")
    with os.fdopen(fd, "w") as fh:
        json.dump({"pid": os.getpid(), "hooks": stats}, fh, indent=2)
    os.replace(tmp, path)


async def _started(kernel: Any) -> list[dict[str, Any]]:
    async with kernel:
        return describe(kernel)


@hookimpl
def llmspell_register_commands(cli: click.Group, kernel: Any) -> None:
    from llmspell.plugins.cli.api import console, echo_json, pass_reader

    @cli.command("hooks")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @pass_reader
    def hooks_cmd(kernel: Any, as_json: bool) -> None:
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
