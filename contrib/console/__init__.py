"""The ``console`` plugin: ``llmspell console``, a local web console over the kernel's data.

Install with ``pip install "llmspell[web]"``, then::

    llmspell console                      # http://127.0.0.1:8765/?token=...
    llmspell --data-dir ./data console --port 0 --open

Pages: sessions (filter by user, app, status; paginated), one session (metadata, state
with versions, the event timeline with live updates, artifacts with previews and
downloads), the run tree of a session's invocations, plugins and hooks. It reads through
the kernel's services, so it shows whatever backend is configured; the only writes are the
session actions (suspend, resume, delete), each behind a confirmation page.
See ``docs/console.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmspell import hookimpl

from .settings import ConsoleSettings

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["ConsoleSettings", "create_app", "serve"]


def __getattr__(name: str) -> Any:  # the web stack is imported only when it is used
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "serve":
        from .server import serve

        return serve
    raise AttributeError(name)


@hookimpl
def llmspell_register_config(register: Any) -> None:
    register("console", ConsoleSettings, "the local web console: interface, port, token, page sizes")


@hookimpl
def llmspell_register_commands(cli: Any, kernel: Kernel) -> None:
    from .command import register_command

    register_command(cli)
