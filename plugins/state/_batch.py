"""All-or-nothing writes of several keys: ``kernel.state.write_many([KeyWrite(...), ...])``.

Every key behaves as its own ``set`` or ``delete`` would (key and value checks, its
conflict policy, the ``state_before_write`` hook point, the size limit), but all of them
are stored by one backend :meth:`~llmspell.plugins.state.backend.StateBackend.batch`: a process killed
at any moment leaves every key written or none. The ``state_written`` hook point runs after
the batch committed, in the order of the writes; then the batch's ``state.changed`` events
are published together (one append to the event log, in the order of the writes).

Policies: ``last_write_wins`` keys are written blind; ``reject`` keys must be at the
version their scope handle last saw; ``merge`` keys are read, reduced and written under
their read version, and a conflict on one of them re-reads and retries the whole batch
(``[state] update_retries`` times, with backoff). A conflict on any other key raises
:class:`~llmspell.errors.ConflictError` for that key, and nothing is written. ``temp``
keys (never persisted, in this process's memory) are written by a second batch right
after the persistent one committed; only a conflict on a ``temp`` key under ``reject``
or an expected version can then fail after the persistent keys were stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from llmspell.errors import ValidationError
from llmspell.plugins.events.api import Event
from llmspell.plugins.state.api import ABSENT, KeyWrite, StateChange, check_key
from llmspell.plugins.state.backend import Delete, Put, StateBackend, WriteOp

from ._codec import to_json
from ._scope import Scope
from .backend import check_expected

if TYPE_CHECKING:
    from ._store import StateStore

__all__ = ["BatchWriter"]


@attrs.define
class _Plan:
    """One checked write and what the batch will store for it."""

    handle: Scope
    key: str
    value: Any
    delete: bool
    expected: int | None
    policy: str
    reducer: Any = None
    stored: Any = None
    schema: int = 1


class BatchWriter:
    """``write_many`` of one state store (see the module docstring)."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    async def write_many(
        self, writes: Sequence[KeyWrite], events: Sequence[Event] = (), outbox: list[Event] | None = None
    ) -> tuple[int | None, ...]:
        """Write every key of ``writes`` or none; returns each key's new version (None: deleted).

        ``events`` are published after the batch's ``state.changed`` events, in the same
        append, once the batch committed (never when it failed). ``outbox``: a list the
        events are added to instead of being published (the caller publishes them).

        Raises :class:`~llmspell.errors.ConflictError` (nothing written) when a key's
        expected version does not hold, :class:`~llmspell.errors.ValidationError` for a bad
        key, value, handle or a key written twice, before anything is read or written.
        """
        store = self.store
        plans = self._check(writes)
        if events and (isinstance(events, Event) or not all(isinstance(e, Event) for e in events)):
            raise ValidationError(f"write_many's events must be a list of Event, got {events!r:.80}")
        await self._prepare(plans)
        persisted = [p for p in plans if p.handle.kind != "temp"]
        temp = [p for p in plans if p.handle.kind == "temp"]
        results: dict[int, Any] = {}
        for group in (persisted, temp):  # temp lives in memory: written once the rest is stored
            if not group:
                continue
            backend = group[0].handle._backend
            limit = store.config.update_retries if any(p.policy == "merge" for p in group) else 0
            for attempt in range(limit + 1):
                ops = await self._ops(group)
                outcome = await backend.batch(ops)
                if outcome.ok:
                    break
                assert outcome.failed is not None and outcome.conflict is not None
                failed = group[outcome.failed]
                if failed.policy != "merge" or attempt == limit:
                    handle = failed.handle
                    raise await store.conflict(
                        handle.kind, handle.owner, failed.key, failed.expected, outcome.conflict
                    )
                await store.backoff(attempt)
            for plan, result in zip(group, outcome.results, strict=True):
                results[id(plan)] = result
        versions: list[int | None] = []
        changes: list[StateChange] = []
        for plan in plans:
            result = results[id(plan)]
            handle, key = plan.handle, plan.key
            if plan.delete:
                handle._seen.pop(key, None)
                versions.append(None)
                if result.previous_version is not None:
                    changes.append(StateChange(handle.kind, handle.owner, key, result.previous_version, None,
                                               None, True, "delete"))
                continue
            if plan.policy == "reject":
                handle._seen[key] = result.version
            versions.append(result.version)
            changes.append(StateChange(handle.kind, handle.owner, key, result.previous_version, result.version,
                                       plan.stored, False, "merge" if plan.policy == "merge" else "set", plan.schema))
        if changes or events:
            await store.changed_many(changes, events, outbox)
        return tuple(versions)

    def _check(self, writes: Sequence[KeyWrite]) -> list[_Plan]:
        store = self.store
        if isinstance(writes, KeyWrite | str | bytes) or not isinstance(writes, Sequence):
            raise ValidationError(f"write_many needs a list of KeyWrite, got {type(writes).__name__}")
        plans: list[_Plan] = []
        seen: set[tuple[str, str, str]] = set()
        for i, write in enumerate(writes):
            if not isinstance(write, KeyWrite):
                raise ValidationError(f"write {i} is {type(write).__name__}, not KeyWrite")
            handle = write.scope
            if not isinstance(handle, Scope) or handle._store is not store:
                raise ValidationError(
                    f"write {i} ({write.key!r:.60}) needs a scope handle from this kernel's state"
                )
            key = check_key(write.key)
            check_expected(write.expected_version)
            slot = (handle.kind, handle.owner, key)
            if slot in seen:
                raise ValidationError(
                    f"key {key!r} of {handle.kind} {handle.owner!r} is written twice in one batch"
                )
            seen.add(slot)
            value = None if write.delete else to_json(write.value)
            expected = write.expected_version
            policy = store.policies.resolve(handle.kind, key) if expected is None else None
            name = "strict" if policy is None else policy.name
            if name == "reject":
                expected = handle._seen.get(key, ABSENT)
            if name == "merge" and write.delete:
                name = "last_write_wins"  # a delete of a merged key removes it, as Scope.delete does
            plans.append(_Plan(handle, key, value, write.delete, expected, name, policy.fn if policy else None))
        return plans

    async def _prepare(self, plans: list[_Plan]) -> None:
        """Run ``state_before_write`` per key and fix what each key will store."""
        for plan in plans:
            handle = plan.handle
            op = "delete" if plan.delete else "merge" if plan.policy == "merge" else "set"
            changed = await self.store.before_write(
                handle.kind, handle.owner, plan.key, plan.value, op, None if op == "merge" else plan.expected
            )
            if not plan.delete:
                plan.value = changed

    async def _ops(self, plans: list[_Plan]) -> list[WriteOp]:
        """The backend operations for ``plans``, reading (and reducing) the merged keys."""
        store = self.store
        merged = [p for p in plans if p.policy == "merge"]
        current: dict[str, Any] = {}
        by_backend: dict[int, tuple[StateBackend, list[str]]] = {}
        for plan in merged:
            entry = by_backend.setdefault(id(plan.handle._backend), (plan.handle._backend, []))
            entry[1].append(plan.handle._prefix + plan.key)
        for backend, keys in by_backend.values():
            current.update(await backend.get_many(keys))
        ops: list[WriteOp] = []
        for plan in plans:
            handle = plan.handle
            full = handle._prefix + plan.key
            if plan.policy == "merge":
                record = current.get(full)
                loaded = (
                    None if record is None else await store.load(handle.kind, handle.owner, plan.key, record)
                )
                plan.expected = ABSENT if loaded is None else loaded.version
                plan.stored = to_json(plan.reducer(None if loaded is None else loaded.value, plan.value))
            else:
                plan.stored = plan.value
            if plan.delete:
                ops.append(Delete(full, plan.expected))
            else:
                data, plan.schema = store.encode(plan.key, plan.stored)
                ops.append(Put(full, data, plan.expected))
        return ops
