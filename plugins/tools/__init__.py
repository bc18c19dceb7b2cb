"""The ``tools`` plugin: built-in tools, registered by name for agents to use.

See :mod:`.builtins` for the list and :mod:`.base` for writing tools. Block the plugin
(``[plugins] disable = ["tools"]``) to ship agents without the built-ins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmspell import hookimpl

from ._base import AgentTool, BaseTool, FunctionTool, as_text, signature_schema, tool
from ._builtins import BUILTINS, evaluate

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["AgentTool", "BaseTool", "FunctionTool", "as_text", "signature_schema", "tool", "evaluate", "BUILTINS"]


def _factory(name: str, cls: type[BaseTool]) -> Any:
    def make(kernel: Kernel) -> BaseTool:
        from llmspell.plugins.agents.api import MANAGER

        return cls(name=name, manager=kernel.stash.get(MANAGER, None))

    return make


@hookimpl(trylast=True)
def llmspell_register_tools(register: Any) -> None:
    for name, cls in BUILTINS.items():
        register(name, _factory(name, cls), description=(cls.__doc__ or "").strip().split("\n")[0])
