"""The main demo: start llmspell on the embedded defaults and show what is running."""

from __future__ import annotations

import asyncio
import sys
import tempfile

from llmspell import Kernel


async def main(data_dir: str) -> None:
    async with Kernel(data_dir=data_dir) as kernel:
        print(f"llmspell kernel on {kernel.data_dir}")
        for plugin in kernel.plugins:
            hooks = ", ".join(h.removeprefix("llmspell_") for h in plugin.hooks)
            print(f"  plugin {plugin.name:<10} ({plugin.source}): {hooks}")
        prefs = kernel.state.scope("user", "u1")
        version = await prefs.set("theme", {"dark": True})
        visits = await prefs.update("visits", lambda n: (n or 0) + 1)
        item = await prefs.get_versioned("theme")
        print(f"state: theme={item.value} (version {version}), visits={visits.value}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="llmspell-demo-")))
