"""Schema versions and migrations, and an agent that remembers between runs.

A plugin declares that namespace ``profile`` is at version 3 and registers the steps
1 -> 2 -> 3. A record written by "version 1" code is migrated when it is read (and written
back). The agent's ``turns`` survive between runs through the agent lifecycle hooks.

    python examples/state_migrations.py [DATA_DIR]
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import orjson

from llmspell import Kernel, hookimpl


class ProfileSchema:
    """A plugin: the profile namespace's versions and migrations."""

    @hookimpl
    def llmspell_register_state_migrations(self, register: Any) -> None:
        register.schema("profile", 3)
        register("profile", 1, lambda v: {"name": v["username"]})  # renamed a field
        register("profile", 2, lambda v: {**v, "languages": []})  # added a field


class Helper:
    """An agent with state of its own (implements llmspell.plugins.agents.api.StatefulAgent)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.turns = 0

    def snapshot_state(self) -> dict[str, Any]:
        return {"turns": self.turns}

    def restore_state(self, state: dict[str, Any]) -> None:
        self.turns = state["turns"]


async def main(data_dir: str) -> None:
    async with Kernel(data_dir=data_dir, plugins=[ProfileSchema()]) as kernel:
        # Pretend version-1 code stored this record long ago.
        old = orjson.dumps({"schema_version": 1, "value": {"username": "ada"}})
        await kernel.state.backend.compare_and_set("user/u1/profile", old)
        item = await kernel.state.scope("user", "u1").get_versioned("profile")
        print(f"read as schema {item.schema_version}: {item.value}")

        # What the agents runtime does around a run: initialize, execute, agent_after.
        ctx = await kernel.context(user_id="u1")
        agent = Helper("helper")
        await kernel.hook.agent_initialize(agent=agent, ctx=ctx)
        agent.turns += 1
        await kernel.hook.agent_after(ctx=ctx, component=agent)
        print(f"the agent has run {agent.turns} time(s) in total")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else ".llmspell"))
