"""Hook points, the hook context, hook results and the dispatcher that runs them.

A *hook point* is a named place in the code (``agent_before``, ``tool_after``,
``state_written`` ...). Three kinds of functions attach to a point:

* **plugin hooks**: ``@hookimpl`` functions named ``llmspell_<point>`` in a plugin;
* **runtime hooks**: ``kernel.hooks.register(point, fn, priority=...)`` or ``[[hooks]]``
  entries in the configuration;
* **callbacks**: ``kernel.callbacks.on(point, fn)`` or ``agent.callbacks.on(point, fn)``;
  they observe: their return value is ignored.

Each receives a :class:`HookCall` (plugin hooks may also take the point's named
arguments). A hook returns ``None`` to let the call continue, or one of
:class:`Replace`, :class:`Cancel`, :class:`Retry`. See ``docs/hooks.md`` for the rules;
in short:

*Order.* Every function has a priority, higher first. Runtime hooks and callbacks get the
one they were registered with (default 0). Plugin hooks get 0, ``TRYFIRST`` (1000) with
``tryfirst=True`` and ``TRYLAST`` (-1000) with ``trylast=True``. Ties: plugin hooks
first (in pluggy's order: the later registered plugin first), then kernel runtime hooks
and callbacks, then the agent's own callbacks, each in registration order. Plugin
``wrapper=True`` hooks wrap all of that, outermost first.

*Results.* ``Cancel`` stops the point at once and the call raises
:class:`~llmspell.errors.CancelledByHook`. Otherwise every function runs; ``Replace``
sets ``call.result`` (later hooks see it; in a *before* point the call itself is then
skipped); ``Retry`` in an *after* or *error* point runs the call again (before-hooks
included) with ``call.attempt`` increased, up to ``max_retries`` with exponential backoff.
Precedence within one point: Cancel > Retry > Replace > continue.

*Isolation.* A hook that raises is logged and counted, and the call goes on (unless the
policy is ``strict``). A hook that fails or runs over its time budget ``threshold``
times in a row is switched off by its circuit breaker, which half-opens after
``cooldown`` seconds: one successful call closes it again.

*Observation.* Observers (:mod:`llmspell.observe`) attached with
:meth:`Dispatcher.add_observer` see every unit of work, hook point run and hook function
outcome without taking part; tracing and ``LLMSPELL_DEBUG`` use them.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import time
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable
from contextlib import AbstractContextManager, ExitStack, nullcontext
from typing import TYPE_CHECKING, Any

import attrs

from .context import ExecutionContext
from .errors import CancelledByHook, HookError
from .observe import HookRun, Observer

if TYPE_CHECKING:
    import pluggy

__all__ = [
    "POINTS",
    "HookCall",
    "HookResult",
    "Replace",
    "Cancel",
    "Retry",
    "HookPolicy",
    "HookStats",
    "HookHandle",
    "Dispatcher",
    "CallbackSet",
    "TRYFIRST",
    "TRYLAST",
    "RENAMED",
    "Hooks",
    "Point",
    "Caller",
    "Step",
    "Deferred",
]

log = logging.getLogger("llmspell.hooks")

TRYFIRST = 1000
TRYLAST = -1000

def _points() -> dict[str, tuple[str, ...]]:
    """Every hook point and its named arguments besides ``call``, read from the specs.

    A hook point is a specification that takes ``call``; the list is declared once, in
    :mod:`llmspell.hookspecs`.
    """
    from . import hookspecs

    out: dict[str, tuple[str, ...]] = {}
    for name, spec in vars(hookspecs).items():
        if name.startswith("llmspell_") and callable(spec):
            params = tuple(inspect.signature(spec).parameters)
            if "call" in params:
                out[name.removeprefix("llmspell_")] = tuple(p for p in params if p != "call")
    return out


#: Every hook point and the named arguments its plugin hooks may take besides ``call``.
POINTS: dict[str, tuple[str, ...]] = _points()

#: Hook points renamed to the ``<area>_<when>`` scheme, old name -> new name. The old
#: names (as runtime hook points and as ``llmspell_<old>`` plugin hooks) still work for
#: one release, with a DeprecationWarning.
RENAMED: dict[str, str] = {
    "before_agent": "agent_before",
    "after_agent": "agent_after",
    "before_tool": "tool_before",
    "after_tool": "tool_after",
    "before_model": "model_before",
    "after_model": "model_after",
    "handoff": "agent_handoff",
    "state_write": "state_written",
    "event_publish": "event_before_publish",
}


def current_point(point: str, *, stacklevel: int = 3) -> str:
    """The current name of hook point ``point`` (warning when it is an old one)."""
    new = RENAMED.get(point)
    if new is None:
        return point
    warnings.warn(
        f"hook point {point!r} is now called {new!r}; the old name will be removed in the next release",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
    return new


#: Points whose plugin hooks may return a dict that is merged into ``call.result``.
_MERGING = frozenset({"agent_state_snapshot"})

#: Points around a call: (before, after, error) for each kind of component.
AROUND: dict[str, tuple[str, str, str]] = {
    "agent": ("agent_before", "agent_after", "agent_error"),
    "tool": ("tool_before", "tool_after", "tool_error"),
    "model": ("model_before", "model_after", "model_error"),
}


# -- results -------------------------------------------------------------------------


class HookResult:
    """Base of what a hook may return; ``None`` means continue."""

    __slots__ = ()


@attrs.frozen
class Replace(HookResult):
    """Use ``value`` as the result. In a *before* point the call itself is skipped."""

    value: Any


@attrs.frozen
class Cancel(HookResult):
    """Stop the call; it raises :class:`CancelledByHook` with this reason."""

    reason: str = "cancelled"


@attrs.frozen
class Retry(HookResult):
    """Run the call again (only meaningful in *after* and *error* points)."""

    reason: str = ""
    delay: float | None = None
    """Seconds to wait first; None uses the policy's exponential backoff."""


