"""Wrapper agents around one inner agent (``config.agents = ["inner"]``).

* ``retry``: re-run on failure with exponential backoff (``attempts``, ``backoff``);
  errors that retrying cannot fix (bad input, a hook's cancel, a limit) are not retried.
* ``timeout``: fail with :class:`~llmspell.errors.DeadlineExceeded` after ``seconds``.
* ``cache``: answer a repeated input from a cache keyed by the SHA-256 of the inner
  agent's name, the input and the handoff state; entries expire after ``ttl`` seconds;
  ``persist = true`` keeps them in the wrapper's ``agent`` state scope across processes.
* ``guard``: refuse input matching ``deny`` patterns and replace output matching
  ``deny_output`` with ``message`` (or raise with ``raise_on_block``), and/or ask
  ``check = "module:function"`` (``fn(text) -> str | None``, a reason to block).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import re
import time
from collections import OrderedDict
from typing import Any, ClassVar

import attrs
import orjson

from llmspell.context import ExecutionContext
from llmspell.errors import (
    CancelledByHook,
    DeadlineExceeded,
    LimitExceeded,
    LlmspellError,
    ValidationError,
)
from llmspell.plugins.agents.api import AgentOutput, AgentRequest
from llmspell.plugins.state.api import StateService

from .api import AgentConfig, BaseAgent

__all__ = ["RetryAgent", "TimeoutAgent", "CacheAgent", "GuardAgent", "GuardBlocked"]

_FINAL = (ValidationError, CancelledByHook, LimitExceeded)


class GuardBlocked(LlmspellError):
    """A guard refused an input or an output."""


@attrs.define(eq=False, kw_only=True)
class Wrapper(BaseAgent):
    default_capabilities: ClassVar[tuple[str, ...]] = ("wrapper",)

    def inner(self) -> BaseAgent:
        if len(self.config.agents) != 1:
            raise ValidationError(f"{self.type_name} agent {self.name!r} wraps exactly one agent (config.agents)")
        return self.peers[self.config.agents[0]]

    async def call_inner(self, request: AgentRequest, ctx: ExecutionContext) -> AgentOutput:
        return await self._manager().chain(self.inner(), request, ctx)


@attrs.frozen
class RetryConfig(AgentConfig):
    attempts: int = 3
    """Runs of the inner agent before the last error is raised."""
    backoff: float = 0.1
    """Seconds to wait after the first failure; doubled after each further one."""
    max_backoff: float = 5.0
    """The longest wait between two attempts, in seconds."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.attempts < 1 or self.backoff < 0:
            raise ValueError("attempts must be >= 1 and backoff >= 0")


@attrs.define(eq=False, kw_only=True)
class RetryAgent(Wrapper):
    """Re-runs the inner agent on failure, with exponential backoff."""

    Config: ClassVar[type[AgentConfig]] = RetryConfig
    type_name: ClassVar[str] = "retry"
    config: RetryConfig = attrs.field(factory=RetryConfig)

    async def execute(self, request: AgentRequest, ctx: ExecutionContext) -> AgentOutput:
        cfg = self.config
        for attempt in range(1, cfg.attempts + 1):
            try:
                output = await self.call_inner(request, ctx)
                return output.evolve(metadata={**output.metadata, "attempts": attempt})
            except _FINAL:
                raise
            except Exception as exc:
                if attempt == cfg.attempts:
                    raise
                self.report("retry", {"attempt": attempt, "error": f"{type(exc).__name__}: {exc}"})
                await asyncio.sleep(min(cfg.backoff * 2 ** (attempt - 1), cfg.max_backoff))
        raise AssertionError("unreachable")


@attrs.frozen
class TimeoutConfig(AgentConfig):
    seconds: float = 30.0
    """Seconds the inner agent may take before DeadlineExceeded."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.seconds <= 0:
            raise ValueError(f"seconds must be > 0, got {self.seconds}")


@attrs.define(eq=False, kw_only=True)
class TimeoutAgent(Wrapper):
    """Fails when the inner agent takes longer than ``seconds``."""

    Config: ClassVar[type[AgentConfig]] = TimeoutConfig
    type_name: ClassVar[str] = "timeout"
    config: TimeoutConfig = attrs.field(factory=TimeoutConfig)

    async def execute(self, request: AgentRequest, ctx: ExecutionContext) -> AgentOutput:
        try:
            async with asyncio.timeout(self.config.seconds):
                return await self.call_inner(request, ctx.with_timeout(self.config.seconds))
        except TimeoutError:
            raise DeadlineExceeded(
                f"agent {self.inner().name!r} took longer than {self.config.seconds} s (timeout wrapper {self.name!r})"
            ) from None


@attrs.frozen
class CacheConfig(AgentConfig):
    ttl: float = 3600.0
    """Seconds a cached answer stays valid."""
    max_entries: int = 1024
    """Answers kept in memory; the least recently used goes first."""
    persist: bool = False
    """Also keep answers in the wrapper's ``agent`` state scope, across processes."""


