"""The records of one kernel's state, and what happens around reading and writing them.

A :class:`StateStore` holds the backends (the configured one, and this process's memory
for ``temp``), the policy table, the schema registry and the local watches. Every part of
the state service works through it: :class:`~.scope.Scope` (one owner's keys),
:class:`~.batch.BatchWriter`, :class:`~.bulk.Bulk`, :class:`~.migrations.Migrator` and
:class:`~.agents.AgentSnapshots`. Reading a record decodes it and migrates it when it is
behind (:meth:`~StateStore.load`); every successful write ends in
:meth:`~StateStore.changed`, which dispatches the ``state_written`` hook point and
publishes ``state.changed`` (both cost nothing when nobody listens).
"""

from __future__ import annotations

import asyncio
import logging
import random
import warnings
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any

from llmspell.errors import ConflictError, CorruptRecordWarning, IntegrityError, SchemaVersionError
from llmspell.plugins.events.api import Event, EventService, StateChanged
from llmspell.plugins.state.api import StateChange, StateItem, StateWrite, Versioned
from llmspell.plugins.state.backend import CasResult, Record, StateBackend

from ._codec import decode, encode, owner_prefix, to_json
from ._memory import MemoryStateBackend
from ._policies import PolicyTable
from ._schemas import Schemas
from ._watch import LocalWatchers, StateWatch, subscribe

if TYPE_CHECKING:
    from llmspell import Kernel

    from ._config import StateConfig

__all__ = ["StateStore"]

log = logging.getLogger("llmspell.state")

_UNSET = object()
_PAGE = 500
"""Records read per backend call when listing an owner's keys."""