# -- the hook context ----------------------------------------------------------------


@attrs.define(eq=False)
class HookCall:
    """What a hook sees: the call, its context, its request and (later) its result.

    ``request`` may be changed in place or replaced (``call.request = new``); the call
    runs with whatever is there after the *before* point. ``result`` may likewise be
    changed by *after* hooks, or replaced with :class:`Replace`. ``scratch`` is shared
    by all hooks of one call, across its before/after/error points and retries.
    """

    point: str
    ctx: ExecutionContext | None = None
    component: Any = None
    request: Any = None
    result: Any = None
    error: BaseException | None = None
    attempt: int = 1
    started: float = attrs.field(factory=time.perf_counter)
    elapsed: float | None = None
    scratch: dict[str, Any] = attrs.Factory(dict)
    args: dict[str, Any] = attrs.Factory(dict)
    """The point's named arguments (``agent``, ``session``, ``change`` ...)."""
    replaced: bool = False
    outcome: HookResult | None = None
    """The winning :class:`Retry` or :class:`Replace` of the last point run, or None."""
    kernel: Any = None
    """The kernel running the call (its ``config``, services, plugins)."""


# -- policy, stats, breaker ----------------------------------------------------------


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


@attrs.define(eq=False)
class _Entry:
    name: str
    fn: Callable[..., Any]
    priority: int
    origin: str  # "plugin", "runtime", "callback", "agent"
    seq: int
    stats: HookStats
    observe: bool = False
    wrapper: bool = False
    handle: HookHandle | None = None
    step: Step = attrs.field(init=False)
    """This function's run with only ``call`` (runtime hooks and callbacks)."""

    def __attrs_post_init__(self) -> None:
        self.step = Step(self)


class Step:
    """One function's pending run at a hook point, as pluggy hands it back.

    A guarded plugin implementation returns a Step holding the arguments pluggy chose for
    it; the dispatcher runs the steps in order with isolation, statistics and breakers.
    """

    __slots__ = ("args", "entry", "kwargs")

    def __init__(self, entry: _Entry, args: tuple[Any, ...] | None = None, kwargs: dict[str, Any] | None = None) -> None:
        self.entry = entry
        self.args = args
        """Positional arguments (None: the function takes only the ``call``)."""
        self.kwargs = kwargs or {}

    def __repr__(self) -> str:
        return f"<step {self.entry.name} at {self.entry.stats.point}>"


