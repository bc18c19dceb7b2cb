"""Bringing stored state up to the current schema versions: ``kernel.state.migrate``.

Reading a record behind its namespace's version migrates it (see :mod:`.schemas`); a
:class:`Migrator` does it for every stored record at once (``llmspell state migrate``),
reporting the records it could not migrate and leaving them unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import attrs

from llmspell.errors import (
    IntegrityError,
    MigrationError,
    SchemaVersionError,
    ValidationError,
)
from llmspell.plugins.state.api import check_owner, check_scope
from llmspell.plugins.state.backend import Record

from ._codec import decode, owner_prefix, split_key
from ._schemas import Schemas

if TYPE_CHECKING:
    from ._store import StateStore

__all__ = ["Schemas", "MigrationReport", "Migrator"]

_PAGE = 500


@attrs.frozen
class MigrationReport:
    """What ``migrate`` found: counts, and one line per record it could not migrate."""

    scanned: int = 0
    migrated: int = 0
    current: int = 0
    dry_run: bool = False
    failed: tuple[tuple[str, str], ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failed


class Migrator:
    """Migrates the stored records of one state store (see the module docstring)."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    async def migrate(
        self,
        *,
        dry_run: bool = False,
        scope: str | None = None,
        owner: str | None = None,
        on_progress: Callable[[int, int], Any] | None = None,
    ) -> MigrationReport:
        """Bring every stored record (of ``scope`` and ``owner``, or all) to its current version.

        ``dry_run`` runs the migrations without writing. Failing records are reported and
        left unchanged; the others are written back with compare-and-set. ``on_progress(done,
        total)`` is called after each page.
        """
        if scope is None:
            if owner is not None:
                raise ValidationError("migrate: an owner needs a scope")
            prefix = ""
        elif owner is None:
            prefix = f"{check_scope(scope)}/"
        else:
            prefix = owner_prefix(check_scope(scope), check_owner(scope, owner))
        store = self.store
        schemas = store.schemas
        total = 0
        async for page in self._pages(prefix):
            total += len(page)
        scanned = migrated = current = 0
        failed: list[tuple[str, str]] = []
        if on_progress is not None:
            on_progress(0, total)
        async for page in self._pages(prefix):
            for record in page:
                scanned += 1
                try:
                    kind, owner, key = split_key(record.key)
                    value, stored = decode(record.data, record.key)
                    if stored == schemas.check(key, stored):
                        current += 1
                        continue
                    value, version = schemas.migrate(key, value, stored)
                    if not dry_run:
                        await store.write_back(kind, owner, key, record, value, version)
                    migrated += 1
                except (MigrationError, SchemaVersionError, IntegrityError, ValidationError) as exc:
                    failed.append((record.key, str(exc)))
            if on_progress is not None:
                on_progress(scanned, total)
        return MigrationReport(scanned, migrated, current, dry_run, tuple(failed))

    async def _pages(self, prefix: str) -> AsyncIterator[list[Record]]:
        after: str | None = None
        while True:
            page = await self.store.backend.scan(prefix, after=after, limit=_PAGE)
            if not page:
                return
            yield page
            after = page[-1].key
