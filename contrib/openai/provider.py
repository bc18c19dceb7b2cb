"""A model provider for any server speaking the OpenAI chat-completions protocol.

OpenAI itself, Ollama (``http://localhost:11434/v1``), vLLM, llama.cpp's server, LM Studio
and others. Requests go to ``{base_url}/chat/completions``; tool calls use the
``tools``/``tool_calls`` fields; streaming reads server-sent events (``data: {...}`` lines
ending with ``data: [DONE]``).

Failures: connection errors, timeouts and HTTP 408/409/429/5xx are retried
``max_retries`` times with exponential backoff (``Retry-After`` is honoured); then a
:class:`~llmspell.plugins.agents.api.ProviderTimeout` or :class:`~llmspell.plugins.agents.api.ProviderError`
names the URL, the status and the start of the server's answer. Other HTTP errors and
malformed JSON fail at once. httpx is imported on first use; without it,
:class:`~llmspell.errors.MissingExtraError` says to install ``llmspell[openai]``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import attrs

from llmspell.config import secret
from llmspell.context import ExecutionContext
from llmspell.errors import MissingExtraError
from llmspell.plugins.agents.api import (
    Message,
    ModelResponse,
    ProviderError,
    ProviderTimeout,
    ToolCall,
    Usage,
)
from llmspell.plugins.agents.backend import ModelChunk, ModelRequest

__all__ = ["OpenAISettings", "OpenAIProvider"]

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


@attrs.frozen
class OpenAISettings:
    """The ``[openai]`` config section."""

    base_url: str = "https://api.openai.com/v1"
    api_key: str | None = secret(None)
    """Sent as a Bearer token; None reads ``OPENAI_API_KEY`` from the environment."""
    model: str = "gpt-4o-mini"
    timeout: float = 60.0
    """Seconds for one request (connect, each read); a run's deadline can shorten it."""
    max_retries: int = 2
    backoff: float = 0.5
    backoff_max: float = 8.0
    headers: dict[str, str] = attrs.Factory(dict)

    def __attrs_post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {self.base_url!r}")
        if self.timeout <= 0 or self.max_retries < 0 or self.backoff < 0:
            raise ValueError("timeout must be > 0, max_retries and backoff >= 0")


def to_wire(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
            for c in message.tool_calls
        ]
        out["content"] = message.content or None
    if message.tool_call_id:
        out["tool_call_id"] = message.tool_call_id
    if message.name and message.role == "tool":
        out["name"] = message.name
    return out


def _arguments(raw: Any, where: str) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw or "{}")
    except json.JSONDecodeError as exc:
        raise ProviderError(f"{where}: tool call arguments are not valid JSON ({exc}): {str(raw)[:200]!r}") from None
    if not isinstance(value, dict):
        raise ProviderError(f"{where}: tool call arguments must be a JSON object, got {str(raw)[:200]!r}")
    return value


def parse_response(data: Any, where: str) -> ModelResponse:
    try:
        choice = data["choices"][0]
        wire = choice["message"]
        calls = tuple(
            ToolCall(c["function"]["name"], _arguments(c["function"].get("arguments"), where), id=c.get("id") or "call")
            for c in wire.get("tool_calls") or ()
        )
        usage = data.get("usage") or {}
        return ModelResponse(
            Message.assistant(wire.get("content") or "", calls), finish_reason=choice.get("finish_reason") or "stop",
            usage=Usage(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))),
            model=str(data.get("model", "")),
        )
    except (KeyError, IndexError, TypeError) as exc:
        raise ProviderError(f"{where}: unexpected answer shape ({type(exc).__name__}: {exc}): {str(data)[:300]}") from None