class Wrap:
    """A plugin ``wrapper=True`` hook pending around what pluggy put inside it."""

    __slots__ = ("args", "entry", "inner", "kwargs")

    def __init__(self, entry: _Entry, args: tuple[Any, ...], kwargs: dict[str, Any], inner: list[Step] | Wrap) -> None:
        self.entry = entry
        self.args = args
        self.kwargs = kwargs
        self.inner = inner

    def __repr__(self) -> str:
        return f"<wrapper {self.entry.name} at {self.entry.stats.point}>"


def guard(point: str, impl: Any, stats: HookStats) -> Callable[..., Any]:
    """What pluggy calls instead of a plugin's hook point function: it returns a Step.

    The function runs later, when the dispatcher reaches its step (or, for a wrapper,
    its :class:`Wrap`).
    """
    priority = TRYFIRST if impl.tryfirst else TRYLAST if impl.trylast else 0
    wrapper = bool(impl.wrapper or impl.hookwrapper)
    entry = _Entry(impl.plugin_name, impl.function, priority, "plugin", -1, stats, wrapper=wrapper)
    if wrapper:

        def pending_wrapper(*args: Any, **kwargs: Any) -> Generator[None, Any, Wrap]:
            inner = yield
            return Wrap(entry, args, kwargs, inner)

        function: Callable[..., Any] = pending_wrapper
        if impl.hookwrapper:  # old-style: the result comes in a pluggy Result

            def pending_old_wrapper(*args: Any, **kwargs: Any) -> Generator[None, Any, None]:
                result = yield
                result.force_result(Wrap(entry, args, kwargs, result.get_result()))

            function = pending_old_wrapper
    else:
        simple = tuple(impl.argnames) == ("call",) and not impl.kwargnames

        def pending(*args: Any, **kwargs: Any) -> Step:
            return entry.step if simple else Step(entry, args, kwargs)

        function = pending
    function.entry = entry  # type: ignore[attr-defined]
    function.__wrapped__ = impl.function  # type: ignore[attr-defined]
    return function


