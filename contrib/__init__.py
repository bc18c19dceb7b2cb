"""Optional plugins with extra dependencies; each imports its client library lazily.

The framework adapters (``llmspell.contrib.langgraph``, ``.adk``, ``.openai_agents``) and the
MCP plugin (``.mcp``) each need their extra; :class:`KernelThread` runs a kernel for the
synchronous APIs of those frameworks.
"""

from ._interop import Bridge, KernelThread

__all__ = ["Bridge", "KernelThread"]
