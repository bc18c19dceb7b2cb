"""The public contract of the state capability: what users and other plugins call.

State: the contract of the state service, its scopes and its storage backends.

The state service (``kernel.state``) is provided by a plugin (the default one is
``llmspell.plugins.state``). It addresses values by *scope* (``app``, ``user``,
``session``, ``agent``, ``temp``), *owner* (the user id, session id, agent name ...) and
*key*, gives every key a version, and stores JSON through a :class:`StateBackend` chosen
by name with ``[state] backend = "..."``.

The backend protocol is deliberately small: get, get-many, compare-and-set, delete, scan
by prefix and an atomic batch, all on flat string keys and JSON *bytes*. It maps onto a
Redis Lua script, a conditional ``UPDATE`` in PostgreSQL or a revision check in NATS
JetStream KV. A backend never decodes values: the service encodes each record once.

Versions: a key that does not exist has no version; its first write makes version 1 and
every later write adds one (a backend may only ever increase a key's version). After a
delete the key starts again at 1. ``expected_version`` has three forms throughout:
``None`` (write whatever is there), :data:`ABSENT` (``0``: the key must not exist) or a
positive version (the key must be at exactly that version).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from llmspell.errors import UnknownNameError, ValidationError
from llmspell.plugins._values import MAX_USER_ID, check_user_id

if TYPE_CHECKING:
    from llmspell.plugins.events.api import Event
    from llmspell.plugins.state._migrations import MigrationReport
    from llmspell.plugins.state.backend import StateBackend

__all__ = [
    "SCOPES",
    "PERSISTENT_SCOPES",
    "ABSENT",
    "MAX_KEY_LENGTH",
    "MAX_OWNER_LENGTH",
    "POLICIES",
    "check_key",
    "check_owner",
    "check_scope",
    "Versioned",
    "StateItem",
    "StateWrite",
    "StateChange",
    "KeyWrite",
    "StateScope",
    "StateService",
]


#: Every scope. ``temp`` lives for one invocation and is never persisted.
SCOPES: tuple[str, ...] = ("app", "user", "session", "agent", "temp")
_OWNER_OF = {scope: f"owner id of the {scope!r} scope" for scope in SCOPES}  # check_owner's wording, made once


PERSISTENT_SCOPES: tuple[str, ...] = ("app", "user", "session", "agent")


#: ``expected_version=ABSENT`` asks that the key does not exist yet.
ABSENT = 0


#: Longest key, in characters. Keys are non-empty and hold no control characters.
MAX_KEY_LENGTH = 512


#: Longest owner id (user id, session id, agent name ...), in characters.
MAX_OWNER_LENGTH = MAX_USER_ID


#: Conflict policies a key pattern can have (``merge`` also names a reducer).
POLICIES: tuple[str, ...] = ("last_write_wins", "reject", "merge")


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_key(key: object) -> str:
    """Return ``key`` if it is a valid state key, else raise :class:`ValidationError`."""
    if (
        type(key) is str
        and 0 < len(key) <= MAX_KEY_LENGTH
        and (key.isprintable() or not _CONTROL.search(key))
    ):
        return key  # the fast path of every call
    if type(key) is not str:
        raise ValidationError(f"a state key must be a string, not {type(key).__name__} {key!r}")
    if not key:
        raise ValidationError("a state key must not be empty")
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationError(
            f"state key {key[:40]!r}... is {len(key)} characters long; the limit is {MAX_KEY_LENGTH}"
        )
    raise ValidationError(f"state key {key!r} contains a control character")


def check_owner(scope: str, owner: object) -> str:
    """Return ``owner`` if it is a valid owner id for ``scope``, else raise.

    The rule is the one of user ids and app names (at most 256 characters, no control characters, valid Unicode).
    """
    if owner is None:
        raise ValidationError(f"the {scope!r} scope needs an owner id (for example the {scope} id)")
    return check_user_id(owner, _OWNER_OF.get(scope) or f"owner id of the {scope!r} scope")


def check_scope(scope: object) -> str:
    """Return ``scope`` if it is one of :data:`SCOPES`, else raise :class:`UnknownNameError`."""
    if scope not in SCOPES:
        raise UnknownNameError("state scope", str(scope), SCOPES)
    return scope


@attrs.frozen
class Versioned:
    """A value with its version (and the schema version it was read at)."""

    value: Any
    version: int
    schema_version: int = 1


@attrs.frozen
class StateItem:
    """One key of a scope with its value and versions: what scan, export and import use."""

    key: str
    value: Any
    version: int
    schema_version: int = 1


@attrs.define
class StateWrite:
    """The request of the ``state_before_write`` hook point; hooks may change ``value``.

    ``op`` is ``set``, ``update``, ``merge``, ``delete``, ``copy``, ``import`` or
    ``migrate``. For a delete ``value`` is ``None`` and changing it has no effect.
    """

    scope: str
    owner: str
    key: str
    value: Any
    op: str = "set"
    expected_version: int | None = None


@attrs.frozen
class StateChange:
    """A successful write: the ``state_written`` hook's ``change`` and the payload of the
    ``state.changed`` event (``serde.unstructure(change)``).

    ``value`` is the stored JSON value (``None`` when ``deleted``), so replaying a
    session's ``state.changed`` events in order rebuilds its state.
    """

    scope: str
    owner: str
    key: str
    old_version: int | None
    new_version: int | None
    value: Any = None
    deleted: bool = False
    op: str = "set"
    schema_version: int = 1

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> StateChange:
        """Rebuild a change from a ``state.changed`` event payload (unknown keys ignored)."""
        return cls(**{a.name: payload[a.name] for a in attrs.fields(cls) if a.name in payload})


@attrs.frozen
class KeyWrite:
    """One key of an all-or-nothing multi-key write (:meth:`StateService.write_many`).

    ``scope`` is a handle from :meth:`StateService.scope` (its conflict-policy memory is
    used and updated as by a single write); ``delete`` removes the key instead of setting
    ``value``; ``expected_version`` makes this key a strict compare-and-set.
    """

    scope: StateScope
    key: str
    value: Any = None
    delete: bool = False
    expected_version: int | None = None


@runtime_checkable
class StateScope(Protocol):
    """The keys of one owner in one scope: ``kernel.state.scope("user", "u1")``."""

    @property
    def kind(self) -> str: ...

    @property
    def owner(self) -> str: ...

    async def get(self, key: str, default: Any = None, *, cls: Any = None) -> Any: ...

    async def get_versioned(self, key: str, *, cls: Any = None) -> Versioned | None: ...

    async def get_many(self, keys: Sequence[str], *, cls: Any = None) -> dict[str, Any]: ...

    async def set(self, key: str, value: Any, *, expected_version: int | None = None) -> int: ...

    async def update(
        self, key: str, fn: Callable[[Any], Any], *, cls: Any = None, retries: int | None = None
    ) -> Versioned: ...

    async def delete(self, key: str, *, expected_version: int | None = None) -> bool: ...

    async def list(self, prefix: str = "") -> list[str]: ...

    def scan(self, prefix: str = "", *, cls: Any = None) -> AsyncIterator[StateItem]: ...

    def watch(self, prefix: str, handler: Callable[[StateChange], Any]) -> Any: ...


@runtime_checkable
class StateService(Protocol):
    """Scoped, versioned state (``kernel.state``), plus what sessions and agents need.

    The agents runtime brackets an invocation with ``temp(invocation_id)`` (an async
    context manager yielding the ``temp`` scope, dropped on exit) or ``drop_temp``. The
    sessions service forks with ``copy_owner``, deletes with ``delete_owner``, moves a
    session with ``export_owner``/``import_owner`` and recovers with ``rebuild`` from the
    payloads of its ``state.changed`` events.
    """

    @property
    def backend(self) -> StateBackend:
        """The backend of the persistent scopes (``[state] backend``; ``temp`` lives in
        memory): for migrations, the backend contract suite and tools that read or write
        raw records."""
        ...

    def scope(self, kind: str, owner: str | None = None) -> StateScope: ...

    def temp(self, invocation_id: str) -> AbstractAsyncContextManager[StateScope]: ...

    async def scan_owners(self, kind: str, owners: Iterable[str]) -> dict[str, list[StateItem]]:
        """Every key of each of ``owners`` in scope ``kind``: ``{owner: [StateItem, ...]}``
        in key order, as ``scope(kind, owner).scan()`` yields them, in one round trip
        where the backend allows (a listing of sessions with their state)."""
        ...

    async def drop_temp(self, invocation_id: str) -> int: ...

    def set_policy(self, pattern: str, policy: str, *, scope: str | None = None) -> None: ...

    def watch(
        self, kind: str | None, owner: str | None, prefix: str, handler: Callable[[StateChange], Any]
    ) -> Any:
        """Call ``handler(change)`` after writes to keys starting with ``prefix`` (``None``:
        any scope, any owner); :meth:`StateScope.watch` watches one owner."""
        ...

    async def write_many(
        self, writes: Sequence[KeyWrite], *, events: Sequence[Event] = (), outbox: list[Event] | None = None
    ) -> tuple[int | None, ...]:
        """Write every key or none (one backend batch); the new versions (None: deleted).

        ``events`` (of the event service) are published once the batch committed, after
        its ``state.changed`` events and in the same append to the event log. With
        ``outbox``, those events are added to that list instead of being published: the
        caller publishes them with its own in one append (an agent run does so with its
        ``agent.run.finished``), and must publish them even when it fails afterwards."""
        ...

    async def copy_owner(self, scope: str, source: str, target: str, *, overwrite: bool = False) -> int: ...

    async def delete_owner(self, scope: str, owner: str) -> int: ...

    async def export_owner(self, scope: str, owner: str) -> list[StateItem]: ...

    async def import_owner(
        self, scope: str, owner: str, items: Sequence[StateItem], *, replace: bool = True, quiet: bool = False
    ) -> int:
        """Write ``items`` (from :meth:`export_owner`) to ``owner``, keeping their versions.

        With ``replace`` the owner's other keys are deleted. ``quiet`` skips hooks and
        events (for input that came from the event log, such as a session import).
        """
        ...

    async def rebuild(
        self, scope: str, owner: str, changes: Iterable[StateChange | Mapping[str, Any]]
    ) -> int: ...

    async def migrate(
        self,
        *,
        dry_run: bool = False,
        scope: str | None = None,
        owner: str | None = None,
        on_progress: Callable[[int, int], Any] | None = None,
    ) -> MigrationReport:
        """Bring every stored record (of ``scope`` and ``owner``, or all) to its namespace's
        current schema version (``llmspell state migrate``); ``on_progress(done, total)``."""
        ...
