"""Execution contexts, service lookup, ids and the typed stash."""

from __future__ import annotations

import time

import pytest

from llmspell import ExecutionContext, Principal, ServiceNotAvailable, StashKey, hookimpl
from llmspell.errors import DuplicateNameError
from llmspell.ids import id_time_ms, new_id
from llmspell.plugins.state.api import StateService


def test_child_inherits_and_records_its_parent():
    parent = ExecutionContext(session_id="s1", user_id="u1", data={"a": 1})
    child = parent.child(data={"b": 2}, conversation_id="c")
    assert child.parent_invocation_id == parent.invocation_id
    assert child.invocation_id != parent.invocation_id
    assert (child.session_id, child.user_id, child.trace_id) == ("s1", "u1", parent.trace_id)
    assert child.data == {"a": 1, "b": 2} and parent.data == {"a": 1}
    assert child.depth == 1 and child.conversation_id == "c"


def test_deadline_only_shrinks():
    ctx = ExecutionContext().with_timeout(10)
    shorter = ctx.with_timeout(1)
    assert shorter.remaining() is not None and shorter.remaining() <= 1
    assert ctx.with_timeout(100).deadline == ctx.deadline


def test_acting_principal():
    assert ExecutionContext(user_id="u1").acting == Principal.user("u1")
    assert ExecutionContext().acting == Principal.anonymous()
    assert not ExecutionContext().acting.is_admin
    assert str(Principal.user("u2", "admin")) == "user:u2"


async def test_context_is_enriched_and_finds_services(make_kernel):
    class Enricher:
        @hookimpl
        async def llmspell_context_enrich(self, ctx, kernel):
            return {"tenant": "acme", "user": ctx.user_id}

    kernel = make_kernel(plugins=[Enricher()], disable=["state"])
    ctx = await kernel.context(user_id="u9", timeout=5)
    assert ctx.data == {"tenant": "acme", "user": "u9"}
    assert ctx.remaining() is not None
    with pytest.raises(ServiceNotAvailable, match="no loaded plugin provides the StateService service; the 'state' plugin"):
        ctx.service(StateService)
    with pytest.raises(ServiceNotAvailable, match="not bound to a kernel"):
        ExecutionContext().service(StateService)


async def test_an_enricher_registered_after_the_first_context_is_used(make_kernel):
    class Enricher:
        @hookimpl
        def llmspell_context_enrich(self, ctx, kernel):
            return {"tenant": "acme"}

    kernel = make_kernel(disable=["state"])
    assert (await kernel.context()).data == {}  # no enricher: the kernel remembers there is none
    enricher = Enricher()
    kernel.pm.register(enricher, name="late-enricher")
    assert (await kernel.context()).data == {"tenant": "acme"}
    kernel.pm.unregister(enricher)
    assert (await kernel.context()).data == {}


async def test_services_registered_by_a_plugin(make_kernel):
    class Provider:
        __name__ = "provider"

        @hookimpl
        def llmspell_register_services(self, kernel, register):
            register(dict, {"hello": "world"})

    class Again:
        __name__ = "again"

        @hookimpl
        def llmspell_register_services(self, kernel, register):
            register(dict, {})

    async with make_kernel(plugins=[Provider()]) as kernel:
        assert kernel.service(dict) == {"hello": "world"}
        assert kernel.services.owner(dict) == "provider"
        ctx = await kernel.context()
        assert ctx.service(dict)["hello"] == "world"
    with pytest.raises(DuplicateNameError, match="service 'dict' is registered twice: by provider and by again"):
        async with make_kernel(plugins=[Provider(), Again()]):
            pass


def test_ids_are_time_ordered_and_unique():
    before = int(time.time() * 1000)
    ids = [new_id() for _ in range(10_000)]
    after = int(time.time() * 1000)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert before <= id_time_ms(ids[0]) <= after  # the id carries the clock reading of its making
    assert ids[0][14] == "7"  # UUID version 7


def test_stash_is_typed_per_kernel(make_kernel):
    key: StashKey[list[int]] = StashKey("numbers")
    one, two = make_kernel(), make_kernel()
    one.stash[key] = [1]
    assert key not in two.stash
    assert two.stash.setdefault(key, [2]) == [2]
    assert one.stash[key] == [1]
