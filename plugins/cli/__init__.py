"""The ``llmspell`` command line: the host (``main``, global options, one-line errors) and
a plugin adding its own commands ``plugins``, ``config`` and ``doctor``; every other
command comes from a plugin's ``llmspell_register_commands`` (helpers in :mod:`.api`).

Global options come before the command: ``llmspell -c llmspell.toml -p no:artifacts
plugins --json``. ``-p no:NAME`` blocks a plugin, ``-p MODULE`` loads one. Errors print
one line; ``--debug`` prints the traceback.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click

from llmspell import hookimpl
from llmspell.errors import LlmspellError
from llmspell.kernel import Kernel

from .api import console, echo_json, err_console, pass_reader, run

__all__ = ["main", "cli"]



def _preparse(argv: Sequence[str]) -> dict[str, Any]:
    """Pull the kernel options out of argv before click runs (plugins add commands)."""
    opts: dict[str, Any] = {"config": None, "data_dir": None, "distribution": None, "disable": [], "plugins": [], "debug": False}
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-"):
            break  # the command name: the rest belongs to it
        value = args[i + 1] if i + 1 < len(args) else None
        key = arg.split("=", 1)
        if len(key) == 2:
            arg, value = key[0], key[1]
            step = 1
        else:
            step = 2
        if arg in ("-c", "--config"):
            opts["config"] = value
        elif arg == "--data-dir":
            opts["data_dir"] = value
        elif arg == "--distribution":
            opts["distribution"] = value
        elif arg == "-p" and value:
            (opts["disable"] if value.startswith("no:") else opts["plugins"]).append(value.removeprefix("no:"))
        elif arg == "--debug":
            opts["debug"] = True
            step = 1
        else:
            step = 1
        i += step
    return opts


class _Cli(click.Group):
    """The root group: when the kernel could not be built, plugins added no commands,
    so an unknown command reports why the kernel failed (a bad config, with its path)
    instead of ``No such command``."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError:
            error = (ctx.obj or {}).get("error")
            if error is not None:
                raise error from None
            raise


@click.group(cls=_Cli)
@click.option("-c", "--config", "config_path", metavar="FILE", help="Config file (default: ./llmspell.toml or $LLMSPELL_CONFIG).")
@click.option("--data-dir", metavar="DIR", help="Data directory (default: ./.llmspell).")
@click.option("--distribution", metavar="NAME", help="Start a named distribution.")
@click.option("-p", "plugin_opts", multiple=True, metavar="NAME", help="-p no:NAME blocks a plugin; -p MODULE loads one.")
@click.option("--debug", is_flag=True, help="Print tracebacks and plugin/hook tracing.")
@click.version_option(package_name="llmspell")
def cli(**_: Any) -> None:
    """llmspell: agent infrastructure: state, sessions, events, hooks, artifacts, agents."""


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("-v", "--verbose", is_flag=True, help="Also the hooks and registrations of each plugin.")
@pass_reader
def plugins_cmd(kernel: Kernel, as_json: bool, verbose: bool) -> None:
    """List plugins: one line each (name, version, source, status); hooks with -v."""
    rows: list[dict[str, Any]] = []
    for info in kernel.plugins:
        registered = {
            kind: sorted(str(r.name) for r in registry.by_plugin(info.name))
            for kind, registry in kernel.registries.items()
            if registry.by_plugin(info.name)
        }
        rows.append(
            {
                "name": info.name,
                "source": info.source,
                "module": info.module,
                "distribution": info.distribution,
                "version": info.version,
                "status": "loaded",
                "hooks": list(info.hooks),
                "registers": registered,
            }
        )
    for name, (module, version, extra) in kernel.unavailable.items():
        rows.append({"name": name, "source": "default", "module": module, "distribution": "llmspell",
                     "version": version, "status": f"not loaded: needs llmspell[{extra}]", "hooks": [], "registers": {}})
    if as_json:
        echo_json({"plugins": rows, "blocked": kernel.blocked, "distribution": kernel.distribution.name if kernel.distribution else None})
        return
    from rich.text import Text

    width = max((len(r["name"]) for r in rows), default=4)
    for group in ([r for r in rows if r["status"] == "loaded"], [r for r in rows if r["status"] != "loaded"]):
        for row in group:
            package = f"{row['distribution'] or ''} {row['version'] or ''}".strip() or "-"
            line = f"{row['name']:<{width}}  {package:<22} {row['source']:<12} {row['status']}"
            console.print(Text(line), highlight=False, soft_wrap=True)
            if verbose:
                hooks = ", ".join(h.removeprefix("llmspell_") for h in row["hooks"])
                console.print(Text(f"{'':<{width}}  hooks: {hooks}"), highlight=False)
                for kind, names in row["registers"].items():
                    console.print(Text(f"{'':<{width}}  {kind}: {', '.join(names)}"), highlight=False)
    if kernel.blocked:
        console.print(Text(f"blocked: {', '.join(kernel.blocked)}"), highlight=False)


