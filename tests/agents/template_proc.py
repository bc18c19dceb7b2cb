"""One kernel process of the template persistence tests: ``python template_proc.py DATA STEP ARGS_JSON``.

Prints one JSON line with what the step saw, for the test in the parent process to check.
"""

from __future__ import annotations

import asyncio
import json
import sys

from llmspell import Kernel


async def session(kernel, session_id):
    from agent_helpers import new_session

    return session_id or await new_session(kernel)


async def main(data_dir: str, step: str, args: dict) -> dict:
    async with Kernel({"plugins": {"autoload": False}}, data_dir=data_dir, env={}) as kernel:
        sid = await session(kernel, args.get("session"))
        if step == "chat":
            agent = kernel.agents.create("chat", name="helper")
            out = await kernel.run(agent, args["say"], session=sid)
            return {"session": sid, "content": out.content, "history": out.data["history"]}
        if step == "chat-no-session":
            agent = kernel.agents.create("chat", name="solo")
            out = await kernel.run(agent, args["say"])
            return {"content": out.content, "history": out.data["history"]}
        if step == "research":
            notes = kernel.state.scope("app")
            await notes.set("notes/microkernel", "A microkernel keeps the core small; llmspell puts every capability in plugins.")
            await notes.set("notes/pluggy", "pluggy is the hook library of pytest; llmspell uses it for its hook contract.")
            agent = kernel.agents.create("research", name="researcher")
            out = await kernel.run(agent, "llmspell plugins", session=sid)
            return {"session": sid, "content": out.content, "saved": [str(r) for r in out.saved], "plan": out.data["plan"]}
        if step == "code":
            agent = kernel.agents.create("code", name="coder", check_commands=args.get("checks", []))
            out = await kernel.run(agent, "write a function that title-cases text", session=sid)
            return {"session": sid, "content": out.content, "saved": [str(r) for r in out.saved], "data": out.data}
        if step == "tool":
            agent = kernel.agents.create("tool", name="keeper", tools=["state_get", "state_set"])
            out = await kernel.run(agent, args["say"], session=sid)
            return {"session": sid, "content": out.content}
        if step == "load":
            data = await kernel.artifacts.load(args["ref"])
            topic = await kernel.state.scope("session", sid).get("research/last_topic")
            return {"text": data.decode(), "topic": topic}
        raise SystemExit(f"unknown step {step}")


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3])))))
