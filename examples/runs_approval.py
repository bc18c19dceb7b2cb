"""A payment that waits for a person: paused in one process, approved and finished in another.

Run ``python examples/runs_approval.py``: it starts one process that runs the agent until
the ``pay`` tool needs approval (the run pauses and the process exits), then another
process that lists the paused runs, approves the payment as ``alice`` and finishes the
run. Each process is this file with a command: ``start DATA_DIR`` or ``approve DATA_DIR``.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from typing import Any

import attrs

from llmspell import Approve, Kernel
from llmspell.plugins.agents import BaseAgent
from llmspell.plugins.agents.api import AgentOutput
from llmspell.plugins.tools import tool


@tool(description="Look up who someone is.", idempotent=True)
async def lookup(name: str) -> dict[str, Any]:
    return {"name": name, "iban": f"FR76-{name.upper()}"}


@tool(description="Pay someone.", needs_approval=True)
async def pay(amount: int, iban: str, ctx: Any = None) -> dict[str, Any]:
    # ctx.idempotency_key is the same on every retry of this call: give it to the payment system
    print(f"  paying {amount} to {iban} (idempotency key {ctx.idempotency_key[-8:]})")
    return {"paid": amount, "to": iban}


@attrs.define(eq=False, kw_only=True)
class Treasurer(BaseAgent):
    """Looks the payee up, then pays."""

    type_name = "treasurer"

    async def execute(self, request: Any, ctx: Any) -> AgentOutput:
        amount, name = str(request.input).split()
        payee = await self.call_tool("lookup", {"name": name}, ctx)
        receipt = await self.call_tool("pay", {"amount": int(amount), "iban": payee["iban"]}, ctx)
        return AgentOutput(content=f"paid: {receipt}")


def treasurer(kernel: Kernel) -> Treasurer:
    return kernel.agents.create(Treasurer, name="treasurer", deps={"tools": {"lookup": lookup, "pay": pay}})


async def start(data_dir: str) -> None:
    async with Kernel(data_dir=data_dir) as kernel:
        out = await kernel.run(treasurer(kernel), "10 alice")
        item = out.pending[0]
        print(f"process 1: run {out.status}, waiting for {item.id}: {item.tool} {item.args}")


async def approve(data_dir: str) -> None:
    async with Kernel(data_dir=data_dir) as kernel:
        (run,) = await kernel.runs.list(status="paused")
        print(f"process 2: run {run.id[-8:]} is {run.status}; approving {run.pending[0].id} as alice")
        out = await kernel.resume(run.id, {run.pending[0].id: Approve()}, agent=treasurer(kernel), by="alice")
        print(f"process 2: run {out.status}: {out.content}")
        for entry in await kernel.runs.history(run.id):
            by = f" by {entry['by']}" if entry["by"] else ""
            print(f"  {entry['seq']:>2} {entry['type']}{by}")


if __name__ == "__main__":
    if len(sys.argv) == 3:
        asyncio.run({"start": start, "approve": approve}[sys.argv[1]](sys.argv[2]))
    else:
        with tempfile.TemporaryDirectory() as data:
            for command in ("start", "approve"):
                subprocess.run([sys.executable, __file__, command, data], check=True)
