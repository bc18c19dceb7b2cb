"""Durable state in a few lines: scopes, versions, compare-and-set, update, policies.

Run it twice: the visit counter and the user's theme survive between runs, because the
default backend keeps them in ``./.llmspell/state`` (pass another data directory as the
first argument).

    python examples/state_basics.py [DATA_DIR]
"""

from __future__ import annotations

import asyncio
import sys

import attrs

from llmspell import ConflictError, Kernel


@attrs.frozen
class Profile:
    name: str
    languages: tuple[str, ...] = ()


async def main(data_dir: str) -> None:
    config = {"state": {"policies": {"tags": "merge:set_union"}}}
    async with Kernel(config, data_dir=data_dir) as kernel:
        prefs = kernel.state.scope("user", "u1")

        # Every key has a version; update() is a compare-and-set with retries.
        visits = await prefs.update("visits", lambda n: (n or 0) + 1)
        print(f"visit number {visits.value} (version {visits.version})")

        # A compare-and-set that loses a race gets the current version and value.
        item = await prefs.get_versioned("theme")
        version = await prefs.set("theme", {"dark": True}, expected_version=item.version if item else 0)
        try:
            await prefs.set("theme", {"dark": False}, expected_version=version - 1)
        except ConflictError as exc:
            print(f"conflict: {exc} (current value {exc.current_value})")

        # attrs values go through the one converter, both ways.
        await prefs.set("profile", Profile("Ada", ("en", "fr")))
        profile = await prefs.get("profile", cls=Profile)
        print(f"profile: {profile}")

        # A merge policy from the config: concurrent writers all contribute.
        await prefs.set("tags", ["python"])
        await prefs.set("tags", ["agents", "python"])
        print(f"tags: {await prefs.get('tags')}")

        # Watch a prefix; scopes are isolated by owner. Watches ride on the event bus,
        # so delivery is asynchronous: flush() waits until it has happened.
        changes = []
        with prefs.watch("draft.", changes.append):
            await prefs.set("draft.title", "Notes")
            await kernel.state.scope("user", "u2").set("draft.title", "someone else's")
            await kernel.events.flush()
        print(f"watched: {[(c.key, c.new_version) for c in changes]}")

        # A temp scope lives for one invocation and is never stored.
        async with kernel.state.temp("invocation-1") as scratch:
            await scratch.set("partial", [1, 2, 3])
            print(f"temp keys during the invocation: {await scratch.list()}")

        print(f"keys of user u1: {await prefs.list()}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else ".llmspell"))
