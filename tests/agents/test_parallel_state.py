"""Parallel composition merges its branches' state deltas through the state service's policies.

Three branches write the same keys concurrently; afterwards every policy shows its rule:
``merge:<reducer>`` combines all writes, ``last_write_wins`` keeps the last branch's value,
``reject`` refuses the second writer with a ConflictError.
"""

from __future__ import annotations

import pytest
import pytest_asyncio

from llmspell.errors import ConflictError
from llmspell.plugins.agents.api import DELETE
from llmspell.plugins.state.api import StateService

from .agent_helpers import EchoPlugin, Writer

POLICIES = {
    "votes": "merge:counter_add",
    "tags": "merge:set_union",
    "log": "merge:list_append",
    "best": "merge:max",
    "winner": "last_write_wins",
    "owner": "reject",
}


@pytest_asyncio.fixture
async def kernel(make_kernel):
    async with make_kernel({"state": {"policies": POLICIES}}, plugins=[EchoPlugin()]) as k:
        yield k


def branches(kernel, writes):
    names = []
    for i, w in enumerate(writes):
        name = f"branch{i}"
        # later branches finish first: the merge order is the declared one, not completion order
        kernel.agents.create(Writer, name=name, writes=w, delay=0.02 * (len(writes) - i))
        names.append(name)
    return kernel.agents.create("parallel", name="fan-out", agents=names)


async def test_merge_reducers_combine_every_branch(kernel):
    app = kernel.state.scope("app")
    await app.set("votes", 10)
    par = branches(kernel, [
        {"app:votes": 1, "app:tags": ["a", "b"], "app:log": "one", "app:best": 3},
        {"app:votes": 2, "app:tags": ["b", "c"], "app:log": "two", "app:best": 9},
        {"app:votes": 3, "app:tags": ["c", "d"], "app:log": "three", "app:best": 5},
    ])
    out = await kernel.run(par, "go")
    assert out.data["merged_keys"] == ["app:best", "app:log", "app:tags", "app:votes"]
    assert await app.get("votes") == 16
    assert await app.get("tags") == ["a", "b", "c", "d"]
    assert await app.get("log") == ["one", "two", "three"]
    assert await app.get("best") == 9


async def test_last_write_wins_keeps_the_last_declared_branch(kernel):
    par = branches(kernel, [{"app:winner": "first"}, {"app:winner": "second"}, {"app:winner": "third"}])
    await kernel.run(par, "go")
    item = await kernel.state.scope("app").get_versioned("winner")
    assert item.value == "third" and item.version == 3


async def test_reject_refuses_the_second_writer(kernel):
    app = kernel.state.scope("app")
    await app.set("owner", "nobody")
    par = branches(kernel, [{"app:owner": "alice"}, {"app:owner": "bob"}])
    with pytest.raises(ConflictError) as info:
        await kernel.run(par, "go")
    assert info.value.key.endswith("owner")
    assert await app.get("owner") == "alice"  # the first branch's write stands, the second was refused


async def test_agent_and_temp_scopes_and_delete(kernel):
    writer = kernel.agents.create(Writer, name="w", writes={"agent:count": 1, "temp:scratch": "x", "app:gone": DELETE})
    await kernel.state.scope("app").set("gone", "here")
    await kernel.run(writer, "go")
    assert await kernel.state.scope("agent", "w").get("count") == 1
    assert await kernel.state.scope("app").get("gone") is None


async def test_temp_state_lives_for_one_invocation(kernel):
    from .agent_helpers import Writer

    kernel.agents.create(Writer, name="first", writes={"temp:draft": "v1"})
    seen = []

    class Reader(Writer):
        async def execute(self, request, ctx):
            seen.append(await ctx.service(StateService).scope("temp", ctx.data["llmspell.temp_owner"]).get("draft"))
            return await super().execute(request, ctx)

    kernel.agents.create(Reader, name="second")
    pipeline = kernel.agents.create("sequential", name="pipe", agents=["first", "second"])
    ctx = await kernel.context()
    await kernel.run(pipeline, "go", ctx=ctx)
    assert seen == ["v1"]  # shared by every agent of the invocation
    assert await kernel.state.scope("temp", ctx.invocation_id).list() == []  # and gone after it
