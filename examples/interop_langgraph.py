"""LangGraph on llmspell; needs pip install "llmspell[langgraph]".

A graph that asks for approval, resumed by a later run.

Run it twice with the same data directory: the first run stops at the approval, the
second approves and finishes, from the checkpoint the first one stored.

    python examples/interop_langgraph.py /tmp/llmspell-langgraph
"""

from __future__ import annotations

import asyncio
import operator
import sys
import tempfile
from typing import Annotated, Any, TypedDict

from llmspell.errors import MissingExtraError

try:  # LangGraph comes with the extra; without it, say what to install
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import Command, interrupt
except ModuleNotFoundError:
    sys.exit(str(MissingExtraError("this example", "langgraph", "langgraph")))

from llmspell import Kernel
from llmspell.contrib.langgraph import LlmspellSaver


class Order(TypedDict, total=False):
    item: str
    log: Annotated[list[str], operator.add]


def approve(state: Order) -> dict[str, Any]:
    answer = interrupt(f"ship {state['item']}?")
    return {"log": [f"approved: {answer}"]}


def ship(state: Order) -> dict[str, Any]:
    return {"log": [f"shipped {state['item']}"]}


async def main(data_dir: str) -> None:
    async with Kernel(data_dir=data_dir) as kernel:
        builder = StateGraph(Order)
        builder.add_node("approve", approve)
        builder.add_node("ship", ship)
        builder.add_edge(START, "approve")
        builder.add_edge("approve", "ship")
        builder.add_edge("ship", END)
        graph = builder.compile(checkpointer=LlmspellSaver(kernel, user_id="ann"))
        config = {"configurable": {"thread_id": "order-1"}}

        waiting = await graph.aget_state(config)
        if not waiting.next:
            result = await graph.ainvoke({"item": "a teapot", "log": []}, config)
            print("waiting for:", result["__interrupt__"][0].value)
        else:
            result = await graph.ainvoke(Command(resume="yes"), config)
            print("log:", result["log"])

        # the thread is an llmspell session; every checkpoint is an event
        session = await kernel.sessions.get("order-1")
        checkpoints = await kernel.events.query("langgraph.checkpoint", stream="order-1")
        print(f"session {session.id} of {session.user_id} in app {session.app}: {len(checkpoints)} checkpoints")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        asyncio.run(main(sys.argv[1]))
    else:  # a temporary data directory, removed at the end
        with tempfile.TemporaryDirectory(prefix="llmspell-langgraph-") as tmp:
            asyncio.run(main(tmp))
