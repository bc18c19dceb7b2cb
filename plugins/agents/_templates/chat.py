"""The ``chat`` template: a conversation whose memory persists in the session.

The history lives in the session's state under ``chat/<agent name>`` (without a session:
in the agent's own memory, which the state plugin persists in the ``agent`` scope), so a
conversation continues in another process. Each turn appends only the messages it added
(the layout is in :mod:`.history`; read a conversation with :meth:`ChatAgent.conversation`). Before each model call the history is kept
inside a budget (``max_history_tokens``, estimated at 4 characters a token, and
``max_history_messages``); what falls out is handed to a *trimming strategy*:

* ``summarise`` (default): the model condenses the dropped turns into one system note
  that stays at the head of the history;
* ``drop``: the oldest turns are forgotten;
* ``module:function``: your own ``fn(agent, dropped, kept, ctx) -> list[Message]``
  (sync or async) returns the new head of the history.

Chat agents may have tools: the function-calling loop of the ``tool`` template is used.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import attrs

from llmspell import serde
from llmspell.context import ExecutionContext
from llmspell.errors import ValidationError
from llmspell.plugins.agents.api import AgentOutput, AgentRequest, Message
from llmspell.plugins.state.api import StateService

from ..api import AgentConfig
from . import history as stored
from .history import estimate_tokens
from .tool import ToolAgent, ToolConfig

__all__ = ["ChatAgent", "ChatConfig", "estimate_tokens", "STRATEGIES"]

SUMMARY_PROMPT = "Summarise the earlier conversation below in a few sentences, keeping names and facts."


@attrs.frozen
class ChatConfig(ToolConfig):
    """Settings of a chat agent."""

    system: str = "You are a helpful assistant."
    max_history_tokens: int = 2000
    """Budget of the history sent to the model (4 characters a token, estimated)."""
    max_history_messages: int = 50
    """At most this many earlier messages are sent to the model."""
    keep_recent: int = 4
    """Messages always kept verbatim at the end of the history when trimming."""
    trim_strategy: str = "summarise"
    """``summarise``, ``drop`` or ``module:function``."""
    history_key: str | None = None
    """State key of the history (default ``chat/<agent name>``)."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.trim_strategy not in STRATEGIES and ":" not in self.trim_strategy:
            raise ValueError(f"trim_strategy {self.trim_strategy!r} is not one of {sorted(STRATEGIES)} nor 'module:function'")
        if self.max_history_messages < 2 or self.max_history_tokens < 16:
            raise ValueError("max_history_messages must be >= 2 and max_history_tokens >= 16")


Strategy = Callable[..., "Awaitable[list[Message]] | list[Message]"]


async def summarise(agent: ChatAgent, dropped: list[Message], kept: list[Message], ctx: ExecutionContext) -> list[Message]:
    text = "\n".join(f"{m.role}: {m.content}" for m in dropped if m.content)
    response = await agent.model([Message.system(SUMMARY_PROMPT), Message.user(text)], ctx, tools=())
    return [Message.system(f"Summary of the earlier conversation: {response.content}")]


def drop(agent: ChatAgent, dropped: list[Message], kept: list[Message], ctx: ExecutionContext) -> list[Message]:
    return []


STRATEGIES: dict[str, Strategy] = {"summarise": summarise, "drop": drop}


def _strategy(name: str) -> Strategy:
    if name in STRATEGIES:
        return STRATEGIES[name]
    module, _, attr = name.partition(":")
    try:
        fn: Strategy = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ValidationError(f"trim strategy {name!r} cannot be loaded: {exc}") from None
    return fn


@attrs.define(eq=False, kw_only=True)
class ChatAgent(ToolAgent):
    """A conversational agent with persistent, budgeted memory."""

    Config: ClassVar[type[AgentConfig]] = ChatConfig
    type_name: ClassVar[str] = "chat"
    default_capabilities: ClassVar[tuple[str, ...]] = ("chat", "memory")
    config: ChatConfig = attrs.field(factory=ChatConfig)

    _histories: stored.Cache = attrs.field(factory=stored.Cache, init=False, repr=False)

    def _key(self) -> str:
        return self.config.history_key or f"chat/{self.name}"

    async def conversation(self, state: StateService, session_id: str) -> list[Message]:
        """The conversation this agent holds in session ``session_id`` (oldest first)."""
        return (await stored.read(state.scope("session", session_id), self._key(), self._histories)).messages

    async def load_history(self, ctx: ExecutionContext) -> stored.Loaded:
        if ctx.session_id is None or ctx.services is None or StateService not in ctx.services:
            messages = [serde.structure(m, Message) for m in self.memory.get("history", [])]
            return stored.Loaded(messages, 0, tokens=estimate_tokens(messages))
        scope = ctx.service(StateService).scope("session", ctx.session_id)
        return await stored.read(scope, self._key(), self._histories)

    async def save_history(self, loaded: stored.Loaded, added: list[Message], ctx: ExecutionContext, *,
                           head: list[Message] | None = None) -> None:
        """Store the messages this turn ``added``; ``head``: the history was trimmed to it."""
        if ctx.session_id is None or ctx.services is None or StateService not in ctx.services:
            history = loaded.messages if head is None else head
            self.memory["history"] = serde.unstructure([*history, *added], list[Message])
            return
        state = ctx.service(StateService)
        scope = state.scope("session", ctx.session_id)
        await stored.append(state, scope, self._key(), loaded, added, head=head, cache=self._histories)

    async def trim(self, history: list[Message], ctx: ExecutionContext, tokens: int | None = None) -> list[Message]:
        """``history`` within the budget (itself when it fits); ``tokens``: its estimate, if known."""
        cfg = self.config
        if len(history) <= cfg.max_history_messages and (
            estimate_tokens(history) if tokens is None else tokens
        ) <= cfg.max_history_tokens:
            return history
        head = [m for m in history[:1] if m.role == "system" and m.content.startswith("Summary of")]
        body = history[len(head):]
        kept = body[-cfg.keep_recent:] if cfg.keep_recent else []
        dropped = head + body[: len(body) - len(kept)]
        while kept and (len(kept) + 1 > cfg.max_history_messages or estimate_tokens(kept) > cfg.max_history_tokens // 2):
            dropped.append(kept.pop(0))
        result = _strategy(cfg.trim_strategy)(self, dropped, kept, ctx)
        new_head = await result if inspect.isawaitable(result) else result
        self.report("trimmed", {"dropped": len(dropped), "kept": len(kept)})
        return [*new_head, *kept]

    async def execute(self, request: AgentRequest, ctx: ExecutionContext) -> AgentOutput:
        loaded = await self.load_history(ctx)
        history = await self.trim(loaded.messages, ctx, loaded.tokens)
        system = [Message.system(self.config.system)] if self.config.system else []
        user = Message.user(request.text)
        messages = [*system, *history, *request.history, user]
        start = len(messages)
        output = await self.loop(messages, request, ctx)
        added = [user, *(m for m in messages[start:] if m.role == "assistant" and m.content and not m.tool_calls)]
        if output.transfer_to:
            added.append(Message.assistant(output.content))
        await self.save_history(loaded, added, ctx, head=None if history is loaded.messages else history)
        data: dict[str, Any] = {**(output.data or {}), "history": len(history) + len(added)}
        return output.evolve(data=data)
