"""One owner's keys in one scope: ``prefs = kernel.state.scope("user", "u1")``.

Every method validates the key first (non-empty, at most
:data:`~llmspell.plugins.state.api.MAX_KEY_LENGTH` characters, no control characters) and the value
before anything is written. Values come back as JSON data, or as ``cls`` when given (an
attrs class, structured through the one converter).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from llmspell.errors import ValidationError
from llmspell.plugins._values import check_int
from llmspell.plugins.state.api import ABSENT, StateChange, StateItem, Versioned, check_key

from ._codec import decode, from_json, owner_prefix, to_json
from .backend import check_expected

if TYPE_CHECKING:
    from ._store import StateStore
    from ._watch import StateWatch

__all__ = ["Scope"]


def _check_prefix(prefix: object) -> str:
    if type(prefix) is not str:
        raise ValidationError(f"prefix must be a string, got {type(prefix).__name__} {prefix!r:.60}")
    return prefix


class Scope:
    """Get, set, update, delete, list and watch the keys of one owner in one scope."""

    __slots__ = ("_backend", "_kind", "_owner", "_prefix", "_seen", "_store")

    def __init__(self, store: StateStore, kind: str, owner: str) -> None:
        self._store = store
        self._kind = kind
        self._owner = owner
        self._prefix = owner_prefix(kind, owner)
        self._backend = store.backend_for(kind)
        self._seen: dict[str, int] = {}  # versions seen, for keys under the reject policy

    @property
    def kind(self) -> str:
        return self._kind

    @property
    def owner(self) -> str:
        return self._owner

    def __repr__(self) -> str:
        return f"<Scope {self._kind}:{self._owner}>"

    def _track(self, key: str, version: int) -> None:
        policies = self._store.policies
        if policies.may_reject and policies.resolve(self._kind, key).name == "reject":
            self._seen[key] = version

    # -- reads -----------------------------------------------------------------------

    async def get_versioned(self, key: str, *, cls: Any = None) -> Versioned | None:
        """The value and its version, or ``None`` when the key does not exist."""
        record = await self._backend.get(self._prefix + check_key(key))
        if record is None:
            self._track(key, ABSENT)
            return None
        item = await self._store.load(self._kind, self._owner, key, record)
        self._track(key, item.version)
        return (
            item if cls is None else Versioned(from_json(item.value, cls), item.version, item.schema_version)
        )

    async def get(self, key: str, default: Any = None, *, cls: Any = None) -> Any:
        """The value of ``key``, or ``default`` when it does not exist."""
        record = await self._backend.get(self._prefix + check_key(key))
        store = self._store
        if record is None:
            if store.policies.may_reject:
                self._track(key, ABSENT)
            return default
        value, stored = decode(record.data, record.key)
        if stored != 1 or not store.schemas.empty:  # the common case skips all of this
            item = await store.load(self._kind, self._owner, key, record)
            value, record = item.value, attrs.evolve(record, version=item.version)
        if store.policies.may_reject:
            self._track(key, record.version)
        return value if cls is None else from_json(value, cls)

    async def get_many(self, keys: Sequence[str], *, cls: Any = None) -> dict[str, Any]:
        """``{key: value}`` for those of ``keys`` that exist (one backend round trip)."""
        if isinstance(keys, str) or not isinstance(keys, Sequence | set | frozenset):
            raise ValidationError(f"keys must be a list of state keys, got {type(keys).__name__} {keys!r:.60}")
        full = {self._prefix + check_key(k): k for k in keys}
        records = await self._backend.get_many(list(full))
        out = {}
        for full_key, record in records.items():
            key = full[full_key]
            item = await self._store.load(self._kind, self._owner, key, record)
            self._track(key, item.version)
            out[key] = from_json(item.value, cls)
        return out

    async def list(self, prefix: str = "") -> list[str]:
        """Keys starting with ``prefix``, in order."""
        return [
            key
            async for key, _, _ in self._store.items(
                self._kind, self._owner, _check_prefix(prefix), decode_values=False
            )
        ]

    async def scan(self, prefix: str = "", *, cls: Any = None) -> AsyncIterator[StateItem]:
        """Every key starting with ``prefix`` with its value and version, in key order."""
        async for _, _, item in self._store.items(self._kind, self._owner, _check_prefix(prefix)):
            assert item is not None
            yield (
                item
                if cls is None
                else StateItem(item.key, from_json(item.value, cls), item.version, item.schema_version)
            )

    # -- writes ----------------------------------------------------------------------

    async def set(self, key: str, value: Any, *, expected_version: int | None = None) -> int:
        """Store ``value``; returns the new version.

        With ``expected_version`` this is a compare-and-set (``0`` = must not exist) that
        raises :class:`~llmspell.errors.ConflictError` on a mismatch. Without it the key's
        conflict policy decides (see :mod:`~llmspell.plugins.state._policies`).
        """
        store = self._store
        check_key(key)
        check_expected(expected_version)
        value = to_json(value)
        policy = None
        if expected_version is None:
            policy = store.policies.resolve(self._kind, key)
            if policy.name == "merge":
                return await self._merge(key, value, policy.fn)
            if policy.name == "reject":
                expected_version = self._seen.get(key, ABSENT)
        value = await store.before_write(self._kind, self._owner, key, value, "set", expected_version)
        data, schema = store.encode(key, value)
        result = await self._backend.compare_and_set(self._prefix + key, data, expected_version)
        if not result.ok:
            raise await store.conflict(self._kind, self._owner, key, expected_version, result)
        assert result.version is not None
        if policy is not None and policy.name == "reject":
            self._seen[key] = result.version
        await store.changed(
            self._kind,
            self._owner,
            key,
            result.previous_version,
            result.version,
            value,
            op="set",
            schema=schema,
        )
        return result.version

    async def _merge(self, key: str, value: Any, reducer: Any) -> int:
        store = self._store
        value = await store.before_write(self._kind, self._owner, key, value, "merge", None)
        full = self._prefix + key
        record = await self._backend.get(full)
        for attempt in range(store.config.update_retries + 1):
            current = None if record is None else await store.load(self._kind, self._owner, key, record)
            merged = to_json(reducer(None if current is None else current.value, value))
            data, schema = store.encode(key, merged)
            expected = ABSENT if current is None else current.version
            result = await self._backend.compare_and_set(full, data, expected)
            if result.ok:
                assert result.version is not None
                await store.changed(
                    self._kind,
                    self._owner,
                    key,
                    result.previous_version,
                    result.version,
                    merged,
                    op="merge",
                    schema=schema,
                )
                return result.version
            await store.backoff(attempt)
            # what the conflict returned was current then; after a longer sleep, read again
            record = result.current if attempt == 0 else await self._backend.get(full)
        raise await store.conflict(self._kind, self._owner, key, expected, result)

    async def update(
        self, key: str, fn: Callable[[Any], Any], *, cls: Any = None, retries: int | None = None
    ) -> Versioned:
        """Read, apply ``fn(current)`` (``None`` when missing; may be async), compare-and-set.

        Retries with a randomised backoff when another writer got there first, at most
        ``retries`` times (``[state] update_retries``); then raises ConflictError.
        """
        store = self._store
        full = self._prefix + check_key(key)
        if not callable(fn):
            raise ValidationError(f"update needs a function of the current value, got {fn!r:.60}")
        limit = store.config.update_retries if retries is None else check_int(retries, "retries")
        record = await self._backend.get(full)
        expected: int | None = None
        result = None
        for attempt in range(limit + 1):
            current = None if record is None else await store.load(self._kind, self._owner, key, record)
            new = fn(None if current is None else from_json(current.value, cls))
            if inspect.isawaitable(new):
                new = await new
            stored = to_json(new)
            expected = ABSENT if current is None else current.version
            stored_after = await store.before_write(
                self._kind, self._owner, key, stored, "update", expected
            )
            data, schema = store.encode(key, stored_after)
            result = await self._backend.compare_and_set(full, data, expected)
            if result.ok:
                assert result.version is not None
                self._track(key, result.version)
                await store.changed(
                    self._kind,
                    self._owner,
                    key,
                    result.previous_version,
                    result.version,
                    stored_after,
                    op="update",
                    schema=schema,
                )
                value = new if stored_after is stored else from_json(stored_after, cls)
                return Versioned(value, result.version, schema)
            await store.backoff(attempt)
            # what the conflict returned was current then; after a longer sleep, read again
            record = result.current if attempt == 0 else await self._backend.get(full)
        assert result is not None
        raise await store.conflict(self._kind, self._owner, key, expected, result)

    async def delete(self, key: str, *, expected_version: int | None = None) -> bool:
        """Remove ``key``; returns whether it existed. ``expected_version`` makes it conditional."""
        store = self._store
        check_key(key)
        check_expected(expected_version)
        if expected_version is None and store.policies.may_reject:
            if store.policies.resolve(self._kind, key).name == "reject":
                expected_version = self._seen.get(key, ABSENT)
        await store.before_write(self._kind, self._owner, key, None, "delete", expected_version)
        result = await self._backend.delete(self._prefix + key, expected_version)
        if not result.ok:
            raise await store.conflict(self._kind, self._owner, key, expected_version, result)
        self._seen.pop(key, None)
        if result.previous_version is None:
            return False
        await store.changed(
            self._kind, self._owner, key, result.previous_version, None, None, op="delete", deleted=True
        )
        return True

    # -- watching --------------------------------------------------------------------

    def watch(self, prefix: str, handler: Callable[[StateChange], Any]) -> StateWatch:
        """Call ``handler(change)`` after every write to a key of this scope starting with ``prefix``."""
        return self._store.watch(self._kind, self._owner, _check_prefix(prefix), handler)
