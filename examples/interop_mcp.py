"""MCP on llmspell; needs pip install "llmspell[mcp]".

An agent uses the tools of an MCP server, here llmspell itself.

The configuration names one MCP server: ``llmspell mcp serve --tool calculator`` (any
MCP server works the same way). Its tools become llmspell tools; the agent below calls
one through the usual tool hooks. The offline model is scripted to call it.

    python examples/interop_mcp.py
"""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path

from llmspell import Kernel
from llmspell.errors import MissingExtraError
from llmspell.plugins.agents.api import ToolCall


async def main(data_dir: str) -> None:
    served = shutil.which("llmspell", path=str(Path(sys.executable).parent)) or "llmspell"
    config = {"mcp": {"servers": {"calc": {
        "command": served, "args": ["--data-dir", f"{data_dir}/served", "mcp", "serve", "--tool", "calculator"],
    }}}}
    async with Kernel(config, data_dir=data_dir) as kernel:
        kernel.hooks.register("tool_before", lambda call: print(f"calling {call.component.name} {call.request}"))
        kernel.agents.provider().script(ToolCall("calc_calculator", {"expression": "2 ** 10"}), "2^10 is 1024.")
        agent = kernel.agents.builder("tool", "math").tools("calc_calculator").build()
        output = await kernel.run(agent, "what is 2 to the 10th?")
        print("agent:", output.content)


if __name__ == "__main__":
    if importlib.util.find_spec("mcp") is None:  # the MCP client comes with the extra
        sys.exit(str(MissingExtraError("this example", "mcp", "mcp")))
    if len(sys.argv) > 1:
        asyncio.run(main(sys.argv[1]))
    else:  # a temporary data directory, removed at the end
        with tempfile.TemporaryDirectory(prefix="llmspell-mcp-") as tmp:
            asyncio.run(main(tmp))
