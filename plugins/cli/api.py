"""What a plugin's command uses: the kernel, output helpers and the event loop.

``@cli.command(...)`` functions added in ``llmspell_register_commands`` take the built
kernel with :func:`pass_kernel` (or :func:`pass_reader` for a command that only looks),
run coroutines with :func:`run`, and print with :data:`console` or :func:`echo_json`.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
from rich.console import Console

from llmspell.kernel import Kernel

__all__ = ["run", "pass_kernel", "pass_reader", "echo_json", "console", "err_console", "progress"]

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)


def run(coro: Awaitable[T]) -> T:
    """Run a coroutine from a command."""
    return asyncio.run(coro)  # type: ignore[arg-type]


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str, sort_keys=False))


def progress(*, json_mode: bool, stdout_data: bool = False, unit: str = "bytes") -> Any:
    """A rich progress bar on stderr when it is a terminal; silent with ``--json`` or when piped.

    ``stdout_data``: the command writes its data to stdout, so no bar while stdout is the
    same terminal (``> file`` or ``| cmd`` brings the bar back). ``unit``: ``bytes``
    (sizes and transfer speed) or ``items`` (counts).
    """
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    disabled = json_mode or not err_console.is_terminal or (stdout_data and sys.stdout.isatty())
    amount = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
    return Progress(
        TextColumn("{task.description}"), BarColumn(), amount, TimeElapsedColumn(), TimeRemainingColumn(),
        console=err_console, disable=disabled, transient=True,
    )


def pass_kernel(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator: pass the (built, not started) kernel as the first argument."""

    @click.pass_context
    def wrapper(ctx: click.Context, *args: Any, **kwargs: Any) -> T:
        kernel = ctx.obj.get("kernel")
        if kernel is None:
            raise ctx.obj["error"]
        return ctx.invoke(fn, kernel, *args, **kwargs)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def pass_reader(fn: Callable[..., T]) -> Callable[..., T]:
    """:func:`pass_kernel` for a read-only command: its kernel publishes no system events,
    so looking at the data appends nothing to the event log."""

    def quiet(kernel: Kernel, *args: Any, **kwargs: Any) -> T:
        kernel.quiet = True
        return fn(kernel, *args, **kwargs)

    quiet.__name__ = fn.__name__
    quiet.__doc__ = fn.__doc__
    return pass_kernel(quiet)
