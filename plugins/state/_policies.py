"""Per-key conflict policies: what a plain ``set`` does when writers race.

* ``last_write_wins`` (the default): the write replaces whatever is stored.
* ``reject``: a write must be based on the version this scope handle last saw (by reading
  or writing the key); a key it never saw may only be created. A stale or blind write
  raises :class:`~llmspell.errors.ConflictError` with the current version and value.
* ``merge:<reducer>``: the stored value becomes ``reducer(current, written)``, applied
  under compare-and-set with retries, so concurrent writes all count.

A ``set(..., expected_version=n)`` is always a strict compare-and-set whatever the
policy, and ``update(key, fn)`` always retries ``fn``. Rules come from ``[state.policies]``
and from plugins (``kernel.state.set_policy(pattern, policy)``); a configured rule
replaces a plugin's rule for the same pattern. Patterns are fnmatch globs on the key; an
exact key beats any glob, and among globs the one with the most literal characters wins.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any

import attrs

from llmspell.errors import UnknownNameError, ValidationError
from llmspell.plugins.state.api import SCOPES
from llmspell.registry import Registry

from ._config import parse_policy

__all__ = ["Policy", "PolicyTable"]

_GLOB = frozenset("*?[")
_CACHE_LIMIT = 4096


@attrs.frozen
class Policy:
    """A resolved policy: its name, and for ``merge`` the reducer's name and function."""

    name: str
    reducer: str | None = None
    fn: Callable[[Any, Any], Any] | None = attrs.field(default=None, eq=False, repr=False)

    def __str__(self) -> str:
        return f"merge:{self.reducer}" if self.reducer else self.name


@attrs.frozen
class _Rule:
    pattern: str
    scope: str | None
    policy: Policy
    source: str


def _literal_chars(pattern: str) -> int:
    return sum(1 for ch in pattern if ch not in _GLOB)


class PolicyTable:
    """Rules by pattern, resolved per (scope, key) with a small cache."""

    def __init__(self, reducers: Registry[Any], default: str = "last_write_wins") -> None:
        self._reducers = reducers
        self.default = self.make(default)
        self._rules: dict[tuple[str | None, str], _Rule] = {}
        self._cache: dict[tuple[str, str], Policy] = {}
        self._ordered: list[_Rule] = []
        self.may_reject = self.default.name == "reject"

    def make(self, spec: str) -> Policy:
        """Build a policy from ``"reject"`` / ``"merge:counter_add"``; unknown names raise."""
        if not isinstance(spec, str):
            raise ValidationError(f"a conflict policy must be a string such as 'reject', got {spec!r:.60}")
        try:
            name, reducer = parse_policy(spec)
        except ValueError as exc:
            raise UnknownNameError(
                "conflict policy", spec, ["last_write_wins", "reject", "merge:<reducer>"]
            ) from exc
        if reducer is None:
            return Policy(name)
        return Policy(name, reducer, self._reducers.get(reducer))

    def set(self, pattern: str, spec: str, *, scope: str | None = None, source: str = "plugin") -> Policy:
        """Give keys matching ``pattern`` (in ``scope``, or any) the policy ``spec``."""
        if not isinstance(pattern, str) or not pattern:
            raise ValidationError(f"a policy pattern must be a non-empty string, got {pattern!r:.60}")
        if scope is not None and scope not in SCOPES:
            raise UnknownNameError("state scope", scope, SCOPES)
        policy = self.make(spec)
        slot = (scope, pattern)
        existing = self._rules.get(slot)
        if existing is not None and existing.source == "config" and source != "config":
            return existing.policy  # the user's configuration wins over a plugin's default
        self._rules[slot] = _Rule(pattern, scope, policy, source)
        self._reorder()
        return policy

    def _reorder(self) -> None:
        def rank(rule: _Rule) -> tuple[int, int, int]:
            exact = not (_GLOB & set(rule.pattern))
            return (0 if exact else 1, 0 if rule.scope else 1, -_literal_chars(rule.pattern))

        self._ordered = sorted(self._rules.values(), key=rank)
        self._cache.clear()
        self.may_reject = self.default.name == "reject" or any(
            r.policy.name == "reject" for r in self._ordered
        )

    def resolve(self, scope: str, key: str) -> Policy:
        """The policy of ``key`` in ``scope``."""
        if not self._ordered:
            return self.default
        cached = self._cache.get((scope, key))
        if cached is not None:
            return cached
        found = self.default
        for rule in self._ordered:
            if rule.scope is not None and rule.scope != scope:
                continue
            if rule.pattern == key or fnmatch.fnmatchcase(key, rule.pattern):
                found = rule.policy
                break
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[(scope, key)] = found
        return found

    def rules(self) -> list[dict[str, Any]]:
        """Every rule in resolution order (for ``llmspell state policies`` and docs)."""
        return [
            {"pattern": r.pattern, "scope": r.scope, "policy": str(r.policy), "source": r.source}
            for r in self._ordered
        ]
