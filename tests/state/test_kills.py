"""An agent's state delta and ``copy_owner`` are all or nothing under SIGKILL, on every
persistent state backend: after every kill another process sees all of the keys
written or none of them (see :mod:`tests._kills`)."""

from __future__ import annotations

from typing import Any

import pytest

from tests._kills import backend_config, kill_points, run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
__all__ = ["backend_config"]  # the fixture, used by name

KEYS = 2000  # four scan pages


async def generations(kernel: Any, scope: str, owner: str) -> dict[str, int]:
    """How many keys of ``owner`` hold each ``gen`` value."""
    counts: dict[str, int] = {}
    for item in await kernel.state.export_owner(scope, owner):
        counts[item.value["gen"]] = counts.get(item.value["gen"], 0) + 1
    return counts


async def test_agent_delta_killed_anywhere_is_written_whole_or_not_at_all(
    make_kernel, backend_config, llmspell_env, tmp_path
):
    data = tmp_path / "data"
    old = [{"key": f"k{i:05d}", "value": {"i": i, "gen": "old"}, "version": 1} for i in range(KEYS)]
    async with make_kernel(backend_config, data_dir=data) as kernel:
        duration = run(data, backend_config, llmspell_env, "delta", str(KEYS), None)
        assert duration is not None
        assert await generations(kernel, "agent", "writer") == {"new": KEYS}
        seen = set()
        for delay in kill_points(duration, lambda: seen == {"old", "new"}):
            await kernel.state.import_owner("agent", "writer", old)
            run(data, backend_config, llmspell_env, "delta", str(KEYS), delay)
            found = await generations(kernel, "agent", "writer")
            assert found in ({"old": KEYS}, {"new": KEYS}), f"a killed delta left {found}"
            seen.add(next(iter(found)))
        assert seen == {"old", "new"}, (
            "the kills missed one side of the delta; the kill points do not cover it"
        )


async def test_copy_owner_killed_anywhere_copies_whole_or_nothing(
    make_kernel, backend_config, llmspell_env, tmp_path
):
    data = tmp_path / "data"
    async with make_kernel(backend_config, data_dir=data) as kernel:
        await kernel.state.import_owner(
            "user",
            "source",
            [{"key": f"k{i:05d}", "value": {"i": i, "gen": "src"}, "version": 1} for i in range(KEYS)],
        )
        duration = run(data, backend_config, llmspell_env, "copy", "user/source/target-0", None)
        assert duration is not None
        assert await generations(kernel, "user", "target-0") == {"src": KEYS}
        seen = set()
        for number, delay in enumerate(kill_points(duration, lambda: seen == {False, True}), 1):
            target = f"target-{number}"
            run(data, backend_config, llmspell_env, "copy", f"user/source/{target}", delay)
            found = await generations(kernel, "user", target)
            assert found in ({}, {"src": KEYS}), f"a killed copy left {found}"
            seen.add(bool(found))
        assert seen == {False, True}, "the kills missed one side of the copy; the kill points do not cover it"
