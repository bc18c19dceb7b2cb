"""The ``[state]`` configuration section.

Example ``llmspell.toml``::

    [state]
    backend = "diskcache"          # or "memory", or a plugin's backend ("redis" ...)
    default_policy = "last_write_wins"

    [state.policies]               # key pattern (fnmatch glob) -> policy
    "visits" = "merge:counter_add"
    "cart.*" = "reject"

    [state.diskcache]
    directory = "state"            # under the data directory
"""

from __future__ import annotations

from typing import Any

import attrs

from llmspell.serde import MAX_VALUE_BYTES

__all__ = ["StateConfig", "DiskcacheOptions", "parse_policy"]


def _positive(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be greater than 0, got {value!r}")


def _not_negative(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative, got {value!r}")


@attrs.frozen
class DiskcacheOptions:
    """``[state.diskcache]``: the embedded default backend."""

    directory: str = "state"
    """Store directory; relative paths are under the kernel's data directory."""
    timeout: float = attrs.field(default=60.0, validator=_positive)
    """Seconds a write waits for another process's lock before failing."""
    threaded: bool = False
    """Run store calls in a worker thread instead of on the event loop. Off by default:
    a store call takes tens of microseconds, less than a thread hop."""


@attrs.frozen
class StateConfig:
    """``[state]``: backend choice, conflict policies, retries, limits, migrations."""

    backend: str = "diskcache"
    """Name of the state backend (``llmspell plugins`` lists the registered ones)."""
    app: str = "default"
    """Owner id of the ``app`` scope when none is given."""
    default_policy: str = "last_write_wins"
    """Policy of keys no pattern matches: ``last_write_wins``, ``reject`` or ``merge:<reducer>``."""
    policies: dict[str, str] = attrs.Factory(dict)
    """Key pattern (fnmatch glob, e.g. ``"counters.*"``) -> policy; the most specific wins."""
    update_retries: int = attrs.field(default=100, validator=_positive)
    """How many times ``update`` and merges retry a compare-and-set that lost a race."""
    retry_backoff: float = attrs.field(default=0.0005, validator=_not_negative)
    """First retry delay in seconds (randomised, doubling per attempt)."""
    retry_backoff_max: float = attrs.field(default=0.05, validator=_not_negative)
    max_value_bytes: int = attrs.field(default=MAX_VALUE_BYTES, validator=_positive)
    """Largest stored record (the value's JSON plus a small envelope), in bytes."""
    migrate_on_read: bool = True
    """Migrate an old record when it is read and write it back (compare-and-set)."""
    persist_agents: bool = True
    """Save and restore agents' state on their lifecycle hooks."""
    agent_snapshot_key: str = "snapshot"
    """Key of an agent's snapshot in scope ``agent``, owner = the agent's name."""
    diskcache: DiskcacheOptions = attrs.Factory(DiskcacheOptions)


def parse_policy(text: str) -> tuple[str, str | None]:
    """Split ``"merge:counter_add"`` into ``("merge", "counter_add")``; check the policy name.

    Raises ``ValueError`` with the allowed forms; reducer names are checked by the caller
    against the registry.
    """
    from llmspell.plugins.state.api import POLICIES

    policy, sep, reducer = text.partition(":")
    policy = policy.strip()
    if policy not in POLICIES:
        raise ValueError(
            f"unknown conflict policy {text!r} (allowed: last_write_wins, reject, merge:<reducer>)"
        )
    if policy == "merge":
        if not sep or not reducer.strip():
            raise ValueError(
                f"policy {text!r} needs a reducer: write merge:<reducer>, e.g. merge:counter_add"
            )
        return policy, reducer.strip()
    if sep:
        raise ValueError(f"policy {policy!r} takes no reducer (got {text!r})")
    return policy, None
