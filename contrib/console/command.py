"""``llmspell console``."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["register_command"]


def register_command(cli: click.Group) -> None:
    from llmspell.plugins.cli.api import err_console, pass_kernel, run

    @cli.command("console")
    @click.option("--host", default=None, help="Interface to listen on (default: [console] host, 127.0.0.1).")
    @click.option("--port", type=int, default=None, help="Port (default: [console] port, 8765; 0: any free port).")
    @click.option("--no-token", is_flag=True, help="Serve without the access token (only on a machine you trust).")
    @click.option("--open", "open_browser", is_flag=True, help="Open the console in the default browser.")
    @click.option("--json", "as_json", is_flag=True, help="Print the address as one JSON line.")
    @pass_kernel
    def console_cmd(kernel: Kernel, host: str | None, port: int | None, no_token: bool, open_browser: bool,
                    as_json: bool) -> None:
        """Serve a web console over the data directory or the configured backends."""
        from .server import require_web, serve

        require_web()
        settings = kernel.config.section("console")
        token: bool = settings.token and not no_token

        def ready(url: str, actual_port: int, secret: str | None) -> None:
            if as_json:
                click.echo(json.dumps({"url": url, "port": actual_port, "token": secret,
                                       "data_dir": str(kernel.data_dir)}))
            else:
                click.echo(f"llmspell console on {url}")
                click.echo(f"data: {kernel.data_dir}    (Ctrl-C stops)")
            if not token:
                err_console.print("[yellow]warning:[/yellow] no access token: anyone who can reach the port sees "
                                  "the data", highlight=False)
            if (host or settings.host) not in ("127.0.0.1", "localhost", "::1"):
                err_console.print("[yellow]warning:[/yellow] listening beyond this machine", highlight=False)
            sys.stdout.flush()
            if open_browser:
                import webbrowser

                webbrowser.open(url)

        try:
            run(serve(kernel, settings, host=host, port=port, token=token, on_ready=ready))
        except KeyboardInterrupt:
            pass
