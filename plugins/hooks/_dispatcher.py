"""The hooks plugin's dispatcher: what it adds to the kernel's call loop.

The kernel's :class:`~llmspell.hooks.CallLoop` hands every hook point's plugin steps, in
pluggy's order, to the :class:`Dispatcher` installed as its extension. The dispatcher
merges them with runtime hooks and callbacks by priority, runs them with isolation,
statistics and circuit breakers (:mod:`._breakers`), shows them to observers
(:mod:`._observers`), and runs component calls between their points with bounded,
backed-off retries (``kernel.hook.around``).

*Results.* ``Cancel`` stops the point at once (the call raises ``CancelledByHook``).
Otherwise every function runs; ``Replace`` sets ``call.result`` (later hooks see it; in a
*before* point the call itself is skipped); ``Retry`` in an *after* or *error* point runs
the call again (before-hooks included) with ``call.attempt`` increased, up to
``max_retries`` with exponential backoff. Precedence: Cancel > Retry > Replace > continue.
A hook that raises is logged and counted, and the call goes on (unless the policy is
``strict``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any

from llmspell.errors import CancelledByHook
from llmspell.hooks import POINTS, CallLoop, Entry, Extra, HookCall, HookResult, Replace, Retry, Step, settle

from ._breakers import Breakers, HookPolicy, HookStats
from ._callbacks import CallbackSet, merge, sort_key
from ._observers import NOTHING, HookRun, Observer, enter_all, outcome_of

__all__ = ["Dispatcher"]

#: The points around a call of each kind of component: before, after, error.
_AROUND = {kind: (f"{kind}_before", f"{kind}_after", f"{kind}_error") for kind in ("agent", "tool", "model")}


class Dispatcher:
    """Runtime hooks, callbacks, policy, breakers and observers of one kernel (``kernel.dispatcher``).

    Built with the kernel's call loop; :meth:`install` makes it the loop's extension.
    """

    def __init__(
        self,
        loop: CallLoop,
        *,
        policy: HookPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_breaker: Callable[[HookStats, str], Any] | None = None,
    ) -> None:
        self._loop = loop
        self.breakers = Breakers(policy or HookPolicy(), clock, on_breaker)
        self.hooks = CallbackSet("runtime", observe=False, on_change=self.invalidate)
        self.callbacks = CallbackSet("callback", observe=True, on_change=self.invalidate)
        self._cache: dict[str, list[Step]] = {}
        self._merged: dict[str, tuple[list[Step], list[Step]]] = {}
        self._observers: tuple[Observer, ...] = ()
        self._plugin_stats: dict[tuple[str, str], HookStats] = {}
        """Counters of every plugin hook function at every point, kept across re-registration."""

    @property
    def policy(self) -> HookPolicy:
        return self.breakers.policy

    @policy.setter
    def policy(self, policy: HookPolicy) -> None:
        self.breakers.policy = policy

    # -- what is attached ----------------------------------------------------------------

    def points(self) -> Iterable[str]:
        """The points the loop must run (runtime hooks, callbacks, observed points); called
        on every change, it also gives new plugin hooks their statistics."""
        for point in POINTS:
            for entry in self._loop.entries(point):
                if entry.stats is None:
                    key = (point, entry.name)
                    stats = self._plugin_stats.get(key)
                    if stats is None:
                        stats = self._plugin_stats[key] = HookStats(entry.name, point, "plugin", entry.priority)
                    entry.stats = entry.step.stats = stats
        out = {*self.hooks.points(), *self.callbacks.points()}
        for observer in self._observers:
            out |= observer.points
        return out

    def invalidate(self) -> None:
        """Forget the cached order (runtime hooks, callbacks or observers changed)."""
        self._cache.clear()
        self._merged.clear()
        self._loop.invalidate()

    def active(self, point: str, extra: Extra | None = None) -> bool:
        """Whether anything at all is attached to ``point`` (cheap: no pluggy call)."""
        return self._loop.active(point, extra)

    def _runtime(self, point: str) -> list[Step]:
        """The kernel's runtime hooks and callbacks of ``point``, in priority order."""
        cached = self._cache.get(point)
        if cached is None:
            entries = self.hooks.entries(point) + self.callbacks.entries(point)
            cached = self._cache[point] = [e.step for e in sorted(entries, key=sort_key)]
        return cached

    def entries(self, point: str, extra: Extra | None = None) -> list[Entry]:
        """Every function attached to ``point`` in call order (wrappers first)."""
        plugin = self._loop.entries(point)
        steps = merge([e.step for e in plugin if not e.wrapper], self._runtime(point), extra, point)
        return [e for e in plugin if e.wrapper] + [s.entry for s in steps]

    def stats(self) -> list[HookStats]:
        """Counters and breaker state of every hook function seen so far."""
        seen = list(self._plugin_stats.values())
        for owner in (self.hooks, self.callbacks):
            seen.extend(e.stats for e in owner.all_entries())
        return seen

    # -- observers -------------------------------------------------------------------------

    def add_observer(self, observer: Observer) -> Callable[[], None]:
        """Let ``observer`` see the dispatcher work; returns a function that detaches it."""
        self._observers = (*self._observers, observer)
        self.invalidate()

        def stop() -> None:
            self._observers = tuple(o for o in self._observers if o is not observer)
            self.invalidate()

        return stop

    @property
    def observers(self) -> tuple[Observer, ...]:
        return self._observers

    def observe(self, kind: str, call: HookCall) -> AbstractContextManager[Any]:
        """A context manager around one unit of work of ``kind`` that observers see.

        ``with kernel.dispatcher.observe("run", HookCall("run", ctx=ctx, component=agent)):``.
        Without observers it is a shared no-op context manager.
        """
        if not self._observers:
            return NOTHING
        return enter_all([o.around(kind, call) for o in self._observers])

    def _report(self, point: str, call: HookCall, entry: Entry, elapsed: float, outcome: str,
                error: str | None = None) -> None:
        run = HookRun(point, entry.name, entry.origin, entry.priority, elapsed, outcome, error)
        for observer in self._observers:
            observer.hook(run, call)

    # -- running a point (the loop's extension) -------------------------------------------

    async def run(
        self, point: str, call: HookCall, steps: list[Step], extra: Extra | None, merged: bool = False
    ) -> HookResult | None:
        """Run ``point``'s plugin steps with the runtime hooks and callbacks, in one order
        (``merged``: ``steps`` are all of them, and observers have been told)."""
        if not merged:
            mine = self._merged.get(point)
            if mine is None or mine[0] is not steps:  # (the loop hands the same list while nothing changes)
                mine = self._merged[point] = (steps, merge(steps, self._runtime(point), None, point))
            steps = mine[1]
            if extra is not None and extra.entries(point):
                steps = merge(steps, [], extra, point)
            if self._observers:
                with enter_all([o.point(point, call, len(steps)) for o in self._observers]):
                    return await self.run(point, call, steps, None, True)
        # The hot loop: one clock read per hook, no coroutine per hook.
        retry: HookResult | None = None
        replaced: HookResult | None = None
        clock = time.perf_counter
        breakers = self.breakers
        budget = breakers.policy.budget
        observers = self._observers
        last = clock()
        for step in steps:
            stats = step.stats
            if stats.breaker != "closed" and not breakers.admit(stats):
                if observers:
                    self._report(point, call, step.entry, 0.0, "skipped")
                continue
            try:
                outcome = step.fn(call) if step.args is None else step.fn(*step.args, **step.kwargs)
                if outcome is not None and hasattr(outcome, "__await__"):
                    outcome = await outcome
            except (CancelledByHook, asyncio.CancelledError):
                raise
            except Exception as exc:  # noqa: BLE001 - isolation is the point
                now = clock()
                if observers:
                    self._report(point, call, step.entry, now - last, "error", f"{type(exc).__name__}: {exc}")
                breakers.errored(point, stats, exc, now - last)
                last = now
                continue
            now = clock()
            elapsed = now - last
            last = now
            if observers:
                self._report(point, call, step.entry, elapsed, outcome_of(outcome, step.entry, point))
            stats.calls += 1
            stats.total_time += elapsed
            if elapsed > budget:
                stats.slow += 1
                breakers.failed(stats)
            elif stats.consecutive_failures:
                stats.consecutive_failures = 0
                if stats.breaker != "closed":
                    breakers.set(stats, "closed")
            if outcome is None or step.entry.observe:
                continue
            answer = settle(point, call, step.entry.name, outcome)
            if isinstance(answer, Retry):
                retry = retry or answer
            elif answer is not None:
                replaced = answer
        return retry or replaced

    # -- a component call between its points ----------------------------------------------

    async def around(
        self, kind: str, call: HookCall, fn: Callable[[HookCall], Awaitable[Any]], extra: Extra | None = None,
        observed: bool = False,
    ) -> Any:
        """Run ``fn(call)`` between the *before* and *after*/*error* points of ``kind``.

        ``fn`` reads ``call.request`` and returns the result; a Retry at the *after* or
        *error* point runs it again, up to the policy's ``max_retries``. Observers see the
        whole of it, retries included, as one unit of work of ``kind`` (``observed``: they
        have been told).
        """
        if self._observers and not observed:
            with enter_all([o.around(kind, call) for o in self._observers]):
                call.result = await self.around(kind, call, fn, extra, True)  # (the fast path leaves it unset)
                return call.result
        attached = self._loop.attached  # (the kernel's set: no call into the kernel to test it)
        before, after, error = _AROUND.get(kind) or (f"{kind}_before", f"{kind}_after", f"{kind}_error")
        on_before = before in attached or (extra is not None and bool(extra.entries(before)))
        on_after = after in attached or (extra is not None and bool(extra.entries(after)))
        on_error = error in attached or (extra is not None and bool(extra.entries(error)))
        if not (on_before or on_after or on_error):
            return await fn(call)
        run = self._loop.run
        clock = time.perf_counter
        while True:
            call.result, call.error, call.replaced, call.started = None, None, False, clock()
            if on_before:
                await run(before, call, extra)
            if not call.replaced:
                try:
                    call.result = await fn(call)
                except (CancelledByHook, asyncio.CancelledError):
                    raise
                except Exception as exc:
                    call.error, call.elapsed = exc, clock() - call.started
                    outcome = (await run(error, call, extra)).outcome if on_error else None
                    if isinstance(outcome, Retry) and await self._retrying(call, outcome):
                        continue
                    if isinstance(outcome, Replace):
                        call.error = None
                        return call.result
                    raise
            call.elapsed = clock() - call.started
            outcome = (await run(after, call, extra)).outcome if on_after else None
            if isinstance(outcome, Retry) and await self._retrying(call, outcome):
                continue
            return call.result

    async def _retrying(self, call: HookCall, retry: Retry) -> bool:
        """Whether the policy allows ``retry``; waits first (exponential backoff by default)."""
        policy = self.policy
        if call.attempt > policy.max_retries:
            return False
        delay = retry.delay
        if delay is None:
            delay = min(policy.backoff * 2 ** (call.attempt - 1), policy.backoff_max)
        call.attempt += 1
        if delay > 0:
            await asyncio.sleep(delay)
        return True
