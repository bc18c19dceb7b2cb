"""The agents and tools of the run tests, importable by the child processes too.

``effects`` (a file next to the data directory) gets one line each time a tool body runs,
with its idempotency key; ``LLMSPELL_TEST_KILL_IN=<tool>`` makes that tool kill its own
process (SIGKILL) right after its side effect, before the run could record its result.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import attrs

from llmspell.plugins.agents import BaseAgent
from llmspell.plugins.agents.api import AgentOutput
from llmspell.plugins.tools import tool


def _effects_file() -> Path:
    return Path(os.environ.get("LLMSPELL_TEST_EFFECTS", "effects.txt"))


def _effect(name: str, ctx: Any, args: dict[str, Any]) -> None:
    with _effects_file().open("a") as f:
        f.write(f"{name} {ctx.idempotency_key} {sorted(args.items())}\n")
        f.flush()
        os.fsync(f.fileno())
    if os.environ.get("LLMSPELL_TEST_KILL_IN") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def effects() -> list[str]:
    path = _effects_file()
    return path.read_text().splitlines() if path.exists() else []


@tool(description="Pay someone.", needs_approval=True)
async def pay(amount: int, to: str, ctx: Any = None) -> dict[str, Any]:
    _effect("pay", ctx, {"amount": amount, "to": to})
    return {"paid": amount, "to": to}


@tool(description="Charge a card (runs without approval).")
async def charge(amount: int, ctx: Any = None) -> dict[str, Any]:
    _effect("charge", ctx, {"amount": amount})
    return {"charged": amount}


@tool(description="Look something up.", idempotent=True)
async def lookup(q: str, ctx: Any = None) -> dict[str, Any]:
    _effect("lookup", ctx, {"q": q})
    return {"q": q, "found": q.upper()}


@tool(description="Pay, asking only above 100.", needs_approval=lambda args, ctx: args["amount"] > 100)
async def spend(amount: int, ctx: Any = None) -> dict[str, Any]:
    _effect("spend", ctx, {"amount": amount})
    return {"spent": amount}


TOOLS = {t.name: t for t in (pay, charge, lookup, spend)}


@attrs.define(eq=False, kw_only=True)
class Script(BaseAgent):
    """Calls the tools its input names, in order: ``"lookup:x charge:5 pay:10:alice ask:city"``."""

    type_name = "script"

    async def execute(self, request: Any, ctx: Any) -> AgentOutput:
        seen = []
        for word in str(request.input).split():
            name, _, rest = word.partition(":")
            if name == "ask":
                seen.append(await ctx.ask(f"Which {rest}?"))
            elif name == "pay":
                amount, _, to = rest.partition(":")
                seen.append(await self.call_tool("pay", {"amount": int(amount), "to": to}, ctx))
            elif name in ("charge", "spend"):
                seen.append(await self.call_tool(name, {"amount": int(rest)}, ctx))
            else:
                seen.append(await self.call_tool(name, {"q": rest}, ctx))
        return AgentOutput(content=repr(seen), data=seen)


def script(kernel: Any, name: str = "script") -> Script:
    return kernel.agents.create(Script, name=name, deps={"tools": dict(TOOLS)})
