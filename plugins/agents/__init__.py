"""The ``agents`` plugin: the agent service, agent types, the offline model provider, CLI.

Provides ``kernel.agents`` (:class:`~.service.AgentManager`), registers the templates
(``chat``, ``research``, ``code``, ``tool``), composition (``sequential``, ``parallel``,
``loop``, ``router``) and wrappers (``retry``, ``timeout``, ``cache``, ``guard``) as agent
types, the ``offline`` model provider, the ``[agents]`` config section and the
``agents``, ``run`` and ``chat`` commands. See ``docs/agents.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmspell import hookimpl
from llmspell.plugins.agents.api import MANAGER, AgentService

from ._builder import AgentBuilder
from ._compose import Loop, Parallel, Router, Sequential
from ._handoff import drop, keep, rename, summarise
from ._lifecycle import AgentsSettings
from ._offline import OfflineProvider
from ._service import AgentInitError, AgentManager
from ._templates import ChatAgent, CodeAgent, ResearchAgent, ToolAgent
from ._wrappers import CacheAgent, GuardAgent, GuardBlocked, RetryAgent, TimeoutAgent
from .api import AgentConfig, BaseAgent, inject

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = [
    "AgentBuilder", "AgentConfig", "AgentInitError", "AgentManager", "AgentsSettings", "BaseAgent",
    "CacheAgent", "ChatAgent", "CodeAgent", "GuardAgent", "GuardBlocked", "Loop", "OfflineProvider",
    "Parallel", "ResearchAgent", "RetryAgent", "Router", "Sequential", "TimeoutAgent", "ToolAgent",
    "drop", "inject", "keep", "rename", "summarise", "TYPES",
]

TYPES: tuple[type[BaseAgent], ...] = (
    ChatAgent, ResearchAgent, CodeAgent, ToolAgent, Sequential, Parallel, Loop, Router,
    RetryAgent, TimeoutAgent, CacheAgent, GuardAgent,
)


@hookimpl
def llmspell_register_config(register: Any) -> None:
    register("agents", AgentsSettings, "agent service: default model provider, limits, handoff depth, spec files")


@hookimpl(trylast=True)
def llmspell_register_agent_types(register: Any) -> None:
    for cls in TYPES:
        register(cls.type_name, cls, description=(cls.__doc__ or "").strip().split("\n")[0])


@hookimpl(trylast=True)
def llmspell_register_model_providers(register: Any) -> None:
    def offline(kernel: Kernel) -> OfflineProvider:
        return OfflineProvider(replies=kernel.config.section("agents").replies)

    register("offline", offline, description="deterministic, offline: scripted and rule-based replies")


@hookimpl(trylast=True)
def llmspell_register_services(kernel: Kernel, register: Any) -> None:
    manager = AgentManager(kernel, kernel.config.section("agents"))
    kernel.stash[MANAGER] = manager
    register(AgentService, manager)


@hookimpl(trylast=True)
def llmspell_startup(kernel: Kernel) -> None:
    manager = kernel.services.find(AgentService)
    if isinstance(manager, AgentManager):
        manager.runner.bind()  # every service is registered by now: a turn need not look them up
        manager.calls.bind()
        for spec in manager.settings.specs:
            manager.from_spec(spec)


@hookimpl(trylast=True)
async def llmspell_shutdown(kernel: Kernel) -> None:
    manager = kernel.services.find(AgentService)
    if isinstance(manager, AgentManager):
        await manager.shutdown()


@hookimpl
def llmspell_register_commands(cli: Any, kernel: Kernel) -> None:
    from ._cli import register_commands

    register_commands(cli)
