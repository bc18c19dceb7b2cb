"""A child process of the run tests: ``_child.py DATA_DIR CONFIG_JSON INPUT``: runs the
script agent on INPUT in a kernel on DATA_DIR and prints the run's status and id."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from llmspell import Kernel  # noqa: E402
from tests.runs.agents import script  # noqa: E402


async def main(data: str, config: str, text: str) -> None:
    async with Kernel(json.loads(config), data_dir=data, env={}) as kernel:
        out = await kernel.run(script(kernel), text)
        print(json.dumps({"status": out.status, "run_id": out.run_id}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
