"""The ``openai`` plugin: a model provider for OpenAI-compatible servers.

Install with ``pip install "llmspell[openai]"`` and select it for all agents
(``[agents] provider = "openai"``) or per agent (``provider = "openai"``)::

    [openai]
    base_url = "http://localhost:11434/v1"   # Ollama; or vLLM, llama.cpp, OpenAI ...
    model = "llama3.2"
    timeout = 30
    max_retries = 2

The API key comes from ``[openai] api_key`` or the ``OPENAI_API_KEY`` environment variable.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from llmspell import hookimpl
from llmspell.errors import MissingExtraError

from .provider import OpenAIProvider, OpenAISettings

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["OpenAIProvider", "OpenAISettings"]


@hookimpl
def llmspell_register_config(register: Any) -> None:
    register("openai", OpenAISettings, "OpenAI-compatible model provider: endpoint, model, timeouts, retries")


@hookimpl
def llmspell_register_model_providers(register: Any) -> None:
    def make(kernel: Kernel) -> OpenAIProvider:
        try:  # fail when an agent selects the provider, not at its first model call
            import httpx  # noqa: F401
        except ImportError:
            raise MissingExtraError("the OpenAI-compatible model provider", "openai", "httpx") from None
        settings: OpenAISettings = kernel.config.section("openai")
        return OpenAIProvider(settings, api_key=settings.api_key or os.environ.get("OPENAI_API_KEY"))

    register("openai", make, description="OpenAI-compatible HTTP chat completions (OpenAI, Ollama, vLLM, llama.cpp)")
