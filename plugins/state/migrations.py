"""Schema versions of state namespaces and the chains of migrations between them.

A *namespace* is a key prefix: namespace ``profile`` covers the key ``profile`` and every
key that continues it after a separator (``profile.theme``, ``profile/avatar``,
``profile:v``), in every scope; the longest declared namespace wins. Plugins declare a
namespace's current version with ``register.schema(namespace, version)`` and register one
step per version with ``register(namespace, from_version, fn)``. Keys outside every
declared namespace are at version 1.

Each record stores the schema version it was written at. Reading a record behind the
current version runs the chain ``v -> v+1 -> ... -> current`` on a copy; the service
writes the result back under compare-and-set. A missing step or a step that raises is a
:class:`~llmspell.errors.MigrationError` and the stored record stays as it was; a record
*ahead* of the code is a :class:`~llmspell.errors.SchemaVersionError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import attrs

from llmspell import serde
from llmspell.errors import (
    IntegrityError,
    MigrationError,
    SchemaVersionError,
    SerializationError,
    ValidationError,
)
from llmspell.plugins.state.api import check_owner, check_scope
from llmspell.plugins.state.backend import Record
from llmspell.registry import Registry

from .codec import decode, owner_prefix, split_key

if TYPE_CHECKING:
    from .service import StateManager

__all__ = ["Schemas", "MigrationReport", "migrate_all"]

_SEPARATORS = ("/", ".", ":")
_CACHE_LIMIT = 4096
_PAGE = 500


class Schemas:
    """Looks up a key's namespace and version, and runs migration chains."""

    def __init__(self, schemas: Registry[int], migrations: Registry[Callable[[Any], Any]]) -> None:
        self._schemas = schemas
        self._migrations = migrations
        self._cache: dict[str, tuple[str | None, int]] = {}
        self.refresh()

    def refresh(self) -> None:
        """Re-read the registries (after a plugin was added at run time)."""
        self._namespaces = sorted((str(n) for n in self._schemas.names()), key=len, reverse=True)
        self._cache.clear()
        problems = []
        for namespace in self._namespaces:
            version = self._schemas.get(namespace)
            if isinstance(version, bool) or not isinstance(version, int) or version < 1:
                problems.append(f"schema version of {namespace!r} must be an integer >= 1, got {version!r}")
        if problems:
            raise MigrationError("; ".join(problems))

    @property
    def empty(self) -> bool:
        return not self._namespaces

    def lookup(self, key: str) -> tuple[str | None, int]:
        """``(namespace, current version)`` of ``key``; ``(None, 1)`` outside every namespace."""
        if not self._namespaces:
            return None, 1
        found = self._cache.get(key)
        if found is not None:
            return found
        found = (None, 1)
        for namespace in self._namespaces:
            if key == namespace or (key.startswith(namespace) and key[len(namespace)] in _SEPARATORS):
                found = (namespace, self._schemas.get(namespace))
                break
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = found
        return found

    def current(self, key: str) -> int:
        return self.lookup(key)[1]

    def check(self, key: str, stored: int) -> int:
        """The current version of ``key``; raises if ``stored`` is newer than this code."""
        namespace, current = self.lookup(key)
        if stored > current:
            serde.check_schema_version(
                f"state key {key!r} (namespace {namespace or '<none>'!r})", stored, current
            )
        return current

    def migrate(self, key: str, value: Any, stored: int) -> tuple[Any, int]:
        """Run the chain from ``stored`` to the current version; returns (value, version)."""
        namespace, current = self.lookup(key)
        version = stored
        while version < current:
            assert namespace is not None
            fn = self._migrations.find((namespace, version))
            if fn is None:
                raise MigrationError(
                    f"state key {key!r} is at schema version {version} of namespace {namespace!r}, "
                    f"but no migration from {version} to {version + 1} is registered; "
                    "the stored record is unchanged"
                )
            try:
                value = fn(value)
                serde.check_json(value)
            except SerializationError as exc:
                raise MigrationError(
                    f"migration of namespace {namespace!r} from version {version} returned "
                    f"a value that is not JSON ({exc}); the stored record of {key!r} is unchanged"
                ) from exc
            except Exception as exc:
                raise MigrationError(
                    f"migration of namespace {namespace!r} from version {version} to {version + 1} "
                    f"failed on {key!r}: {type(exc).__name__}: {exc}; the stored record is unchanged"
                ) from exc
            version += 1
        return value, version

    def describe(self) -> list[dict[str, Any]]:
        """Every declared namespace with its version and registered steps."""
        steps: dict[str, list[int]] = {}
        for registration in self._migrations:
            name: Any = registration.name
            steps.setdefault(str(name[0]), []).append(int(name[1]))
        return [
            {"namespace": n, "version": self._schemas.get(n), "steps": sorted(steps.get(n, []))}
            for n in sorted(self._namespaces)
        ]


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


async def migrate_all(
    self: StateManager,
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
    total = 0
    async for page in _pages(self, prefix):
        total += len(page)
    scanned = migrated = current = 0
    failed: list[tuple[str, str]] = []
    if on_progress is not None:
        on_progress(0, total)
    async for page in _pages(self, prefix):
        for record in page:
            scanned += 1
            try:
                kind, owner, key = split_key(record.key)
                value, stored = decode(record.data, record.key)
                if stored == self.schemas.check(key, stored):
                    current += 1
                    continue
                value, version = self.schemas.migrate(key, value, stored)
                if not dry_run:
                    await self.write_back(kind, owner, key, record, value, version)
                migrated += 1
            except (MigrationError, SchemaVersionError, IntegrityError, ValidationError) as exc:
                failed.append((record.key, str(exc)))
        if on_progress is not None:
            on_progress(scanned, total)
    return MigrationReport(scanned, migrated, current, dry_run, tuple(failed))


async def _pages(self: StateManager, prefix: str) -> AsyncIterator[list[Record]]:
    after: str | None = None
    while True:
        page = await self.backend.scan(prefix, after=after, limit=_PAGE)
        if not page:
            return
        yield page
        after = page[-1].key
