"""Contract tests of migrations, hooks, events, temp scopes, whole-owner operations, agents."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
import pytest

from llmspell import hookimpl
from llmspell.errors import CancelledByHook, ConflictError, MigrationError, SchemaVersionError
from llmspell.hooks import Cancel, HookCall
from llmspell.plugins.state.api import StateChange

if TYPE_CHECKING:
    from llmspell import Kernel


def _envelope(value: Any, schema_version: int) -> bytes:
    """A record as older (or newer) code would have stored it."""
    return orjson.dumps({"schema_version": schema_version, "value": value})


class _Counter:
    """A small stateful agent."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.turns = 0

    def snapshot_state(self) -> dict[str, Any]:
        return {"turns": self.turns}

    def restore_state(self, state: dict[str, Any]) -> None:
        self.turns = state["turns"]


class _AgentHooks:
    def __init__(self) -> None:
        self.restored: list[Any] = []

    @hookimpl
    def llmspell_agent_state_snapshot(self, agent: Any) -> dict[str, Any]:
        return {"extra": f"from-hook:{agent.name}"}

    @hookimpl
    def llmspell_agent_state_restore(self, agent: Any, state: Any) -> None:
        self.restored.append(dict(state))


class LifecycleTests:
    """Mixed into :class:`~llmspell.contrib.testing.contracts.state.StateContract`."""

    async def test_migration_chain_on_read(self, kernel: Kernel, owner: str) -> None:
        """A record stored at an older schema version is migrated step by step on read, written back
        at the current version (its record version + 1); new writes carry the current schema
        version."""
        from . import MIGRATED_NS

        s = kernel.state.scope("user", owner)
        full = f"user/{owner}/{MIGRATED_NS}.main"
        await kernel.state.backend.compare_and_set(
            full, _envelope({"username": "ada", "tags": ["b", "a"]}, 1)
        )
        item = await s.get_versioned(f"{MIGRATED_NS}.main")
        assert item is not None
        assert item.value == {"name": "ada", "tags": ["a", "b"]} and item.schema_version == 3
        stored = await kernel.state.backend.get(full)
        assert stored is not None
        assert orjson.loads(stored.data)["schema_version"] == 3 and stored.version == 2
        await s.set(f"{MIGRATED_NS}.fresh", {"name": "new", "tags": []})
        fresh = await s.get_versioned(f"{MIGRATED_NS}.fresh")
        assert fresh is not None and fresh.schema_version == 3

    async def test_failing_migration_leaves_record_intact(self, kernel: Kernel, owner: str) -> None:
        """A migration step that raises gives MigrationError (saying the record is unchanged) and
        leaves the stored record as it was; a record newer than the code raises SchemaVersionError
        naming its version."""
        from . import FAILING_NS, MIGRATED_NS

        s = kernel.state.scope("user", owner)
        full = f"user/{owner}/{FAILING_NS}"
        await kernel.state.backend.compare_and_set(full, _envelope({"v": 1}, 1))
        before = await kernel.state.backend.get(full)
        with pytest.raises(MigrationError) as info:
            await s.get(FAILING_NS)
        assert "always fails" in str(info.value) and "unchanged" in str(info.value)
        assert await kernel.state.backend.get(full) == before
        newer = f"user/{owner}/{MIGRATED_NS}.future"
        await kernel.state.backend.compare_and_set(newer, _envelope({}, 4))
        with pytest.raises(SchemaVersionError) as newer_info:
            await s.get(f"{MIGRATED_NS}.future")
        assert "version 4" in str(newer_info.value)

    async def test_batch_migration_and_dry_run(self, kernel: Kernel, owner: str) -> None:
        """migrate(dry_run=True) counts what would change and writes nothing; migrate() rewrites
        behind records, reports failures and progress, and a second run finds nothing to do."""
        from . import FAILING_NS, MIGRATED_NS

        backend = kernel.state.backend
        for i in range(3):
            await backend.compare_and_set(
                f"session/{owner}/{MIGRATED_NS}.{i}", _envelope({"username": f"u{i}"}, 1)
            )
        await backend.compare_and_set(f"session/{owner}/{FAILING_NS}", _envelope({}, 1))
        await kernel.state.scope("session", owner).set("plain", 1)
        dry = await kernel.state.migrate(dry_run=True, scope="session", owner=owner)
        assert (dry.scanned, dry.migrated, dry.current, len(dry.failed)) == (5, 3, 1, 1)
        untouched = await backend.get(f"session/{owner}/{MIGRATED_NS}.0")
        assert untouched is not None and orjson.loads(untouched.data)["schema_version"] == 1
        seen = []
        real = await kernel.state.migrate(
            scope="session", owner=owner, on_progress=lambda d, t: seen.append((d, t))
        )
        assert (real.migrated, len(real.failed)) == (3, 1) and seen[-1] == (5, 5)
        assert real.failed[0][0].endswith(FAILING_NS)
        record = await backend.get(f"session/{owner}/{MIGRATED_NS}.0")
        assert record is not None
        assert orjson.loads(record.data) == {"schema_version": 3, "value": {"name": "u0", "tags": []}}
        again = await kernel.state.migrate(scope="session", owner=owner)
        assert (again.migrated, again.current) == (0, 4)

    async def test_old_record_from_old_code_after_reopen(
        self, make_state_kernel: Callable[..., Kernel], backend: Any, owner: str
    ) -> None:
        """A persistent backend, closed and opened again, still holds a record written before (by
        older code), and the service migrates it on read. Skipped when persistent is false."""
        from . import MIGRATED_NS, reopen

        if not backend.persistent:
            pytest.skip("the backend's persistent is false: nothing outlives close()")
        full = f"app/{owner}/{MIGRATED_NS}"
        await backend.compare_and_set(full, _envelope({"username": "old"}, 1))
        await reopen(backend)
        async with make_state_kernel() as kernel:
            assert await kernel.state.scope("app", owner).get(MIGRATED_NS) == {"name": "old", "tags": []}

    async def test_hooks_change_cancel_and_observe(self, kernel: Kernel, owner: str) -> None:
        """A state_before_write hook may change the value or cancel the write (CancelledByHook,
        nothing written); state_written sees every write and delete with old and new versions."""
        seen: list[StateChange] = []

        def redact(call: HookCall) -> Any:
            if call.request.key == "secret":
                call.request.value = "***"
            if call.request.key == "forbidden":
                return Cancel("not allowed")
            return None

        kernel.hooks.register("state_before_write", redact)
        kernel.callbacks.on("state_written", lambda call: seen.append(call.args["change"]))
        s = kernel.state.scope("user", owner)
        await s.set("secret", "hunter2")
        assert await s.get("secret") == "***"
        with pytest.raises(CancelledByHook):
            await s.set("forbidden", 1)
        assert await s.get_versioned("forbidden") is None
        await s.delete("secret")
        assert [(c.key, c.old_version, c.new_version, c.value, c.deleted) for c in seen] == [
            ("secret", None, 1, "***", False),
            ("secret", 1, None, None, True),
        ]

    async def test_events_and_watch(self, make_state_kernel: Callable[..., Kernel], owner: str) -> None:
        """Each write and delete publishes one state.changed event (in the session's stream for the
        session scope, none for user scope), temp scopes publish nothing, and a watch sees only its
        prefix until closed."""
        from . import published

        async with make_state_kernel(events=True) as kernel:
            watched: list[StateChange] = []
            s = kernel.state.scope("session", owner)
            watch = s.watch("cart.", watched.append)
            await s.set("cart.a", {"n": 1})
            await s.set("other", 1)
            await s.delete("cart.a")
            async with kernel.state.temp("inv-1") as tmp:
                await tmp.set("scratch", 1)
            await kernel.events.flush()
            watch.close()
            await s.set("cart.b", 2)
            changes = [e for e in await published(kernel) if e.type == "state.changed"]
            assert [(e.payload["key"], e.session_id) for e in changes] == [
                ("cart.a", owner),
                ("other", owner),
                ("cart.a", owner),
                ("cart.b", owner),
            ]
            first = changes[0].payload
            assert {
                k: first[k]
                for k in ("scope", "owner", "key", "old_version", "new_version", "value", "deleted")
            } == {
                "scope": "session",
                "owner": owner,
                "key": "cart.a",
                "old_version": None,
                "new_version": 1,
                "value": {"n": 1},
                "deleted": False,
            }
            assert changes[2].payload["deleted"] is True and changes[2].payload["old_version"] == 1
            assert [(c.key, c.deleted) for c in watched] == [("cart.a", False), ("cart.a", True)]
            await kernel.state.scope("user", owner).set("u", 1)
            last = [e for e in await published(kernel) if e.type == "state.changed"][-1]
            assert (last.payload["scope"], last.session_id) == ("user", None)

    async def test_watch_without_event_service(self, kernel: Kernel, owner: str) -> None:
        """Without an event service, watch still calls the handler (also an async one) for the
        watched owner only, until closed."""
        got: list[StateChange] = []

        async def handler(change: StateChange) -> None:
            got.append(change)

        with kernel.state.scope("agent", owner).watch("", handler):
            await kernel.state.scope("agent", owner).set("a", 1)
            await kernel.state.scope("agent", owner + "x").set("a", 1)
        await kernel.state.scope("agent", owner).set("b", 1)
        assert [(c.owner, c.key, c.new_version) for c in got] == [(owner, "a", 1)]

    async def test_temp_scope_is_never_persisted(self, kernel: Kernel, owner: str) -> None:
        """The temp scope never reaches the backend; drop_temp and leaving temp() forget its keys."""
        tmp = kernel.state.scope("temp", owner)
        await tmp.set("draft", {"x": 1})
        assert await tmp.update("n", lambda n: (n or 0) + 1)
        assert await tmp.list() == ["draft", "n"]
        assert await kernel.state.backend.scan("temp/") == []
        assert await kernel.state.drop_temp(owner) == 2
        assert await tmp.get("draft") is None
        async with kernel.state.temp(owner) as scoped:
            await scoped.set("k", 1)
        assert await kernel.state.scope("temp", owner).list() == []

    async def test_copy_export_import_delete_owner(self, kernel: Kernel, owner: str) -> None:
        """copy_owner copies values and versions (a second copy onto existing keys raises
        ConflictError); import_owner restores an export exactly (dropping later keys); delete_owner
        removes one owner only."""
        state = kernel.state
        parent, child = state.scope("session", owner), state.scope("session", owner + "-fork")
        await parent.set("a", 1)
        await parent.set("a", 2)
        await parent.set("b", {"x": [1]})
        assert await state.copy_owner("session", owner, owner + "-fork") == 2
        assert [(i.key, i.value, i.version) async for i in child.scan()] == [
            ("a", 2, 2),
            ("b", {"x": [1]}, 1),
        ]
        with pytest.raises(ConflictError):
            await state.copy_owner("session", owner, owner + "-fork")
        exported = await state.export_owner("session", owner)
        await parent.set("c", 3)
        assert await state.import_owner("session", owner, exported) == 2
        assert [(i.key, i.version) async for i in parent.scan()] == [("a", 2), ("b", 1)]
        assert await state.delete_owner("session", owner) == 2
        assert await parent.list() == [] and await child.list() == ["a", "b"]

    async def test_rebuild_from_change_events(self, make_state_kernel: Callable[..., Kernel], owner: str) -> None:
        """rebuild(scope, owner, state.changed payloads) restores values and versions exactly, and
        publishes nothing."""
        from . import published

        async with make_state_kernel(events=True) as kernel:
            s = kernel.state.scope("session", owner)
            await s.set("a", 1)
            await s.update("a", lambda n: n + 1)
            await s.set("b", [1])
            await s.set("gone", True)
            await s.delete("gone")
            payloads = [e.payload async for e in kernel.events.read(owner) if e.type == "state.changed"]
            assert len(payloads) == 5  # the session's stream in the log holds every change
            expected = [(i.key, i.value, i.version) async for i in s.scan()]
            await kernel.state.delete_owner("session", owner)
            count = len(await published(kernel))
            assert await kernel.state.rebuild("session", owner, payloads) == 2
            assert [(i.key, i.value, i.version) async for i in s.scan()] == expected
            assert len(await published(kernel)) == count  # rebuilding emits nothing

    async def test_agent_state_saved_and_restored(self, make_state_kernel: Callable[..., Kernel], backend: Any, owner: str) -> None:
        """Agent state is restored at initialize, saved after each turn and at shutdown (an
        unchanged snapshot is not written again), with hook extras; a persistent backend, reopened,
        gives it to a new kernel."""
        hooks = _AgentHooks()
        async with make_state_kernel(plugins=(hooks,)) as kernel:
            ctx = await kernel.context()
            agent = _Counter(owner)
            await kernel.hook.agent_initialize(agent=agent, ctx=ctx)
            assert agent.turns == 0 and hooks.restored == []
            agent.turns = 2
            await kernel.hook.agent_after(ctx=ctx, component=agent)
            agent.turns = 3
            await kernel.hook.agent_shutdown(agent=agent, ctx=ctx)
            saved = await kernel.state.scope("agent", owner).get_versioned("snapshot")
            assert saved is not None
            assert saved.value == {"turns": 3, "extra": f"from-hook:{owner}"} and saved.version == 2
            await kernel.hook.agent_shutdown(agent=agent, ctx=ctx)  # unchanged: no write
            unchanged = await kernel.state.scope("agent", owner).get_versioned("snapshot")
            assert unchanged is not None and unchanged.version == 2
            again = _Counter(owner)
            await kernel.hook.agent_initialize(agent=again, ctx=await kernel.context())
            assert again.turns == 3 and hooks.restored[-1]["turns"] == 3
        if backend.persistent:  # reopened, in a new kernel (as a new process would), the same agent state
            from . import reopen

            await reopen(backend)
            async with make_state_kernel() as kernel:
                third = _Counter(owner)
                await kernel.hook.agent_initialize(agent=third, ctx=await kernel.context())
                assert third.turns == 3, "rule: a persistent backend keeps agent state across a reopen"
