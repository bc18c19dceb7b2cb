"""Agent templates: ``chat``, ``research``, ``code`` and ``tool``, all over the provider interface."""

from __future__ import annotations

from .chat import ChatAgent, ChatConfig
from .code import CodeAgent, CodeConfig
from .research import ResearchAgent, ResearchConfig
from .tool import ToolAgent, ToolConfig

__all__ = ["ChatAgent", "ChatConfig", "CodeAgent", "CodeConfig", "ResearchAgent", "ResearchConfig",
           "ToolAgent", "ToolConfig"]
