"""Schema versions of state namespaces and the chains of migrations between them.

:class:`Schemas` looks up a key's version and runs the chain on one value; migrating
what is stored is :mod:`.migrations`.

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

from collections.abc import Callable
from typing import Any

from llmspell import serde
from llmspell.errors import MigrationError, SerializationError
from llmspell.plugins._values import check_schema_version
from llmspell.registry import Registry

__all__ = ["Schemas"]

_SEPARATORS = ("/", ".", ":")
_CACHE_LIMIT = 4096


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
            check_schema_version(
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
