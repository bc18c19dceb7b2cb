"""The hook policy, each hook function's statistics, and the circuit breakers over them.

A hook that fails or runs over its time budget ``threshold`` times in a row is switched
off by its breaker ("open"); after ``cooldown`` seconds it lets one trial call through
("half-open"): a success closes it, a failure opens it again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import attrs

from llmspell.errors import HookError

__all__ = ["HookPolicy", "HookStats", "Breakers"]

log = logging.getLogger("llmspell.hooks")


@attrs.frozen
class HookPolicy:
    """How hooks are protected; the ``[hook_policy]`` config section."""

    strict: bool = False
    """A raising hook makes the call fail (with :class:`HookError`) instead of being skipped."""
    budget: float = 1.0
    """Seconds a hook may take before the call counts as slow for its breaker."""
    threshold: int = 5
    """Consecutive failures or slow calls that open a hook's circuit breaker."""
    cooldown: float = 30.0
    """Seconds an open breaker waits before letting one trial call through."""
    max_retries: int = 3
    """Most times a Retry result re-runs one call."""
    backoff: float = 0.05
    """First retry delay in seconds; doubles on each further retry."""
    backoff_max: float = 2.0


@attrs.define
class HookStats:
    """Counters and breaker state of one hook function at one point."""

    name: str
    point: str
    origin: str
    priority: int
    calls: int = 0
    errors: int = 0
    slow: int = 0
    skipped: int = 0
    total_time: float = 0.0
    consecutive_failures: int = 0
    breaker: str = "closed"
    opened_at: float | None = None
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


class Breakers:
    """The breakers of one kernel's hook functions: what happens after a hook ran or failed.

    ``on_breaker(stats, state)`` is told of every change (the plugin logs it and publishes
    ``hook.breaker``); ``clock`` is replaceable for tests.
    """

    def __init__(
        self,
        policy: HookPolicy,
        clock: Callable[[], float] = time.monotonic,
        on_breaker: Callable[[HookStats, str], Any] | None = None,
    ) -> None:
        self.policy = policy
        self.clock = clock
        self.on_breaker = on_breaker

    def admit(self, stats: HookStats) -> bool:
        """Whether a hook whose breaker is not closed may run now."""
        if stats.breaker == "open":
            if self.clock() - (stats.opened_at or 0.0) < self.policy.cooldown:
                stats.skipped += 1
                return False
            self.set(stats, "half-open")
        return True

    def errored(self, point: str, stats: HookStats, exc: Exception, elapsed: float) -> None:
        """A hook raised: counted, logged, and fatal under the strict policy."""
        stats.calls += 1
        stats.errors += 1
        stats.total_time += elapsed
        stats.last_error = f"{type(exc).__name__}: {exc}"
        if self.policy.strict:
            raise HookError(f"hook {stats.name!r} at {point!r} raised {stats.last_error}") from exc
        log.warning("hook %s at %s raised %s", stats.name, point, stats.last_error)
        self.failed(stats)

    def failed(self, stats: HookStats) -> None:
        """A hook failed or was slow: one more toward opening its breaker."""
        stats.consecutive_failures += 1
        if stats.breaker == "half-open" or (
            stats.breaker == "closed" and stats.consecutive_failures >= self.policy.threshold
        ):
            stats.opened_at = self.clock()
            self.set(stats, "open")

    def set(self, stats: HookStats, state: str) -> None:
        stats.breaker = state
        if state == "closed":
            stats.opened_at = None
        if self.on_breaker is not None:
            self.on_breaker(stats, state)
