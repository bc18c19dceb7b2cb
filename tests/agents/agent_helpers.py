"""Agent classes shared by the agent tests (importable as ``tests.agents.agent_helpers:Echo``)."""

from __future__ import annotations

import asyncio
from typing import Any

import attrs

from llmspell import hookimpl
from llmspell.plugins.agents import AgentConfig, BaseAgent
from llmspell.plugins.agents.api import AgentOutput


@attrs.frozen
class EchoConfig(AgentConfig):
    """Settings of the echo agent."""

    prefix: str = "echo"
    delay: float = 0.0
    fail_times: int = 0


@attrs.define(eq=False, kw_only=True)
class Echo(BaseAgent):
    """Answers with its input, after ``delay`` seconds; fails its first ``fail_times`` runs."""

    Config = EchoConfig
    type_name = "echo"
    default_capabilities = ("echo",)
    config: EchoConfig = attrs.field(factory=EchoConfig)
    runs: int = 0

    async def execute(self, request, ctx) -> AgentOutput:
        self.runs += 1
        if self.config.delay:
            await asyncio.sleep(self.config.delay)
        if self.runs <= self.config.fail_times:
            raise ConnectionError(f"run {self.runs} failed")
        return AgentOutput(content=f"{self.config.prefix}: {request.text}", data={"runs": self.runs})


class EchoPlugin:
    """Registers the echo agent type the way a third-party package would."""

    __name__ = "echo-plugin"

    @staticmethod
    @hookimpl
    def llmspell_register_agent_types(register: Any) -> None:
        register("echo", Echo, description="answers with its input")


@attrs.frozen
class RelayConfig(AgentConfig):
    """Settings of the relay agent."""

    next: str | None = None
    add: dict[str, str] = attrs.Factory(dict)


@attrs.define(eq=False, kw_only=True)
class Relay(BaseAgent):
    """Adds ``add`` to the state it received and hands off to ``next``."""

    Config = RelayConfig
    type_name = "relay"
    config: RelayConfig = attrs.field(factory=RelayConfig)
    received: list[dict[str, Any]] = attrs.field(factory=list)

    async def execute(self, request, ctx) -> AgentOutput:
        self.received.append(dict(request.state))
        state = {**request.state, **self.config.add}
        return AgentOutput(content=f"{self.name} saw {sorted(request.state)}", transfer_to=self.config.next,
                           handoff_state=state)


@attrs.frozen
class WriterConfig(AgentConfig):
    """Settings of the writer agent."""

    writes: dict[str, Any] = attrs.Factory(dict)
    delay: float = 0.0


@attrs.define(eq=False, kw_only=True)
class Writer(BaseAgent):
    """Returns ``writes`` as its state delta (after ``delay`` seconds)."""

    Config = WriterConfig
    type_name = "writer"
    config: WriterConfig = attrs.field(factory=WriterConfig)

    async def execute(self, request, ctx) -> AgentOutput:
        await asyncio.sleep(self.config.delay)
        return AgentOutput(content=f"{self.name} wrote {sorted(self.config.writes)}", state_delta=dict(self.config.writes))


async def new_session(kernel: Any, user: str = "u1") -> str:
    """A new session (through the session service) for a test; returns its id."""
    return str((await kernel.sessions.create(user_id=user, app="tests")).id)


def count_dropped(agent: Any, dropped: list[Any], kept: list[Any], ctx: Any) -> list[Any]:
    """A custom chat trimming strategy (``tests.agents.agent_helpers:count_dropped``)."""
    from llmspell.plugins.agents.api import Message

    return [Message.system(f"(dropped {len(dropped)} messages)")]
