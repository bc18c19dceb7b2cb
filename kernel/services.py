"""The typed service container, and a typed stash for plugins' private per-kernel data.

A plugin provides a service by registering an instance under a type (usually one of the
service protocols of a capability's public contract, ``llmspell.plugins.<capability>.api``)
from its ``llmspell_register_services`` hook. Code asks for ``services.get(StateService)``
and gets that instance, or a :class:`~llmspell.errors.ServiceNotAvailable` that says which
plugin normally provides it. A service whose type is defined in
``llmspell.plugins.<capability>.api`` is also found by that capability name
(``services.capability("state")``): that is how the kernel reaches the services without
importing any plugin.
Two plugins providing the same service is an error: block one of them by name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

from .errors import DuplicateNameError, ServiceNotAvailable

__all__ = ["Services", "Stash", "StashKey"]

S = TypeVar("S")
T = TypeVar("T")
D = TypeVar("D")

_CONTRACT = re.compile(r"llmspell\.plugins\.(\w+)\.api")


def capability_of(kind: type) -> str | None:
    """The capability whose public contract defines ``kind`` (``"state"`` for ``StateService``)."""
    match = _CONTRACT.fullmatch(getattr(kind, "__module__", "") or "")
    return match.group(1) if match else None


def _name(kind: object) -> str:
    return str(getattr(kind, "__name__", kind))


def _hint(capability: str | None) -> str:
    return (
        f"the {capability!r} plugin provides it by default: is it disabled, "
        "or has the kernel not been started?"
        if capability
        else "install or enable a plugin that registers it"
    )


class Services:
    """Service instances by type, with the plugin that provided each."""

    def __init__(self) -> None:
        self._items: dict[type, Any] = {}
        self._owners: dict[type, str] = {}
        self._named: dict[str, Any] = {}

    def register(self, kind: type[S], instance: S, *, plugin: str = "<runtime>") -> None:
        """Provide ``instance`` as the ``kind`` service; a second provider is an error."""
        if kind in self._items:
            raise DuplicateNameError(
                "service", kind.__name__, self._owners[kind], plugin
            )
        self._items[kind] = instance
        self._owners[kind] = plugin
        name = capability_of(kind)
        if name is not None and kind.__name__.endswith("Service"):
            self._named.setdefault(name, instance)

    def get(self, kind: Callable[..., S]) -> S:
        """The ``kind`` service, or :class:`ServiceNotAvailable`.

        ``kind`` is typed as a callable so that a service protocol (an abstract class)
        can be passed without a ``type-abstract`` error; it is looked up as a type.
        """
        try:
            return cast(S, self._items[cast(type, kind)])
        except KeyError:
            raise ServiceNotAvailable(_name(kind), _hint(capability_of(cast(type, kind)))) from None

    def capability(self, name: str, kind_name: str) -> Any:
        """The service of capability ``name`` (its type is called ``kind_name``), or
        :class:`ServiceNotAvailable`."""
        try:
            return self._named[name]
        except KeyError:
            raise ServiceNotAvailable(kind_name, _hint(name)) from None

    def find_capability(self, name: str) -> Any | None:
        """The service of capability ``name``, or None."""
        return self._named.get(name)

    def find(self, kind: Callable[..., S]) -> S | None:
        """The ``kind`` service, or None."""
        return cast("S | None", self._items.get(cast(type, kind)))

    def __contains__(self, kind: object) -> bool:
        return kind in self._items

    def owner(self, kind: type) -> str | None:
        return self._owners.get(kind)

    def items(self) -> list[tuple[type, str, Any]]:
        """(type, providing plugin, instance) for every service."""
        return [(k, self._owners[k], v) for k, v in self._items.items()]

    def clear(self) -> None:
        self._items.clear()
        self._owners.clear()
        self._named.clear()


class StashKey(Generic[T]):
    """A typed key into a :class:`Stash`; create one per module at import time."""

    __slots__ = ("name",)

    def __init__(self, name: str = "") -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"StashKey({self.name!r})"


class Stash:
    """Per-kernel typed storage for plugins, instead of attributes on core objects."""

    def __init__(self) -> None:
        self._data: dict[StashKey[Any], Any] = {}

    def __setitem__(self, key: StashKey[T], value: T) -> None:
        self._data[key] = value

    def __getitem__(self, key: StashKey[T]) -> T:
        return cast(T, self._data[key])

    def get(self, key: StashKey[T], default: D) -> T | D:
        return cast("T | D", self._data.get(key, default))

    def setdefault(self, key: StashKey[T], default: T) -> T:
        return cast(T, self._data.setdefault(key, default))

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __delitem__(self, key: StashKey[Any]) -> None:
        del self._data[key]