class Deferred:
    """A plugin's pending run of a lifecycle, registration or context hook.

    pluggy hands these back in its own order; the kernel runs them in plugin load order
    (``tryfirst``/``trylast`` first and last), so that defaults come first and shutdown
    can run in reverse.
    """

    __slots__ = ("args", "band", "fn", "hook", "kwargs", "plugin")

    def __init__(self, impl: Any, hook: str, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.plugin: str = impl.plugin_name
        self.hook = hook
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.band = 0 if impl.tryfirst else 2 if impl.trylast else 1

    def run(self) -> Any:
        return self.fn(*self.args, **self.kwargs)

    def __repr__(self) -> str:
        return f"<{self.hook} of {self.plugin}>"


def defer(hook: str, impl: Any) -> Callable[..., Deferred]:
    """What pluggy calls instead of a plugin's lifecycle hook: it returns a :class:`Deferred`."""
    fn = impl.function

    def pending(*args: Any, **kwargs: Any) -> Deferred:
        return Deferred(impl, hook, fn, args, kwargs)

    pending.__wrapped__ = fn  # type: ignore[attr-defined]
    return pending


def _merge(plugin: list[Step], runtime: list[Step], extra: CallbackSet | None, point: str) -> list[Step]:
    """Plugin steps (in pluggy's order) and runtime ones, by priority (plugin first on ties)."""
    agent = [e.step for e in extra.entries(point)] if extra is not None else ()
    if not runtime and not agent:
        return plugin
    if not plugin and not agent:
        return runtime
    return sorted([*plugin, *runtime, *agent], key=lambda s: _sort_key(s.entry))


_seq = itertools.count()
_RANK = {"plugin": 0, "runtime": 1, "callback": 1, "agent": 2}


def _sort_key(entry: _Entry) -> tuple[int, int, int]:
    return (-entry.priority, _RANK[entry.origin], entry.seq)


@attrs.define(eq=False)
class HookHandle:
    """Returned by a registration; ``remove()`` takes the function off its point."""

    point: str
    name: str
    _owner: Any = attrs.field(repr=False)
    _entry: _Entry = attrs.field(repr=False)

    def remove(self) -> None:
        self._owner._remove(self.point, self._entry)


def _check_point(point: str) -> None:
    if point not in POINTS:
        raise HookError(
            f"unknown hook point {point!r}; hook points: {', '.join(sorted(POINTS))}"
        )


def _check_signature(fn: Callable[..., Any], point: str, label: str) -> None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(object())
    except TypeError:
        raise HookError(
            f"hook {label} for {point!r} must accept one argument (the HookCall); "
            f"its signature is {sig}"
        ) from None


def _name_of(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None) or "?"
    return f"{module}:{getattr(fn, '__qualname__', repr(fn))}"


class CallbackSet:
    """Runtime hooks or callbacks of one owner (the kernel, or one agent)."""

    def __init__(self, origin: str, *, observe: bool, on_change: Callable[[], None] | None = None) -> None:
        self._origin = origin
        self._observe = observe
        self._entries: dict[str, list[_Entry]] = {}
        self._on_change = on_change

    def register(
        self, point: str, fn: Callable[..., Any], *, priority: int = 0, name: str | None = None
    ) -> HookHandle:
        """Attach ``fn(call)`` (sync or async) to ``point``; returns a removable handle."""
        point = current_point(point)
        _check_point(point)
        if not callable(fn):
            raise HookError(f"hook for {point!r} is not callable: {fn!r}")
        label = name or _name_of(fn)
        _check_signature(fn, point, label)
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise HookError(f"hook priority must be an integer, got {priority!r}")
        entry = _Entry(
            name=label,
            fn=fn,
            priority=priority,
            origin=self._origin,
            seq=next(_seq),
            stats=HookStats(label, point, self._origin, priority),
            observe=self._observe,
        )
        handle = HookHandle(point, label, self, entry)
        entry.handle = handle
        self._entries.setdefault(point, []).append(entry)
        if self._on_change:
            self._on_change()
        return handle

    on = register

    def _remove(self, point: str, entry: _Entry) -> None:
        entries = self._entries.get(point, [])
        if entry in entries:
            entries.remove(entry)
            if not entries:
                del self._entries[point]
            if self._on_change:
                self._on_change()

    def entries(self, point: str) -> list[_Entry]:
        return self._entries.get(point, [])

    def __bool__(self) -> bool:
        return bool(self._entries)

    def points(self) -> list[str]:
        return list(self._entries)

    def all_entries(self) -> Iterable[_Entry]:
        for entries in self._entries.values():
            yield from entries


class Dispatcher:
    """Runs hook points: ordering, results, retries, isolation and circuit breakers.

    Every run goes through pluggy: ``pm.hook.llmspell_<point>(call=..., ...)`` is called,
    so pluggy's ordering, wrappers, tracing and hook-call monitoring see it. The plugin
    manager (:class:`llmspell._loader.PluginManager`) guards each implementation so that
    pluggy hands back one pending :class:`Step` per implementation instead of running
    it; the dispatcher then runs the steps, merged with runtime hooks and callbacks by
    priority, with isolation, statistics and circuit breakers.
    """

    def __init__(
        self,
        pm: pluggy.PluginManager,
        *,
        policy: HookPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_breaker: Callable[[HookStats, str], Any] | None = None,
        kernel: Any = None,
    ) -> None:
        self._pm = pm
        self.kernel = kernel
        self.policy = policy or HookPolicy()
        self.clock = clock
        self.on_breaker = on_breaker
        self.hooks = CallbackSet("runtime", observe=False, on_change=self.invalidate)
        self.callbacks = CallbackSet("callback", observe=True, on_change=self.invalidate)
        self._callers = {point: getattr(pm.hook, f"llmspell_{point}") for point in POINTS}
        self._cache: dict[str, list[Step]] = {}
        self._observers: tuple[Observer, ...] = ()
        self._active: set[str] = set()
        self.invalidate()

    # -- the ordered entries of a point ---------------------------------------------

    def invalidate(self) -> None:
        """Forget the cached order (plugins or runtime hooks changed)."""
        self._cache.clear()
        self._active = {p for p, caller in self._callers.items() if caller.get_hookimpls()}
        self._active |= set(self.hooks.points()) | set(self.callbacks.points())
        for observer in self._observers:
            self._active |= observer.points

    def active(self, point: str, extra: CallbackSet | None = None) -> bool:
        """Whether anything at all is attached to ``point`` (cheap: no pluggy call)."""
        return point in self._active or (extra is not None and bool(extra.entries(point)))

    def _runtime(self, point: str) -> list[Step]:
        """The kernel's runtime hooks and callbacks of ``point``, in priority order."""
        cached = self._cache.get(point)
        if cached is None:
            cached = [e.step for e in sorted(self.hooks.entries(point) + self.callbacks.entries(point), key=_sort_key)]
            self._cache[point] = cached
        return cached

    def entries(self, point: str, extra: CallbackSet | None = None) -> list[_Entry]:
        """Every function attached to ``point`` in call order (wrappers first)."""
        plugin = [
            impl.function.entry for impl in reversed(self._callers[point].get_hookimpls())
            if isinstance(getattr(impl.function, "entry", None), _Entry)
        ]
        wrappers = [e for e in plugin if e.wrapper]
        steps = _merge([e.step for e in plugin if not e.wrapper], self._runtime(point), extra, point)
        return wrappers + [s.entry for s in steps]

    def stats(self) -> list[HookStats]:
        """Counters and breaker state of every hook function seen so far."""
        seen = list(getattr(self._pm, "hook_stats", {}).values())
        for owner in (self.hooks, self.callbacks):
            seen.extend(e.stats for e in owner.all_entries())
        return seen

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
            return _NOTHING
        return self._enter_all([o.around(kind, call) for o in self._observers])

    @staticmethod
    def _enter_all(managers: list[AbstractContextManager[Any] | None]) -> AbstractContextManager[Any]:
        if len(managers) == 1:  # the usual case: one observer, no stack
            return managers[0] or _NOTHING
        return _All([m for m in managers if m is not None])

    # -- running a point -------------------------------------------------------------

    async def run(self, point: str, call: HookCall, extra: CallbackSet | None = None) -> HookCall:
        """Run every function attached to ``point`` and combine their results; returns ``call``.

        ``call.outcome`` is then the winning :class:`Retry` or :class:`Replace` (after
        setting ``call.result``), or None. Raises :class:`CancelledByHook` on :class:`Cancel`.
        """
        call.outcome = None
        if point not in self._active and (extra is None or not extra.entries(point)):
            return call
        call.point = point
        if call.kernel is None:
            call.kernel = self.kernel
        names = POINTS[point]
        if names:
            args = call.args
            pending = self._callers[point](call=call, **{n: call.ctx if n == "ctx" else args.get(n) for n in names})
        else:
            pending = self._callers[point](call=call)
        runtime = self._runtime(point)
        if self._observers:
            count = len(pending) + len(runtime) if isinstance(pending, list) else -1
            with self._enter_all([o.point(point, call, count) for o in self._observers]):
                call.outcome = await self._settle(point, call, pending, runtime, extra)
        elif pending.__class__ is list:
            call.outcome = await self._run_steps(point, call, _merge(pending, runtime, extra, point))
        else:
            call.outcome = await self._settle(point, call, pending, runtime, extra)
        return call

    async def _settle(
        self, point: str, call: HookCall, pending: list[Step] | Wrap, runtime: list[Step],
        extra: CallbackSet | None,
    ) -> HookResult | None:
        if isinstance(pending, list):
            return await self._run_steps(point, call, _merge(pending, runtime, extra, point))
        outcome = await self._run_wrapped(point, call, pending, runtime, extra)
        if isinstance(outcome, Cancel):
            raise CancelledByHook(pending.entry.name, point, outcome.reason)
        if isinstance(outcome, Replace):
            call.result = outcome.value
            call.replaced = True
        return outcome if isinstance(outcome, HookResult) else None

    async def _run_steps(self, point: str, call: HookCall, steps: list[Step]) -> HookResult | None:
        # The hot loop: one clock read per hook, no coroutine per hook.
        retry: Retry | None = None
        replaced: Replace | None = None
        clock = time.perf_counter
        budget = self.policy.budget
        observers = self._observers
        last = clock()
        for step in steps:
            entry = step.entry
            stats = entry.stats
            if stats.breaker != "closed" and not self._admit(stats):
                if observers:
                    self._report(point, call, entry, 0.0, "skipped")
                continue
            try:
                outcome = entry.fn(call) if step.args is None else entry.fn(*step.args, **step.kwargs)
                if outcome is not None and hasattr(outcome, "__await__"):
                    outcome = await outcome
            except (CancelledByHook, asyncio.CancelledError):
                raise
            except Exception as exc:  # noqa: BLE001 - isolation is the point
                now = clock()
                if observers:
                    self._report(point, call, entry, now - last, "error", f"{type(exc).__name__}: {exc}")
                self._errored(point, entry, exc, now - last)
                last = now
                continue
            now = clock()
            elapsed = now - last
            last = now
            if observers:
                self._report(point, call, entry, elapsed, _outcome(outcome, entry, point))
            stats.calls += 1
            stats.total_time += elapsed
            if elapsed > budget:
                stats.slow += 1
                self._failed(stats)
            elif stats.consecutive_failures:
                stats.consecutive_failures = 0
                if stats.breaker != "closed":
                    self._set_breaker(stats, "closed")
            if outcome is None or entry.observe:
                continue
            if isinstance(outcome, Cancel):
                raise CancelledByHook(entry.name, point, outcome.reason)
            if isinstance(outcome, Retry):
                retry = retry or outcome
            elif isinstance(outcome, Replace):
                call.result = outcome.value
                call.replaced = True
                replaced = outcome
            elif isinstance(outcome, dict) and point in _MERGING:
                call.result = {**(call.result or {}), **outcome}
        return retry or replaced

    async def _run_wrapped(
        self, point: str, call: HookCall, wrap: Wrap, runtime: list[Step], extra: CallbackSet | None
    ) -> Any:
        """Run one plugin wrapper around what pluggy put inside it (steps or another wrapper)."""
        entry = wrap.entry
        gen = entry.fn(*wrap.args, **wrap.kwargs)
        try:
            next(gen)
        except StopIteration:
            raise HookError(f"wrapper {entry.name!r} for {point!r} did not yield") from None
        error: BaseException | None = None
        outcome: Any = None
        try:
            if isinstance(wrap.inner, Wrap):
                outcome = await self._run_wrapped(point, call, wrap.inner, runtime, extra)
            else:
                outcome = await self._run_steps(point, call, _merge(wrap.inner, runtime, extra, point))
        except Exception as exc:
            error = exc
        try:
            if error is not None:
                gen.throw(error)
            else:
                gen.send(outcome)
        except StopIteration as stop:
            if stop.value is not None:
                outcome = stop.value
            return outcome
        raise HookError(f"wrapper {entry.name!r} for {point!r} yielded more than once")

    def _report(
        self, point: str, call: HookCall, entry: _Entry, elapsed: float, outcome: str, error: str | None = None
    ) -> None:
        run = HookRun(point, entry.name, entry.origin, entry.priority, elapsed, outcome, error)
        for observer in self._observers:
            observer.hook(run, call)

    def _admit(self, stats: HookStats) -> bool:
        """Whether a hook whose breaker is not closed may run now."""
        if stats.breaker == "open":
            if self.clock() - (stats.opened_at or 0.0) < self.policy.cooldown:
                stats.skipped += 1
                return False
            self._set_breaker(stats, "half-open")
        return True

    def _errored(self, point: str, entry: _Entry, exc: Exception, elapsed: float) -> None:
        stats = entry.stats
        stats.calls += 1
        stats.errors += 1
        stats.total_time += elapsed
        stats.last_error = f"{type(exc).__name__}: {exc}"
        if self.policy.strict:
            raise HookError(f"hook {entry.name!r} at {point!r} raised {stats.last_error}") from exc
        log.warning("hook %s at %s raised %s", entry.name, point, stats.last_error)
        self._failed(stats)

    def _failed(self, stats: HookStats) -> None:
        stats.consecutive_failures += 1
        if stats.breaker == "half-open" or (
            stats.breaker == "closed" and stats.consecutive_failures >= self.policy.threshold
        ):
            stats.opened_at = self.clock()
            self._set_breaker(stats, "open")

    def _set_breaker(self, stats: HookStats, state: str) -> None:
        stats.breaker = state
        if state == "closed":
            stats.opened_at = None
        if self.on_breaker is not None:
            self.on_breaker(stats, state)

    # -- running a component call between its before/after/error points -------------

    async def around(
        self,
        kind: str,
        call: HookCall,
        fn: Callable[[HookCall], Awaitable[Any]],
        extra: CallbackSet | None = None,
    ) -> Any:
        """Run ``fn(call)`` between the *before* and *after*/*error* points of ``kind``.

        ``fn`` reads ``call.request`` and returns the result. Handles Replace, Cancel
        and bounded Retry as described in the module docstring. Observers see the whole
        of it, retries included, as one unit of work of ``kind``.
        """
        if self._observers:
            with self._enter_all([o.around(kind, call) for o in self._observers]):
                call.result = await self._around(kind, call, fn, extra)  # (the fast path leaves it unset)
                return call.result
        return await self._around(kind, call, fn, extra)

    async def _around(
        self,
        kind: str,
        call: HookCall,
        fn: Callable[[HookCall], Awaitable[Any]],
        extra: CallbackSet | None,
    ) -> Any:
        before, after, error = AROUND[kind]
        active = self.active(before, extra) or self.active(after, extra) or self.active(error, extra)
        if not active:
            return await fn(call)
        policy = self.policy
        while True:
            call.result = None
            call.error = None
            call.replaced = False
            call.started = time.perf_counter()
            await self.run(before, call, extra)
            if not call.replaced:
                try:
                    call.result = await fn(call)
                except (CancelledByHook, asyncio.CancelledError):
                    raise
                except Exception as exc:
                    call.error = exc
                    call.elapsed = time.perf_counter() - call.started
                    outcome = (await self.run(error, call, extra)).outcome
                    if isinstance(outcome, Retry) and call.attempt <= policy.max_retries:
                        await self._backoff(call, outcome)
                        continue
                    if isinstance(outcome, Replace):
                        call.error = None
                        return call.result
                    raise
            call.elapsed = time.perf_counter() - call.started
            outcome = (await self.run(after, call, extra)).outcome
            if isinstance(outcome, Retry) and call.attempt <= policy.max_retries:
                await self._backoff(call, outcome)
                continue
            return call.result

    async def _backoff(self, call: HookCall, retry: Retry) -> None:
        policy = self.policy
        delay = retry.delay
        if delay is None:
            delay = min(policy.backoff * 2 ** (call.attempt - 1), policy.backoff_max)
        call.attempt += 1
        if delay > 0:
            await asyncio.sleep(delay)


# -- the facade: kernel.hook ------------------------------------------------------------


class Point:
    """``kernel.hook.<point>``: runs one hook point. True when anything is attached.

    ``call = await kernel.hook.state_before_write(request=write, ctx=ctx)`` builds the
    :class:`HookCall` (or takes one: ``await kernel.hook.agent_created(call)``), runs the
    point and returns the call, changed by the hooks. Named arguments other than ``ctx``,
    ``component`` and ``request`` are the point's arguments (``session=``, ``ref=``).
    With nothing attached it returns at once.
    """

    __slots__ = ("_dispatcher", "name")

    def __init__(self, dispatcher: Dispatcher, name: str) -> None:
        self._dispatcher = dispatcher
        self.name = name

    def __bool__(self) -> bool:
        return self.name in self._dispatcher._active

    def active(self, extra: CallbackSet | None = None) -> bool:
        """Whether anything is attached, counting an agent's own callbacks ``extra``."""
        return self._dispatcher.active(self.name, extra)

    def entries(self, extra: CallbackSet | None = None) -> list[_Entry]:
        """Every function attached, in call order (wrappers first)."""
        return self._dispatcher.entries(self.name, extra)

    def __call__(
        self, call: HookCall | None = None, /, *, extra: CallbackSet | None = None, **fields: Any
    ) -> Coroutine[Any, Any, HookCall]:
        if call is None:
            ctx = fields.pop("ctx", None)
            component = fields.pop("component", None)
            request = fields.pop("request", None)
            call = HookCall(self.name, ctx=ctx, component=component, request=request, args=fields)
        elif fields:
            if "ctx" in fields:
                call.ctx = fields.pop("ctx")
            call.args.update(fields)
        return self._dispatcher.run(self.name, call, extra)

    def __repr__(self) -> str:
        return f"<hook point {self.name}>"


class Caller:
    """``kernel.hook.<lifecycle hook>``: each plugin's pending run, in plugin order.

    ``for step in kernel.hook.startup(kernel=kernel): await step.run()``; the kernel runs
    its own lifecycle, registration and context hooks this way. ``plugin=`` keeps one
    plugin's run only.
    """

    __slots__ = ("_caller", "_steps", "name")

    def __init__(self, steps: Callable[..., list[Deferred]], caller: Any, name: str) -> None:
        self._steps = steps
        self._caller = caller
        self.name = name

    def __call__(self, *, plugin: str | None = None, **kwargs: Any) -> list[Deferred]:
        return self._steps(f"llmspell_{self.name}", plugin, **kwargs)

    def impls(self) -> list[Any]:
        """pluggy's implementations of this hook (without calling it)."""
        return list(self._caller.get_hookimpls())

    def __repr__(self) -> str:
        return f"<hook {self.name}>"


class Hooks:
    """``kernel.hook``: every hook of :mod:`llmspell.hookspecs`, by its name without ``llmspell_``.

    Hook points are :class:`Point` objects, every other hook a :class:`Caller`. All of
    them call pluggy (``pm.hook.llmspell_<name>``), so pluggy's ordering, wrappers,
    tracing and hook-call monitoring see every call. The attribute list below is checked
    against the specifications by a test.
    """

    register_config: Caller
    configure: Caller
    register_services: Caller
    startup: Caller
    shutdown: Caller
    register_commands: Caller
    register_state_backends: Caller
    register_session_backends: Caller
    register_event_backends: Caller
    register_event_transports: Caller
    register_artifact_backends: Caller
    register_artifact_metadata_backends: Caller
    register_artifact_codecs: Caller
    register_state_reducers: Caller
    register_state_migrations: Caller
    register_event_types: Caller
    register_agent_types: Caller
    register_model_providers: Caller
    register_tools: Caller
    context_enrich: Caller
    agent_before: Point
    agent_after: Point
    agent_error: Point
    tool_before: Point
    tool_after: Point
    tool_error: Point
    model_before: Point
    model_after: Point
    model_error: Point
    agent_handoff: Point
    agent_created: Point
    agent_initialize: Point
    agent_shutdown: Point
    agent_state_snapshot: Point
    agent_state_restore: Point
    session_created: Point
    session_transition: Point
    session_before_delete: Point
    session_expired: Point
    session_cleanup: Point
    state_before_write: Point
    state_written: Point
    artifact_before_save: Point
    artifact_saved: Point
    artifact_loaded: Point
    artifact_deleted: Point
    event_before_publish: Point

    def __init__(self, dispatcher: Dispatcher, steps: Callable[..., list[Deferred]]) -> None:
        from . import hookspecs

        self._dispatcher = dispatcher
        self.around = dispatcher.around
        for name in vars(hookspecs):
            if name.startswith("llmspell_"):
                short = name.removeprefix("llmspell_")
                caller = getattr(dispatcher._pm.hook, name)
                setattr(self, short, Point(dispatcher, short) if short in POINTS else Caller(steps, caller, short))

    def __getattr__(self, name: str) -> Any:  # only reached for names not set in __init__
        if name in RENAMED:
            return getattr(self, current_point(name))
        raise AttributeError(f"no hook {name!r}; hooks: {', '.join(sorted(vars(self)))}")

    around: Callable[..., Awaitable[Any]]
    """``await kernel.hook.around(kind, call, fn, extra=None)``: ``fn(call)`` between the
    ``<kind>_before`` and ``<kind>_after``/``<kind>_error`` points (:meth:`Dispatcher.around`)."""

_NOTHING: AbstractContextManager[Any] = nullcontext()


class _All:
    """Several observers' context managers entered as one, first to last, left in reverse."""

    def __init__(self, managers: list[AbstractContextManager[Any]]) -> None:
        self._managers = managers
        self._stack = ExitStack()

    def __enter__(self) -> None:
        try:
            for manager in self._managers:
                self._stack.enter_context(manager)
        except BaseException:
            self._stack.close()  # leave the ones already entered
            raise

    def __exit__(self, *exc: Any) -> bool:
        return bool(self._stack.__exit__(*exc))


def _outcome(outcome: Any, entry: _Entry, point: str) -> str:
    """How a hook function's return value counts (see :data:`llmspell.observe.OUTCOMES`)."""
    if outcome is None or entry.observe:
        return "continue"
    if isinstance(outcome, Cancel):
        return "cancel"
    if isinstance(outcome, Retry):
        return "retry"
    if isinstance(outcome, Replace):
        return "replace"
    if isinstance(outcome, dict) and point in _MERGING:
        return "merge"
    return "continue"