class OpenAIProvider:
    """Chat completions, tool calls and streaming over HTTP (see the module docstring)."""

    name = "openai"

    def __init__(self, settings: OpenAISettings, *, api_key: str | None = None) -> None:
        self.settings = settings
        self._api_key = api_key or settings.api_key
        self._client: Any = None

    @property
    def url(self) -> str:
        return self.settings.base_url.rstrip("/") + "/chat/completions"

    def client(self) -> Any:
        if self._client is None:
            try:
                import httpx
            except ImportError:
                raise MissingExtraError("the OpenAI-compatible model provider", "openai", "httpx") from None
            headers = {"Content-Type": "application/json", **self.settings.headers}
            if self._api_key:
                headers["Authorization"] = f"Bearer {self._api_key}"
            self._client = httpx.AsyncClient(headers=headers, timeout=self.settings.timeout)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def payload(self, request: ModelRequest, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": request.model or self.settings.model,
                                "messages": [to_wire(m) for m in request.messages]}
        if request.tools:
            body["tools"] = [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                               "parameters": t.parameters}} for t in request.tools]
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        body.update(request.options)
        if stream:
            body["stream"] = True
        return body

    def _timeout(self, ctx: ExecutionContext) -> float:
        remaining = ctx.remaining()
        return self.settings.timeout if remaining is None else max(0.001, min(self.settings.timeout, remaining))

    async def _wait(self, attempt: int, retry_after: str | None) -> None:
        delay = min(self.settings.backoff * 2**attempt, self.settings.backoff_max)
        if retry_after:
            try:
                delay = min(float(retry_after), self.settings.backoff_max)
            except ValueError:
                pass
        await asyncio.sleep(delay)

    async def _send(self, request: ModelRequest, ctx: ExecutionContext, stream: bool) -> Any:
        """POST with retries; returns an open response (streamed) with a 2xx status."""
        import httpx

        client = self.client()
        body = self.payload(request, stream)
        attempts = self.settings.max_retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            timeout = self._timeout(ctx)
            try:
                response = await client.send(client.build_request("POST", self.url, json=body, timeout=timeout),
                                             stream=True)
            except httpx.TimeoutException:
                remaining = ctx.remaining()
                if remaining is not None and remaining <= 0:
                    raise ProviderTimeout(
                        f"{self.url} did not answer within {timeout:.3g} s, the time left before the run's deadline "
                        f"(attempt {attempt + 1})"
                    ) from None
                if last:
                    raise ProviderTimeout(f"{self.url} did not answer within {timeout:.3g} s ({attempts} attempts)") from None
            except httpx.TransportError as exc:
                if last:
                    raise ProviderError(f"{self.url} is unreachable ({type(exc).__name__}: {exc}; {attempts} attempts)") from None
            else:
                if response.status_code < 300:
                    return response
                text = (await response.aread()).decode(errors="replace")[:300]
                await response.aclose()
                if response.status_code not in RETRY_STATUS or last:
                    tries = f"; {attempt + 1} attempts" if attempt else ""
                    raise ProviderError(f"{self.url} answered HTTP {response.status_code}{tries}: {text}")
                await self._wait(attempt, response.headers.get("retry-after"))
                continue
            await self._wait(attempt, None)
        raise AssertionError("unreachable")

    async def complete(self, request: ModelRequest, ctx: ExecutionContext) -> ModelResponse:
        import httpx

        response = await self._send(request, ctx, stream=False)
        try:
            raw = await response.aread()
        except httpx.TimeoutException:
            raise ProviderTimeout(f"{self.url} stopped answering mid-response (timeout {self._timeout(ctx)} s)") from None
        finally:
            await response.aclose()
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ProviderError(f"{self.url} answered malformed JSON: {raw[:200]!r}") from None
        return parse_response(data, self.url)

    async def stream(self, request: ModelRequest, ctx: ExecutionContext) -> AsyncIterator[ModelChunk]:
        response = await self._send(request, ctx, stream=True)
        text: list[str] = []
        calls: dict[int, dict[str, Any]] = {}
        finish, model = "stop", ""
        try:
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                try:
                    event = json.loads(data)
                    choice = (event.get("choices") or [{}])[0]
                except (json.JSONDecodeError, AttributeError):
                    raise ProviderError(f"{self.url} streamed malformed JSON: {data[:200]!r}") from None
                model = event.get("model", model)
                delta = choice.get("delta") or {}
                if delta.get("content"):
                    text.append(delta["content"])
                    yield ModelChunk(delta=delta["content"])
                for part in delta.get("tool_calls") or ():
                    slot = calls.setdefault(int(part.get("index", 0)), {"id": "", "name": "", "arguments": ""})
                    slot["id"] = part.get("id") or slot["id"]
                    function = part.get("function") or {}
                    slot["name"] += function.get("name") or ""
                    slot["arguments"] += function.get("arguments") or ""
                finish = choice.get("finish_reason") or finish
        finally:
            await response.aclose()
        tool_calls = tuple(ToolCall(c["name"], _arguments(c["arguments"], self.url), id=c["id"] or f"call_{i}")
                           for i, c in sorted(calls.items()))
        yield ModelChunk(response=ModelResponse(Message.assistant("".join(text), tool_calls), finish_reason=finish,
                                                model=model))
