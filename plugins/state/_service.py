"""The state service behind ``kernel.state``: scopes, batches, whole-owner operations, migrations.

:class:`StateManager` is the public face. It owns a :class:`~.store.StateStore` (the
backends, policies, schemas and watches, and what happens around every read and write)
and the parts built on it, and hands its methods to them: one owner's keys are a
:class:`~llmspell.plugins.state._scope.Scope`, all-or-nothing batches a
:class:`~.batch.BatchWriter`, whole-owner operations (copy, delete, export, import,
rebuild) a :class:`~.bulk.Bulk`, migrating what is stored a :class:`~.migrations.Migrator`
and agents' saved state :class:`~.agents.AgentSnapshots`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from llmspell.plugins.events.api import Event
from llmspell.plugins.state.api import (
    SCOPES,
    KeyWrite,
    StateChange,
    StateItem,
    check_owner,
    check_scope,
)
from llmspell.plugins.state.backend import StateBackend

from ._agents import AgentSnapshots
from ._batch import BatchWriter
from ._bulk import Bulk
from ._codec import owner_prefix
from ._config import StateConfig
from ._memory import MemoryStateBackend
from ._migrations import MigrationReport, Migrator
from ._scope import Scope
from ._store import StateStore
from ._watch import StateWatch

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["StateManager"]


class StateManager:
    """The default :class:`~llmspell.plugins.state.api.StateService`."""

    def __init__(self, kernel: Kernel, config: StateConfig, backend: StateBackend) -> None:
        self.kernel = kernel
        self.config = config
        self.backend = backend
        self.store = StateStore(kernel, config, backend)
        self.policies = self.store.policies
        self.schemas = self.store.schemas
        self.watchers = self.store.watchers
        self.batch = BatchWriter(self.store)
        self.bulk = Bulk(self.store)
        self.migrator = Migrator(self.store)
        self.agent_state = AgentSnapshots(self.store, kernel.hook)

    @property
    def temp_backend(self) -> MemoryStateBackend:
        """This process's memory, where ``temp`` keys live."""
        return self.store.temp_backend

    # -- lifecycle -------------------------------------------------------------------

    async def close(self) -> None:
        """Forget this process's ``temp`` keys (the kernel closes the backend)."""
        self.store.temp_backend = MemoryStateBackend()

    # -- the public face -------------------------------------------------------------

    def scope(self, kind: str, owner: str | None = None) -> Scope:
        """The keys of ``owner`` in scope ``kind`` (``app`` defaults to ``[state] app``)."""
        check_scope(kind)
        if owner is None and kind == "app":
            owner = self.config.app
        return Scope(self.store, kind, check_owner(kind, owner))

    @asynccontextmanager
    async def temp(self, invocation_id: str) -> AsyncIterator[Scope]:
        """``async with kernel.state.temp(invocation_id) as tmp:``; dropped on exit."""
        try:
            yield self.scope("temp", invocation_id)
        finally:
            await self.drop_temp(invocation_id)

    async def drop_temp(self, invocation_id: str) -> int:
        """Forget every temp key of one invocation; returns how many there were."""
        owner = check_owner("temp", invocation_id)
        temp = self.store.temp_backend
        if not len(temp):  # most invocations write no temp key: nothing to look for
            return 0
        prefix = owner_prefix("temp", owner)
        records = await temp.scan(prefix, limit=2**31)
        for record in records:
            await temp.delete(record.key)
        return len(records)

    async def scan_owners(self, kind: str, owners: Iterable[str]) -> dict[str, list[StateItem]]:
        """Every key of each owner in ``kind`` with its value and version, in key order
        (what ``scope(kind, owner).scan()`` yields), read in one round trip where the
        backend allows: the sessions of a listing with their state."""
        check_scope(kind)
        checked = list(dict.fromkeys(check_owner(kind, owner) for owner in owners))
        return await self.store.owners_items(kind, checked)

    def set_policy(self, pattern: str, policy: str, *, scope: str | None = None) -> None:
        """Give keys matching ``pattern`` a conflict policy (``"merge:counter_add"`` ...)."""
        self.policies.set(pattern, policy, scope=scope, source="plugin")

    def watch(
        self, kind: str | None, owner: str | None, prefix: str, handler: Callable[[StateChange], Any]
    ) -> StateWatch:
        """Call ``handler(change)`` after writes to keys starting with ``prefix`` (``None``: any scope/owner)."""
        return self.store.watch(kind, owner, prefix, handler)

    async def write_many(
        self, writes: Sequence[KeyWrite], *, events: Sequence[Event] = (), outbox: list[Event] | None = None
    ) -> tuple[int | None, ...]:
        """Write every key of ``writes`` or none (see :mod:`.batch`); returns each key's new
        version (None: deleted). ``events`` are published with the batch's ``state.changed``
        events (one append), once it committed; with ``outbox`` they are added to it instead."""
        return await self.batch.write_many(writes, events, outbox)

    # -- whole owners (see .bulk) and migrations (see .migrations) ------------------------

    async def copy_owner(self, scope: str, source: str, target: str, *, overwrite: bool = False) -> int:
        """Copy every key of ``source`` to ``target`` in ``scope`` (a session fork); returns the count."""
        return await self.bulk.copy_owner(scope, source, target, overwrite=overwrite)

    async def delete_owner(self, scope: str, owner: str) -> int:
        """Delete every key of ``owner`` in ``scope`` (a session delete); returns the count."""
        return await self.bulk.delete_owner(scope, owner)

    async def export_owner(self, scope: str, owner: str) -> list[StateItem]:
        """Every key of ``owner`` with its value (migrated to the current schema) and version."""
        return await self.bulk.export_owner(scope, owner)

    async def import_owner(
        self,
        scope: str,
        owner: str,
        items: Iterable[StateItem | Mapping[str, Any]],
        *,
        replace: bool = True,
        quiet: bool = False,
    ) -> int:
        """Write ``items`` (from :meth:`export_owner`) to ``owner``, keeping their versions."""
        return await self.bulk.import_owner(scope, owner, items, replace=replace, quiet=quiet)

    async def rebuild(
        self, scope: str, owner: str, changes: Iterable[StateChange | Mapping[str, Any]]
    ) -> int:
        """Replay ``state.changed`` payloads (oldest first) and make ``owner`` hold the result."""
        return await self.bulk.rebuild(scope, owner, changes)

    async def migrate(
        self,
        *,
        dry_run: bool = False,
        scope: str | None = None,
        owner: str | None = None,
        on_progress: Callable[[int, int], Any] | None = None,
    ) -> MigrationReport:
        """Bring every stored record (of ``scope`` and ``owner``, or all) to its current version."""
        return await self.migrator.migrate(dry_run=dry_run, scope=scope, owner=owner, on_progress=on_progress)

    @staticmethod
    def scopes() -> Sequence[str]:
        return SCOPES

    def __repr__(self) -> str:
        return f"<StateManager backend={self.backend.name!r}>"