@attrs.define(eq=False, kw_only=True)
class CacheAgent(Wrapper):
    """Answers a repeated input from a cache keyed by the input's hash."""

    Config: ClassVar[type[AgentConfig]] = CacheConfig
    type_name: ClassVar[str] = "cache"
    config: CacheConfig = attrs.field(factory=CacheConfig)
    entries: OrderedDict[str, tuple[float, str, Any]] = attrs.field(factory=OrderedDict, repr=False)
    hits: int = 0
    misses: int = 0

    def key(self, request: AgentRequest) -> str:
        raw = orjson.dumps([self.config.agents, request.input, request.state], option=orjson.OPT_SORT_KEYS, default=str)
        return hashlib.sha256(raw).hexdigest()

    async def execute(self, request: AgentRequest, ctx: ExecutionContext) -> AgentOutput:
        key = self.key(request)
        now = time.time()
        entry = self.entries.get(key)
        scope = ctx.service(StateService).scope("agent", self.name) if self.config.persist else None
        if entry is None and scope is not None:
            stored = await scope.get(f"cache/{key}")
            if stored is not None:
                entry = (stored["at"], stored["content"], stored["data"])
        if entry is not None and now - entry[0] < self.config.ttl:
            self.hits += 1
            return AgentOutput(content=entry[1], data=entry[2], metadata={"cache": "hit", "key": key})
        self.misses += 1
        output = await self.call_inner(request, ctx)
        self.entries[key] = (now, output.content, output.data)
        self.entries.move_to_end(key)
        while len(self.entries) > self.config.max_entries:
            self.entries.popitem(last=False)
        if scope is not None:
            await scope.set(f"cache/{key}", {"at": now, "content": output.content, "data": output.data})
        return output.evolve(metadata={**output.metadata, "cache": "miss", "key": key})


@attrs.frozen
class GuardConfig(AgentConfig):
    deny: list[str] = attrs.Factory(list)
    """Regular expressions (case-insensitive): an input matching one is refused."""
    deny_output: list[str] = attrs.Factory(list)
    """Regular expressions: an output matching one is replaced by ``message``."""
    check: str | None = None
    """``module:function``, called as ``fn(text)``; a returned reason blocks the text."""
    message: str = "I can't help with that."
    """The answer given instead of a blocked input or output."""
    raise_on_block: bool = False
    """Raise an error instead of answering with ``message``."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for pattern in (*self.deny, *self.deny_output):
            re.compile(pattern)


@attrs.define(eq=False, kw_only=True)
class GuardAgent(Wrapper):
    """Blocks unwanted input before, and unwanted output after, the inner agent."""

    Config: ClassVar[type[AgentConfig]] = GuardConfig
    type_name: ClassVar[str] = "guard"
    config: GuardConfig = attrs.field(factory=GuardConfig)

    def reason(self, text: str, patterns: list[str]) -> str | None:
        for pattern in patterns:
            if re.search(pattern, text, re.I):
                return f"matches {pattern!r}"
        if self.config.check is not None:
            module, _, attr = self.config.check.partition(":")
            found = getattr(importlib.import_module(module), attr)(text)
            return str(found) if found else None
        return None

    def blocked(self, where: str, why: str) -> AgentOutput:
        if self.config.raise_on_block:
            raise GuardBlocked(f"guard {self.name!r} blocked the {where}: {why}")
        self.report("blocked", {"where": where, "why": why})
        return AgentOutput(content=self.config.message, metadata={"guard": where, "why": why})

    async def execute(self, request: AgentRequest, ctx: ExecutionContext) -> AgentOutput:
        why = self.reason(request.text, self.config.deny)
        if why:
            return self.blocked("input", why)
        output = await self.call_inner(request, ctx)
        why = self.reason(output.content, self.config.deny_output)
        if why:
            return self.blocked("output", why)
        return output
