"""The ``tools`` plugin: built-in tools, registered by name for agents to use.

See :mod:`.builtins` for the list and :mod:`.base` for writing tools. Block the plugin
(``[plugins] disable = ["tools"]``) to ship agents without the built-ins.
"""

from __future__ import annotations

from typing import Any

from llmspell import hookimpl

from .base import AgentTool, BaseTool, FunctionTool, as_text, signature_schema, tool
from .builtins import BUILTINS, evaluate

__all__ = ["AgentTool", "BaseTool", "FunctionTool", "as_text", "signature_schema", "tool", "evaluate", "BUILTINS"]


def _factory(name: str, cls: type[BaseTool]) -> Any:
    def make(kernel: Any) -> BaseTool:
        from llmspell.plugins.agents.api import AgentService

        return cls(name=name, manager=kernel.services.find(AgentService))

    return make


@hookimpl(trylast=True)
def llmspell_register_tools(register: Any) -> None:
    for name, cls in BUILTINS.items():
        register(name, _factory(name, cls), description=(cls.__doc__ or "").strip().split("\n")[0])
