"""Whole-owner operations, for sessions: copy (fork), delete, export, import, rebuild.

:class:`Bulk` does them for one state store; the state service hands its methods of the
same names to it. :meth:`Bulk.copy_owner` reads the source page by page (:data:`PAGE`
keys) and writes the whole copy with one atomic backend batch, so a process killed in the
middle leaves the whole copy or nothing; the others write one atomic batch per page
(sessions wrap them in a pending record, :mod:`~llmspell.plugins.sessions._pending`).
They dispatch ``state_written`` and publish ``state.changed`` for every key they write
(unless ``quiet``), so a session's event stream records forks and imports and can
rebuild its state; they do not run ``state_before_write``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from llmspell import serde
from llmspell.errors import (
    ConflictError,
    ValidationError,
)
from llmspell.plugins.state.api import ABSENT, StateChange, StateItem, check_key, check_owner, check_scope
from llmspell.plugins.state.backend import Delete as DeleteOp
from llmspell.plugins.state.backend import Put as PutOp
from llmspell.plugins.state.backend import Record

from ._codec import decode, encode, owner_prefix, to_json

if TYPE_CHECKING:
    from ._store import StateStore

__all__ = ["PAGE", "Bulk"]

PAGE = 500


def _item(raw: StateItem | Mapping[str, Any]) -> StateItem:
    item = raw if isinstance(raw, StateItem) else serde.structure(dict(raw), StateItem)
    check_key(item.key)
    if isinstance(item.version, bool) or not isinstance(item.version, int) or item.version < 1:
        raise ValidationError(f"imported key {item.key!r} has version {item.version!r}; versions start at 1")
    return item


class Bulk:
    """Whole-owner operations on one state store (see the module docstring)."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    async def copy_owner(self, scope: str, source: str, target: str, *, overwrite: bool = False) -> int:
        """Copy every key of ``source`` to ``target`` in ``scope`` (a session fork); returns the count.

        Without ``overwrite`` the target must not have any of the keys (ConflictError) and
        the copies keep their versions; with it, existing target keys are replaced and their
        versions continue from the target's own.
        """
        check_scope(scope)
        check_owner(scope, source)
        check_owner(scope, target)
        if source == target:
            raise ValidationError(f"cannot copy {scope} owner {source!r} onto itself")
        backend = self.store.backend_for(scope)
        src, dst = owner_prefix(scope, source), owner_prefix(scope, target)
        if not overwrite:
            existing = await backend.scan(dst, limit=1)
            if existing:
                key = existing[0].key[len(dst) :]
                raise ConflictError(key, expected=ABSENT, current_version=existing[0].version)
        page: list[Record] = []  # read whole, then written by one batch: all or nothing
        after: str | None = None
        while chunk := await backend.scan(src, after=after, limit=PAGE):
            page += chunk
            after = chunk[-1].key
        if not page:
            return 0
        ops = [
            PutOp(
                dst + r.key[len(src) :],
                r.data,
                None if overwrite else ABSENT,
                None if overwrite else r.version,
            )
            for r in page
        ]
        outcome = await backend.batch(ops)
        if not outcome.ok:
            assert outcome.failed is not None and outcome.conflict is not None
            key = ops[outcome.failed].key[len(dst) :]
            raise ConflictError(key, expected=ABSENT, current_version=outcome.conflict.previous_version)
        for record, result in zip(page, outcome.results, strict=True):
            value, schema = decode(record.data, record.key)
            await self.store.changed(
                scope,
                target,
                record.key[len(src) :],
                result.previous_version,
                result.version,
                value,
                op="copy",
                schema=schema,
            )
        return len(page)

    async def delete_owner(self, scope: str, owner: str) -> int:
        """Delete every key of ``owner`` in ``scope`` (a session delete); returns the count."""
        check_scope(scope)
        backend = self.store.backend_for(scope)
        base = owner_prefix(scope, check_owner(scope, owner))
        count = 0
        scan_skipping = getattr(backend, "scan_skipping", None)
        while True:
            bad: list[tuple[str, str]] = []
            if scan_skipping is not None:  # rows it cannot read are deleted too, unread
                page, bad = await scan_skipping(base, limit=PAGE)
            else:
                page = await backend.scan(base, limit=PAGE)
            if not page and not bad:
                return count
            if bad:
                await backend.batch([DeleteOp(key) for key, _ in bad])
            if not page:
                continue
            outcome = await backend.batch([DeleteOp(r.key) for r in page])
            for record, result in zip(page, outcome.results, strict=True):
                if result.previous_version is not None:
                    count += 1
                    await self.store.changed(
                        scope,
                        owner,
                        record.key[len(base) :],
                        result.previous_version,
                        None,
                        None,
                        op="delete",
                        deleted=True,
                    )

    async def export_owner(self, scope: str, owner: str) -> list[StateItem]:
        """Every key of ``owner`` with its value (migrated to the current schema) and version."""
        check_scope(scope)
        check_owner(scope, owner)
        return [item async for _, _, item in self.store.items(scope, owner) if item is not None]

    async def import_owner(
        self,
        scope: str,
        owner: str,
        items: Iterable[StateItem | Mapping[str, Any]],
        *,
        replace: bool = True,
        quiet: bool = False,
    ) -> int:
        """Write ``items`` (from :meth:`export_owner`) to ``owner``, keeping their versions.

        With ``replace`` the owner's other keys are deleted, so it ends up exactly as
        exported. Every item is checked (key, JSON value, schema version not newer than this
        code) before anything is written. ``quiet`` skips hooks and events (used by
        :meth:`rebuild`, whose input came from the event log).
        """
        check_scope(scope)
        check_owner(scope, owner)
        backend = self.store.backend_for(scope)
        base = owner_prefix(scope, owner)
        checked = [_item(raw) for raw in items]
        ops: list[PutOp | DeleteOp] = []
        values: dict[str, tuple[Any, int]] = {}
        for item in checked:
            value = to_json(item.value)
            self.store.schemas.check(item.key, item.schema_version)
            ops.append(
                PutOp(
                    base + item.key,
                    encode(value, item.schema_version, self.store.config.max_value_bytes),
                    None,
                    item.version,
                )
            )
            values[base + item.key] = (value, item.schema_version)
        if replace:
            keep = set(values)
            async for _, record, _ in self.store.items(scope, owner, decode_values=False):
                if record.key not in keep:
                    ops.append(DeleteOp(record.key))
        for start in range(0, len(ops), PAGE):
            chunk = ops[start : start + PAGE]
            outcome = await backend.batch(chunk)
            if quiet:
                continue
            for op, result in zip(chunk, outcome.results, strict=True):
                key = op.key[len(base) :]
                if isinstance(op, DeleteOp):
                    if result.previous_version is not None:
                        await self.store.changed(
                            scope, owner, key, result.previous_version, None, None, op="import", deleted=True
                        )
                    continue
                value, schema = values[op.key]
                await self.store.changed(
                    scope, owner, key, result.previous_version, result.version, value, op="import", schema=schema
                )
        return len(checked)

    async def rebuild(
        self, scope: str, owner: str, changes: Iterable[StateChange | Mapping[str, Any]]
    ) -> int:
        """Replay ``state.changed`` payloads (oldest first) and make ``owner`` hold the result.

        Changes of other scopes or owners are ignored. Returns how many keys the owner has
        afterwards. Emits no events: the input already is the event log.
        """
        final: dict[str, StateItem] = {}
        for raw in changes:
            change = raw if isinstance(raw, StateChange) else StateChange.from_payload(raw)
            if change.scope != scope or change.owner != owner:
                continue
            if change.deleted or change.new_version is None:
                final.pop(change.key, None)
            else:
                final[change.key] = StateItem(change.key, change.value, change.new_version, change.schema_version)
        return await self.import_owner(scope, owner, list(final.values()), replace=True, quiet=True)