@click.command("config")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--show-secrets", is_flag=True, help="Print secret values instead of ***.")
@pass_reader
def config_cmd(kernel: Kernel, as_json: bool, show_secrets: bool) -> None:
    """Print the effective configuration (file + environment + defaults)."""
    data = kernel.config.to_dict(show_secrets=show_secrets)
    data["source"] = kernel.config.source
    if as_json:
        echo_json(data)
        return
    console.print(f"# source: {kernel.config.source or '(no file; defaults)'}")
    console.print_json(json.dumps(data, default=str))


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_reader
def doctor_cmd(kernel: Kernel, as_json: bool) -> None:
    """Check the data directory, the selected backends and their connections."""
    checks: list[dict[str, Any]] = []

    def add(name: str, ok: bool, detail: str) -> None:
        checks.append({"check": name, "ok": ok, "detail": detail})

    data_dir = kernel.data_dir
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        probe = data_dir / ".doctor-probe"
        probe.write_bytes(b"ok")
        probe.unlink()
        add("data directory", True, str(data_dir))
    except OSError as exc:
        add("data directory", False, f"{data_dir} is not writable: {exc}")

    async def services() -> None:
        try:
            await kernel.start()
        except LlmspellError as exc:
            add("start", False, str(exc))
            return
        add("start", True, f"{len(kernel.plugins)} plugins started")
        try:
            for label, problems in (await kernel.health()).items():
                add(f"{label}{_server_of(kernel, label.rpartition(' ')[2])}", not problems, "; ".join(problems) or "ok")
        finally:
            await kernel.stop()

    run(services())
    ok = all(c["ok"] for c in checks)
    if as_json:
        echo_json({"ok": ok, "checks": checks})
    else:
        from rich.text import Text

        for c in checks:  # exception texts are printed as they are: no markup ("[redis]")
            mark = ("ok", "green") if c["ok"] else ("FAIL", "red")
            console.print(Text.assemble(mark, f"  {c['check']}: {c['detail']}"), highlight=False)
    if not ok:
        sys.exit(1)


def _server_of(kernel: Kernel, backend: str) -> str:
    """`` at redis://host:6379/0`` for ``llmspell doctor`` (no credentials)."""
    from urllib.parse import urlsplit

    server = ""
    settings = kernel.config.sections.get(backend)
    for field in ("url", "dsn", "endpoint_url", "endpoint", "servers"):
        value = getattr(settings, field, None)
        value = value[0] if isinstance(value, list | tuple) and value else value
        if isinstance(value, str) and "://" in value:
            try:
                parts = urlsplit(value)
                host = f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname or ""
            except ValueError:
                break
            server = f" at {parts.scheme}://{host}{parts.path}"
            break
    if backend == "diskcache":
        server = f" in {kernel.data_dir}"
    return server


@hookimpl(tryfirst=True)
def llmspell_register_commands(cli: click.Group, kernel: Kernel) -> None:
    """The host's own commands, added like any plugin's (``-p no:cli`` leaves them out)."""
    for command in (plugins_cmd, config_cmd, doctor_cmd):
        cli.add_command(command)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``llmspell`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    opts = _preparse(args)
    if opts["debug"]:
        os.environ.setdefault("LLMSPELL_DEBUG", "1")
    obj: dict[str, Any] = {"kernel": None, "error": None, "debug": opts["debug"]}
    try:
        kernel = Kernel(
            opts["config"], distribution=opts["distribution"], data_dir=opts["data_dir"],
            disable=opts["disable"], plugins=opts["plugins"],
        )
        obj["kernel"] = kernel
        kernel.call_each(kernel.hook.register_commands(cli=cli, kernel=kernel))
    except LlmspellError as exc:
        obj["error"] = exc
    try:
        cli.main(args=args, prog_name="llmspell", obj=obj, standalone_mode=False)
    except click.exceptions.Abort:
        _error_line("aborted")
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        if opts["debug"]:
            traceback.print_exc()
        _error_line("interrupted")
        sys.exit(130)
    except (LlmspellError, OSError) as exc:
        if opts["debug"]:
            traceback.print_exc()
        _error_line(str(exc))
        sys.exit(1)
    except Exception as exc:  # a bug somewhere: still one line, the traceback with --debug
        if opts["debug"]:
            traceback.print_exc()
            _error_line(f"{type(exc).__name__}: {exc}")
        else:
            _error_line(f"{type(exc).__name__}: {exc} (run with --debug for the traceback)")
        sys.exit(1)


def _error_line(message: str) -> None:
    """``error: <message>`` on stderr: no markup from the message, never wrapped."""
    from rich.text import Text

    err_console.print(Text.assemble(("error:", "red"), " ", message), soft_wrap=True, highlight=False)


