"""A separate OS process running a real LangGraph graph on the llmspell checkpointer.

Usage: ``python _graph_worker.py MODE DATA_DIR THREAD_ID``

* ``start``: runs the graph on a new thread until it interrupts for review, prints the
  interrupt as JSON and ends the process at once (``os._exit``: no clean shutdown, as
  if it crashed);
* ``resume``: loads the thread, checks it waits for review, resumes it with "yes" and
  prints the final state as JSON.
"""

from __future__ import annotations

import asyncio
import json
import operator
import os
import sys
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Command, interrupt

from llmspell import Kernel
from llmspell.contrib.langgraph import LlmspellSaver


class Draft(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    notes: Annotated[list[str], operator.add]
    approved: bool


def draft(state: Draft) -> dict[str, Any]:
    asked = state["messages"][-1].content
    return {"messages": [AIMessage(f"draft: {asked}")], "notes": ["drafted"]}


def review(state: Draft) -> dict[str, Any]:
    answer = interrupt({"question": "approve?", "draft": state["messages"][-1].content})
    return {"approved": answer == "yes", "notes": [f"reviewed:{answer}"]}


def publish(state: Draft) -> dict[str, Any]:
    return {"notes": ["published" if state["approved"] else "discarded"]}


def build(saver: LlmspellSaver) -> Any:
    builder = StateGraph(Draft)
    builder.add_node("draft", draft)
    builder.add_node("review", review)
    builder.add_node("publish", publish)
    builder.add_edge(START, "draft")
    builder.add_edge("draft", "review")
    builder.add_edge("review", "publish")
    builder.add_edge("publish", END)
    return builder.compile(checkpointer=saver)


async def start(data_dir: str, thread_id: str) -> None:
    kernel = await Kernel(data_dir=data_dir).start()
    graph = build(LlmspellSaver(kernel, user_id="u1"))
    config = {"configurable": {"thread_id": thread_id}}
    result = await graph.ainvoke({"messages": [HumanMessage("hello")]}, config)
    state = await graph.aget_state(config)
    print(json.dumps({"interrupt": result["__interrupt__"][0].value, "next": list(state.next), "pid": os.getpid()}))
    sys.stdout.flush()
    os._exit(0)  # no shutdown: the next process must recover the thread


async def resume(data_dir: str, thread_id: str) -> None:
    async with Kernel(data_dir=data_dir) as kernel:
        graph = build(LlmspellSaver(kernel))
        config = {"configurable": {"thread_id": thread_id}}
        waiting = await graph.aget_state(config)
        result = await graph.ainvoke(Command(resume="yes"), config)
        history = [s async for s in graph.aget_state_history(config)]
        print(json.dumps({
            "waiting_for": list(waiting.next),
            "notes": result["notes"],
            "messages": [[type(m).__name__, m.content] for m in result["messages"]],
            "approved": result["approved"],
            "checkpoints": len(history),
            "pid": os.getpid(),
        }))


if __name__ == "__main__":
    mode, data_dir, thread_id = sys.argv[1:4]
    asyncio.run({"start": start, "resume": resume}[mode](data_dir, thread_id))
