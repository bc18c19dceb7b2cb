"""A research agent: plan -> gather through tools -> synthesize -> a Markdown report artifact.

The offline ``notes`` tool searches a small knowledge base kept in the app state; swap in
any tool (or the OpenAI-compatible provider) without changing the agent. Run it with
``python examples/agents_research.py [DATA_DIR]``.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile

from llmspell import Kernel

NOTES = {
    "microkernel": "A microkernel keeps the core small and moves every capability into plugins.",
    "pluggy": "pluggy is the hook library behind pytest; llmspell's hook contract is built on it.",
    "diskcache": "diskcache is an SQLite-backed store; llmspell uses it without pickle as its embedded default.",
}


async def main(data_dir: str) -> None:
    async with Kernel(data_dir=data_dir) as kernel:
        app = kernel.state.scope("app")
        for title, text in NOTES.items():
            await app.set(f"notes/{title}", text)
        researcher = kernel.agents.create("research", name="researcher", max_questions=2)
        ctx = await kernel.context(user_id="ada")
        out = await kernel.run(researcher, "llmspell plugins and storage", ctx=ctx)
        print("plan:")
        for question in out.data["plan"]:
            print(f"  - {question}")
        print(f"answer: {out.content}")
        (ref,) = out.saved
        report = (await kernel.artifacts.load(ref, ctx=ctx)).decode()
        print(f"report saved as {ref} ({len(report)} bytes):")
        print("  " + "\n  ".join(report.splitlines()[:6]))
        print(f"list it with: llmspell --data-dir {data_dir} artifacts ls --user ada")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        asyncio.run(main(sys.argv[1]))
    else:  # a temporary data directory, removed at the end
        with tempfile.TemporaryDirectory(prefix="llmspell-research-") as tmp:
            asyncio.run(main(tmp))
        print("(the data directory was temporary and is removed: pass one to keep the data)")
