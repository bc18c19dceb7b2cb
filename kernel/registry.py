"""Named registrations: backends, codecs, reducers, agent types, ... chosen by name.

Every ``llmspell_register_<kind>`` hook receives a ``register`` callable that adds to one
:class:`Registry`. A registration remembers the plugin that made it, so everything can
be listed with its origin (``llmspell plugins``). Names are unique per kind: a second
registration of a name fails with both owners named; an unknown name fails with the
list of registered ones.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Any, Generic, TypeVar

import attrs

from .errors import DuplicateNameError, UnknownNameError, _words

__all__ = ["Registration", "Registry"]

T = TypeVar("T")


@attrs.frozen
class Registration(Generic[T]):
    """One named thing a plugin registered."""

    kind: str
    name: Hashable
    value: T
    plugin: str
    description: str = ""
    options: dict[str, Any] = attrs.Factory(dict)


class Registry(Generic[T]):
    """The registrations of one kind (an identifier: ``"state_backend"``), in registration order."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.words = _words(kind)
        """The kind as messages print it: ``"state backend"``."""
        self._items: dict[Hashable, Registration[T]] = {}

    def add(
        self,
        name: Hashable,
        value: T,
        *,
        plugin: str = "<runtime>",
        description: str = "",
        **options: Any,
    ) -> Registration[T]:
        if isinstance(name, str) and not name:
            raise ValueError(f"a {self.words} needs a non-empty name")
        if name in self._items:
            raise DuplicateNameError(self.kind, str(name), self._items[name].plugin, plugin)
        item = Registration(self.kind, name, value, plugin, description, dict(options))
        self._items[name] = item
        return item

    def get(self, name: Hashable) -> T:
        return self.registration(name).value

    def registration(self, name: Hashable) -> Registration[T]:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.kind, str(name), (str(n) for n in self._items)) from None

    def find(self, name: Hashable) -> T | None:
        item = self._items.get(name)
        return None if item is None else item.value

    def remove(self, name: Hashable) -> None:
        self._items.pop(name, None)

    def names(self) -> list[Hashable]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[Registration[T]]:
        return iter(list(self._items.values()))

    def __len__(self) -> int:
        return len(self._items)

    def by_plugin(self, plugin: str) -> list[Registration[T]]:
        return [r for r in self._items.values() if r.plugin == plugin]
