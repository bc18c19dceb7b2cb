"""The ``runs`` plugin: durable runs, approvals, questions and resumes (``kernel.runs``).

Provides the run manager (:class:`~._service.RunManager`) as the ``RunService`` and the
``[runs]`` config section. The agents plugin hands every top-level ``kernel.run`` and
every model call, tool call and ``ctx.ask`` of it to this service, which journals them in
the event log. Block it (``[plugins] disable = ["runs"]``) and runs are not durable: a
tool that needs approval then fails, since nothing could wait for the decision.
See ``docs/runs.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmspell import hookimpl

from .api import RunsConfig, RunService

if TYPE_CHECKING:
    from llmspell import Kernel

__all__: list[str] = []


@hookimpl
def llmspell_register_config(register: Any) -> None:
    register("runs", RunsConfig, "durable runs: journal, approval timeout and what expiry decides")


@hookimpl
def llmspell_configure(kernel: Kernel) -> None:
    from ._service import seconds  # (here: the service uses the agents api, which uses this package's)

    seconds(kernel.config.section("runs").approval_timeout)  # a bad duration fails when the kernel is built


@hookimpl(trylast=True)
def llmspell_register_services(kernel: Kernel, register: Any) -> None:
    from ._service import RunManager

    register(RunService, RunManager(kernel, kernel.config.section("runs")))


@hookimpl
def llmspell_register_commands(cli: Any, kernel: Kernel) -> None:
    from ._cli import register_commands

    register_commands(cli)