class StateStore:
    """Backends, policies, schemas and watches of one state service (see the module docstring)."""

    def __init__(self, kernel: Kernel, config: StateConfig, backend: StateBackend) -> None:
        self.kernel = kernel
        self.config = config
        self.backend = backend
        self.temp_backend = MemoryStateBackend()
        self.policies = PolicyTable(kernel.registry("state_reducer"), config.default_policy)
        for pattern, spec in config.policies.items():
            self.policies.set(pattern, spec, source="config")
        self.schemas = Schemas(kernel.registry("state_schema"), kernel.registry("state_migration"))
        self.watchers = LocalWatchers()
        self._bus: Any = _UNSET  # the event service, found at the first write (services are fixed by then)

    def backend_for(self, kind: str) -> StateBackend:
        return self.temp_backend if kind == "temp" else self.backend

    def watch(
        self, kind: str | None, owner: str | None, prefix: str, handler: Callable[[StateChange], Any]
    ) -> StateWatch:
        """Call ``handler(change)`` after writes to keys starting with ``prefix`` (``None``: any scope/owner)."""
        events = self.kernel.services.find(EventService)
        return subscribe(self.watchers, events, kind, owner, prefix, handler)

    # -- reading -----------------------------------------------------------------------

    async def load(self, kind: str, owner: str, key: str, record: Record) -> Versioned:
        """Decode ``record``; migrate it (and write it back) when it is behind."""
        value, stored = decode(record.data, record.key)
        if stored == 1 and self.schemas.empty:
            return Versioned(value, record.version, 1)
        current = self.schemas.check(key, stored)
        if stored == current:
            return Versioned(value, record.version, stored)
        value, migrated = self.schemas.migrate(key, value, stored)
        if not self.config.migrate_on_read:
            return Versioned(value, record.version, migrated)
        return await self.write_back(kind, owner, key, record, value, migrated)

    async def write_back(
        self, kind: str, owner: str, key: str, record: Record, value: Any, version: int
    ) -> Versioned:
        data = encode(value, version, self.config.max_value_bytes)
        result = await self.backend_for(kind).compare_and_set(record.key, data, record.version)
        if not result.ok:  # someone wrote first: read theirs (migrating it if needed)
            if result.current is None:
                return Versioned(value, record.version, version)
            return await self.load(kind, owner, key, result.current)
        assert result.version is not None
        await self.changed(
            kind, owner, key, record.version, result.version, value, op="migrate", schema=version
        )
        return Versioned(value, result.version, version)

    async def items(
        self, kind: str, owner: str, prefix: str = "", *, decode_values: bool = True
    ) -> AsyncIterator[tuple[str, Record, StateItem | None]]:
        """Every record of ``owner`` whose key starts with ``prefix``, page by page."""
        backend = self.backend_for(kind)
        base = owner_prefix(kind, owner)
        full = base + prefix
        after: str | None = None
        scan_skipping = getattr(backend, "scan_skipping", None)
        while True:
            bad: list[tuple[str, str]] = []
            if scan_skipping is not None:
                page, bad = await scan_skipping(full, after=after, limit=500)
            else:
                page = await backend.scan(full, after=after, limit=500)
            for full_key, reason in bad:
                await self.skipped(full_key, reason)
            for record in page:
                key = record.key[len(base) :]
                item = None
                if decode_values:
                    try:
                        v = await self.load(kind, owner, key, record)
                    except (IntegrityError, SchemaVersionError) as exc:
                        await self.skipped(record.key, str(exc))
                        continue
                    item = StateItem(key, v.value, v.version, v.schema_version)
                yield key, record, item
            if len(page) + len(bad) < 500:
                return
            after = max([r.key for r in page] + [k for k, _ in bad])

    async def owners_items(self, kind: str, owners: Sequence[str]) -> dict[str, list[StateItem]]:
        """Every key of each of ``owners`` with its value, in key order: what ``items`` of
        each gives, read in one round trip where the backend has ``scan_prefixes``."""
        backend = self.backend_for(kind)
        scan_prefixes = getattr(backend, "scan_prefixes", None)
        out: dict[str, list[StateItem]] = {}
        if scan_prefixes is None or not owners:
            for owner in owners:
                out[owner] = [item async for _, _, item in self.items(kind, owner) if item is not None]
            return out
        bases = [owner_prefix(kind, owner) for owner in owners]
        pages = await scan_prefixes(bases)
        for owner, base, (page, bad) in zip(owners, bases, pages, strict=True):
            for full_key, reason in bad:
                await self.skipped(full_key, reason)
            found = out[owner] = []
            cut = len(base)
            for record in page:
                key = record.key[cut:]
                try:
                    if self.schemas.empty:  # nothing to migrate: decoded here, as load does
                        value, stored = decode(record.data, record.key)
                        if stored == 1:
                            found.append(StateItem(key, value, record.version, 1))
                            continue
                    v = await self.load(kind, owner, key, record)
                except (IntegrityError, SchemaVersionError) as exc:
                    await self.skipped(record.key, str(exc))
                    continue
                found.append(StateItem(key, v.value, v.version, v.schema_version))
        return out

    async def skipped(self, key: str, reason: str) -> None:
        """Report a record a listing skipped because it cannot be read (delete it by key):
        a :class:`~llmspell.errors.CorruptRecordWarning`, a log line and a
        ``state.record_skipped`` event."""
        warnings.warn(CorruptRecordWarning(f"the {self.backend.name} state store", key, reason), stacklevel=2)
        log.warning("skipped undecodable state record %r: %s", key, reason)
        await self.kernel.emit("state.record_skipped", {"key": key, "reason": reason}, source="state")

    # -- writing -----------------------------------------------------------------------

    def encode(self, key: str, value: Any) -> tuple[bytes, int]:
        """The stored bytes of JSON ``value`` for ``key`` at its current schema version."""
        schema = 1 if self.schemas.empty else self.schemas.current(key)
        return encode(value, schema, self.config.max_value_bytes), schema

    async def before_write(
        self, kind: str, owner: str, key: str, value: Any, op: str, expected: int | None
    ) -> Any:
        """Run ``state_before_write`` (if anything listens); returns the value to store."""
        point = self.kernel.hook.state_before_write
        if not point:
            return value
        call = await point(request=StateWrite(kind, owner, key, value, op, expected))
        new = call.result if call.replaced else call.request.value
        return to_json(new)  # checked again: a hook may have changed it in place

    async def changed(
        self,
        kind: str,
        owner: str,
        key: str,
        old: int | None,
        new: int | None,
        value: Any,
        *,
        op: str,
        schema: int = 1,
        deleted: bool = False,
    ) -> None:
        """A write succeeded: dispatch ``state_written`` and publish ``state.changed``."""
        kernel = self.kernel
        hooks = bool(kernel.hook.state_written)
        persisted = kind != "temp"  # temp writes reach hooks, never events or watches
        if self._bus is _UNSET:
            self._bus = kernel.services.find(EventService)
        bus = self._bus if persisted else None
        wants = getattr(bus, "wants", None)
        session_id = owner if kind == "session" else None
        events = bus is not None and (wants is None or wants("state.changed", session_id=session_id))
        watched = persisted and self.watchers.active
        if not (hooks or events or watched):
            return
        change = StateChange(kind, owner, key, old, new, None if deleted else value, deleted, op, schema)
        if hooks:
            await kernel.hook.state_written(change=change)
        if events:
            payload = {
                "scope": kind,
                "owner": owner,
                "key": key,
                "old_version": old,
                "new_version": new,
                "value": change.value,
                "deleted": deleted,
                "op": op,
                "schema_version": schema,
            }
            await kernel.emit("state.changed", payload, session_id=session_id, source="state")
        if watched:
            await self.watchers.notify(change)

    async def changed_many(
        self, changes: list[StateChange], extra: Sequence[Event] = (), outbox: list[Event] | None = None
    ) -> None:
        """Writes of one batch succeeded: ``state_written`` for each, in order, then their
        ``state.changed`` events and the ``extra`` events in one publish (one append to the
        log), then local watches. With ``outbox`` the events are added to it instead, for
        the caller to publish with its own (see ``StateService.write_many``)."""
        if len(changes) == 1 and not extra and outbox is None:
            c = changes[0]
            await self.changed(c.scope, c.owner, c.key, c.old_version, c.new_version, c.value, op=c.op,
                               schema=c.schema_version, deleted=c.deleted)
            return
        kernel = self.kernel
        hooks = bool(kernel.hook.state_written)
        if self._bus is _UNSET:
            self._bus = kernel.services.find(EventService)
        bus = self._bus
        wants = getattr(bus, "wants", None)
        watched = self.watchers.active
        if not (hooks or bus is not None or watched):
            return
        events: list[Event] = []
        for change in changes:
            if hooks:
                await kernel.hook.state_written(change=change)
            if change.scope == "temp":  # temp writes reach hooks, never events or watches
                continue
            session_id = change.owner if change.scope == "session" else None
            if bus is not None and (wants is None or wants("state.changed", session_id=session_id)):
                payload = {
                    "scope": change.scope,
                    "owner": change.owner,
                    "key": change.key,
                    "old_version": change.old_version,
                    "new_version": change.new_version,
                    "value": change.value,
                    "deleted": change.deleted,
                    "op": change.op,
                    "schema_version": change.schema_version,
                }
                events.append(StateChanged("state.changed", payload, session_id=session_id, source="state",
                                           stream=session_id))  # a session's event is logged in its stream
        if bus is not None:
            events += extra
        if events and not kernel.quiet and outbox is not None:
            outbox += events
        elif events and not kernel.quiet:
            try:
                await bus.publish_many(events)
            except Exception:
                log.exception("could not publish %d state.changed events", len(events))
        if watched:
            for change in changes:
                if change.scope != "temp":
                    await self.watchers.notify(change)

    async def conflict(
        self, kind: str, owner: str, key: str, expected: int | None, result: CasResult
    ) -> ConflictError:
        """The :class:`ConflictError` for a failed compare-and-set, with the current value."""
        value = None
        if result.current is not None:
            try:
                value = (await self.load(kind, owner, key, result.current)).value
            except Exception:
                log.exception("could not decode the current value of %r", key)
        return ConflictError(
            key, expected=expected, current_version=result.previous_version, current_value=value
        )

    async def backoff(self, attempt: int) -> None:
        """Sleep a random time that grows with ``attempt`` (full jitter)."""
        cap = min(self.config.retry_backoff_max, self.config.retry_backoff * (2**attempt))
        await asyncio.sleep(random.uniform(0, cap))
