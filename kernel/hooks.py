"""Hook points, the hook call and its results, and the loop that runs plugin hooks.

A hook point's plugin hooks (``llmspell_<point>``) get a :class:`HookCall` (and the point's
arguments they name) and answer None, :class:`Replace`, :class:`Cancel` or :class:`Retry`
(``docs/hooks.md``). Every hook is called through pluggy by ``kernel.hook.<name>``
(:class:`Hooks`): :func:`guard` makes each implementation hand back its pending :class:`Step`
(a wrapper: a :class:`Wrap`) and :class:`CallLoop` runs them in pluggy's order. While pluggy
has no hook-call monitoring or tracing and a point has no wrapper, the loop runs the steps
pluggy would hand back, cached, without the pluggy call.

The kernel alone (the ``hooks`` plugin blocked) keeps the smallest rules (:func:`settle`): a
hook that raises is logged (``llmspell.hooks``) and skipped, so one plugin cannot break a
call, and ``kernel.hook.around`` never retries. The hooks plugin adds runtime hooks,
callbacks, statistics, breakers, observers and retries as the :class:`Extension`.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Generator, Iterable, Sequence
from typing import Any, Protocol

import attrs
import pluggy
from pluggy._callers import _multicall  # pluggy's own call loop: no monitoring installed

from . import hookspecs
from .context import ExecutionContext
from .errors import CancelledByHook, HookError, deprecated

__all__ = ["POINTS", "RENAMED", "MERGING", "TRYFIRST", "TRYLAST", "current_point", "HookCall", "HookResult",
           "Replace", "Cancel", "Retry", "settle", "Entry", "Step", "Wrap", "guard", "Deferred", "defer",
           "Extra", "Extension", "CallLoop", "Hooks", "Point", "Caller"]

log = logging.getLogger("llmspell.hooks")
TRYFIRST, TRYLAST = 1000, -1000


def _points() -> dict[str, tuple[str, ...]]:
    """Every hook point (a specification that takes ``call``) and its other arguments."""
    specs = {n[9:]: tuple(inspect.signature(f).parameters) for n, f in vars(hookspecs).items() if n[:9] == "llmspell_"}
    return {name: tuple(p for p in params if p != "call") for name, params in specs.items() if "call" in params}


#: Every hook point and the named arguments its plugin hooks may take besides ``call``.
POINTS: dict[str, tuple[str, ...]] = _points()
#: Hook points renamed to the ``<area>_<when>`` scheme, old name -> new name; the old names
#: (runtime hook points, ``llmspell_<old>`` plugin hooks) work for one more release.
RENAMED: dict[str, str] = {
    "before_agent": "agent_before", "after_agent": "agent_after", "before_tool": "tool_before",
    "after_tool": "tool_after", "before_model": "model_before", "after_model": "model_after",
    "handoff": "agent_handoff", "state_write": "state_written", "event_publish": "event_before_publish",
}
#: Points whose hooks may return a dict that is merged into ``call.result``.
MERGING = frozenset({"agent_state_snapshot"})


def current_point(point: str, *, stacklevel: int = 3) -> str:
    """The current name of hook point ``point`` (warning when it is an old one)."""
    if (new := RENAMED.get(point)) is not None:
        deprecated(f"hook point {point!r} is now called {new!r}; the old name will be removed in the next release",
                   stacklevel=stacklevel)
    return new or point


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
    """Run the call again (in *after* and *error* points); ``delay`` None: the policy's backoff."""
    reason: str = ""
    delay: float | None = None


@attrs.define(eq=False)
class HookCall:
    """What a hook sees: the call, its context, its request and (later) its result.

    ``request`` may be changed or replaced (the call runs with what is there after the *before*
    point); ``result`` likewise by *after* hooks, or with :class:`Replace`. ``scratch`` is shared
    by the hooks of one call, across its points and retries; ``args``: the point's named
    arguments; ``outcome``: the winning Retry or Replace of the last point run."""
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
    replaced: bool = False
    outcome: HookResult | None = None
    kernel: Any = None


def settle(point: str, call: HookCall, name: str, outcome: Any) -> HookResult | None:
    """Apply hook ``name``'s answer (Cancel raises, Replace sets the result, a dict merges at a
    merging point); the Retry or Replace that may win the point, else None."""
    if isinstance(outcome, Cancel):
        raise CancelledByHook(name, point, outcome.reason)
    if isinstance(outcome, Replace):
        call.result, call.replaced = outcome.value, True
    elif isinstance(outcome, dict) and point in MERGING:
        call.result = {**(call.result or {}), **outcome}
    return outcome if isinstance(outcome, Replace | Retry) else None


class Entry:
    """One function attached to a hook point: a plugin hook (made by :func:`guard`; ``simple``:
    it takes ``call`` alone), a runtime hook or a callback (made by the ``hooks`` plugin, whose
    ``stats`` they are)."""
    __slots__ = ("fn", "name", "observe", "origin", "priority", "seq", "simple", "stats", "step", "wrapper")

    def __init__(self, name: str, fn: Callable[..., Any], priority: int = 0, origin: str = "plugin", *, seq: int = -1,
                 observe: bool = False, wrapper: bool = False, simple: bool = True, stats: Any = None) -> None:
        self.name, self.fn, self.priority, self.origin, self.seq = name, fn, priority, origin, seq
        self.observe, self.wrapper, self.simple, self.stats = observe, wrapper, simple, stats
        self.step = Step(self)  # its run with the call alone


class Step:
    """One function's pending run: ``fn(call)`` if ``args`` is None, else ``fn(*args, **kwargs)``
    with the arguments pluggy chose (``fn`` and ``stats`` are its entry's, at hand)."""
    __slots__ = ("args", "entry", "fn", "kwargs", "stats")

    def __init__(self, entry: Entry, args: tuple[Any, ...] | None = None, kwargs: dict[str, Any] | None = None) -> None:
        self.entry, self.args, self.kwargs, self.fn, self.stats = entry, args, kwargs or {}, entry.fn, entry.stats


class Wrap:
    """A plugin ``wrapper=True`` hook pending around what pluggy put inside it."""
    __slots__ = ("args", "entry", "inner", "kwargs")

    def __init__(self, entry: Entry, args: tuple[Any, ...], kwargs: dict[str, Any], inner: list[Step] | Wrap) -> None:
        self.entry, self.args, self.kwargs, self.inner = entry, args, kwargs, inner


def guard(point: str, impl: Any) -> Callable[..., Any]:
    """What pluggy calls instead of a plugin's hook point function: it returns a Step (a
    wrapper: a Wrap); the function runs when the loop reaches it."""
    simple = tuple(impl.argnames) == ("call",) and not impl.kwargnames
    entry = Entry(impl.plugin_name, impl.function, TRYFIRST if impl.tryfirst else TRYLAST if impl.trylast else 0,
                  wrapper=bool(impl.wrapper or impl.hookwrapper), simple=simple)

    def step(*args: Any, **kwargs: Any) -> Step:
        return entry.step if simple else Step(entry, args, kwargs)

    def wrap(*args: Any, **kwargs: Any) -> Generator[None, Any, Wrap]:
        return Wrap(entry, args, kwargs, (yield))

    def old_wrap(*args: Any, **kwargs: Any) -> Generator[None, Any, None]:  # old-style: in a pluggy Result
        result = yield
        result.force_result(Wrap(entry, args, kwargs, result.get_result()))

    function: Any = old_wrap if impl.hookwrapper else wrap if impl.wrapper else step
    function.entry, function.__wrapped__ = entry, impl.function
    return function  # type: ignore[no-any-return]


class Deferred:
    """A plugin's pending run of a lifecycle, registration or context hook; the kernel runs
    them in plugin load order (``band``: tryfirst 0, trylast 2), shutdown in reverse."""
    __slots__ = ("args", "band", "fn", "hook", "kwargs", "plugin")

    def __init__(self, impl: Any, hook: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.plugin: str = impl.plugin_name
        self.hook, self.fn, self.args, self.kwargs = hook, fn, args, kwargs
        self.band = 0 if impl.tryfirst else 2 if impl.trylast else 1

    def run(self) -> Any:
        return self.fn(*self.args, **self.kwargs)


def defer(hook: str, impl: Any) -> Callable[..., Deferred]:
    """What pluggy calls instead of a plugin's lifecycle hook: it returns a :class:`Deferred`."""
    pending = functools.partial(Deferred, impl, hook, impl.function)
    pending.__wrapped__ = impl.function  # type: ignore[attr-defined]
    return pending


class Extra(Protocol):
    """More functions for one run (``extra=``: an agent's callbacks)."""
    def entries(self, point: str) -> Sequence[Entry]: ...


class Extension(Protocol):
    """What ``kernel.hook.extend`` installs. ``points()``: points to run with no plugin hook (asked
    on every :meth:`CallLoop.invalidate`); ``run``: run a point's plugin ``steps`` (pluggy's order)
    with its own, :func:`settle` each answer, return the winning one; ``around``: as the kernel's."""

    def points(self) -> Iterable[str]: ...
    async def run(self, point: str, call: HookCall, steps: list[Step], extra: Extra | None) -> HookResult | None: ...
    async def around(self, kind: str, call: HookCall, fn: Callable[[HookCall], Awaitable[Any]], extra: Extra | None) -> Any: ...


class CallLoop:
    """Runs hook points: pluggy's steps in its order, in their wrappers, by the :class:`Extension` or itself."""

    def __init__(self, pm: pluggy.PluginManager, kernel: Any = None) -> None:
        self._pm, self.kernel = pm, kernel
        self.extension: Extension | None = None
        self._callers = {point: getattr(pm.hook, f"llmspell_{point}") for point in POINTS}
        self._ready: dict[str, list[Step] | None] = {}  # per point: its steps, if all take ``call`` alone
        self.attached: set[str] = set()  # the points with anything attached
        self._run: Callable[[str, HookCall, list[Step], Extra | None], Awaitable[HookResult | None]] = self._steps
        self.invalidate()

    def invalidate(self) -> None:
        """Forget the cached steps (plugins or the extension's functions changed)."""
        self._ready.clear()
        self.attached = {p for p, caller in self._callers.items() if caller.get_hookimpls()}
        self.attached.update(self.extension.points() if self.extension is not None else ())

    def active(self, point: str, extra: Extra | None = None) -> bool:
        """Whether anything at all is attached to ``point`` (cheap: no pluggy call)."""
        return point in self.attached or (extra is not None and bool(extra.entries(point)))

    def entries(self, point: str) -> list[Entry]:
        """The plugin hooks of ``point`` (wrappers too) in pluggy's call order."""
        return [i.function.entry for i in reversed(self._callers[point].get_hookimpls()) if isinstance(getattr(i.function, "entry", None), Entry)]

    def _plan(self, point: str) -> list[Step] | None:
        entries = self.entries(point)  # (wrappers or named arguments: through pluggy)
        plan = self._ready[point] = [e.step for e in entries] if all(e.simple and not e.wrapper for e in entries) else None
        return plan

    async def run(self, point: str, call: HookCall, extra: Extra | None = None) -> HookCall:
        """Run ``point`` for ``call``; ``call.outcome`` is then the winning Retry or Replace, or None."""
        call.outcome = None
        if point not in self.attached and (extra is None or not extra.entries(point)):
            return call
        call.point = point
        call.kernel = call.kernel or self.kernel
        plan = (self._ready[point] if point in self._ready else self._plan(point)) \
            if self._pm._inner_hookexec is _multicall else None  # no monitoring, no tracing
        if plan is not None:
            call.outcome = await self._run(point, call, plan, extra)
            return call
        pending = self._callers[point](call=call, **{n: call.ctx if n == "ctx" else call.args.get(n) for n in POINTS[point]})
        if pending.__class__ is list:
            call.outcome = await self._run(point, call, pending, extra)
        else:
            outcome = await self._wrapped(point, call, pending, extra)
            call.outcome = None if outcome is None else settle(point, call, pending.entry.name, outcome)
        return call

    async def _wrapped(self, point: str, call: HookCall, wrap: Wrap, extra: Extra | None) -> Any:
        """Run one plugin wrapper around what pluggy put inside it (steps or another wrapper)."""
        gen, error, outcome = wrap.entry.fn(*wrap.args, **wrap.kwargs), None, None
        try:
            next(gen)
        except StopIteration:
            raise HookError(f"wrapper {wrap.entry.name!r} for {point!r} did not yield") from None
        try:
            inner = wrap.inner
            outcome = await (self._wrapped(point, call, inner, extra) if isinstance(inner, Wrap)
                             else self._run(point, call, inner, extra))
        except Exception as exc:
            error = exc
        try:
            gen.throw(error) if error is not None else gen.send(outcome)
        except StopIteration as stop:
            return outcome if stop.value is None else stop.value
        raise HookError(f"wrapper {wrap.entry.name!r} for {point!r} yielded more than once")

    async def _steps(self, point: str, call: HookCall, steps: list[Step], extra: Extra | None) -> HookResult | None:
        """The kernel's own loop, without an extension: a raising hook is logged and skipped."""
        won: HookResult | None = None
        for step in steps:
            try:
                outcome = step.fn(call) if step.args is None else step.fn(*step.args, **step.kwargs)
                if outcome is not None and hasattr(outcome, "__await__"):
                    outcome = await outcome
            except (CancelledByHook, asyncio.CancelledError):
                raise
            except Exception as exc:
                log.warning("hook %s at %s raised %s: %s", step.entry.name, point, type(exc).__name__, exc)
                continue
            answer = None if outcome is None else settle(point, call, step.entry.name, outcome)
            if answer is not None and not isinstance(won, Retry):  # the first Retry, else the last Replace
                won = answer
        return won

    async def around(self, kind: str, call: HookCall, fn: Callable[[HookCall], Awaitable[Any]], extra: Extra | None = None) -> Any:
        """``fn(call)`` once, between the points ``<kind>_before`` and ``<kind>_after`` (``_error``
        when it raises; a Replace there answers instead). ``call.outcome``: the last point's."""
        call.result, call.error, call.replaced, call.started = None, None, False, time.perf_counter()
        await self.run(f"{kind}_before", call, extra)
        if not call.replaced:
            try:
                call.result = await fn(call)
            except (CancelledByHook, asyncio.CancelledError):
                raise
            except Exception as exc:
                call.error, call.elapsed = exc, time.perf_counter() - call.started
                if isinstance((await self.run(f"{kind}_error", call, extra)).outcome, Replace):
                    call.error = None
                    return call.result
                raise
        call.elapsed = time.perf_counter() - call.started
        await self.run(f"{kind}_after", call, extra)
        return call.result


class Point:
    """``kernel.hook.<point>``: runs one hook point; true when anything is attached.

    ``call = await kernel.hook.state_before_write(request=write, ctx=ctx)`` builds the call
    (or takes one: ``await kernel.hook.agent_created(call)``), runs the point and returns the
    call, changed by the hooks; named arguments other than ``ctx``, ``component`` and ``request``
    are the point's (``session=``, ``ref=``)."""
    __slots__ = ("_loop", "name")

    def __init__(self, loop: CallLoop, name: str) -> None:
        self._loop, self.name = loop, name

    def __bool__(self) -> bool:
        return self.name in self._loop.attached

    def active(self, extra: Extra | None = None) -> bool:
        """Whether anything is attached, counting an agent's own callbacks ``extra``."""
        return self._loop.active(self.name, extra)

    async def __call__(self, call: HookCall | None = None, /, *, extra: Extra | None = None, **fields: Any) -> HookCall:
        if call is None:
            call = HookCall(self.name, fields.pop("ctx", None), fields.pop("component", None),
                            fields.pop("request", None), args=fields)
        elif fields:
            call.ctx = fields.pop("ctx", call.ctx)
            call.args.update(fields)
        loop, name = self._loop, self.name
        call.outcome = None
        if name not in loop.attached and (extra is None or not extra.entries(name)):
            return call
        steps = loop._ready.get(name)
        if steps is None or loop._pm._inner_hookexec is not _multicall:
            return await loop.run(name, call, extra)
        call.point = name  # (what loop.run does, one coroutine less)
        call.kernel = call.kernel or loop.kernel
        call.outcome = await loop._run(name, call, steps, extra)
        return call


class Caller:
    """``kernel.hook.<lifecycle hook>``: each plugin's pending run, in plugin order:
    ``for step in kernel.hook.startup(kernel=kernel): await step.run()`` (``plugin=``: one's)."""
    __slots__ = ("_caller", "_steps", "name")

    def __init__(self, steps: Callable[..., list[Deferred]], caller: Any, name: str) -> None:
        self._steps, self._caller, self.name = steps, caller, name

    def __call__(self, *, plugin: str | None = None, **kwargs: Any) -> list[Deferred]:
        return self._steps(f"llmspell_{self.name}", plugin, **kwargs)

    def impls(self) -> list[Any]:  # pluggy's implementations of this hook (without calling it)
        return list(self._caller.get_hookimpls())


class Hooks:
    """``kernel.hook``: every hook of :mod:`llmspell.hookspecs` by its name without ``llmspell_``, a
    :class:`Point` or a :class:`Caller`; a test checks the list below against the specifications."""

    # lifecycle, registration and context hooks: each plugin's pending run, in plugin order
    register_config: Caller
    configure: Caller
    register_services: Caller
    register_commands: Caller
    startup: Caller
    shutdown: Caller
    context_enrich: Caller
    register_tools: Caller
    register_state_backends: Caller
    register_state_reducers: Caller
    register_state_migrations: Caller
    register_session_backends: Caller
    register_event_backends: Caller
    register_event_types: Caller
    register_event_transports: Caller
    register_agent_types: Caller
    register_model_providers: Caller
    register_artifact_backends: Caller
    register_artifact_metadata_backends: Caller
    register_artifact_codecs: Caller
    # hook points
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
    session_expired: Point
    session_before_delete: Point
    session_cleanup: Point
    state_before_write: Point
    state_written: Point
    artifact_before_save: Point
    artifact_saved: Point
    artifact_loaded: Point
    artifact_deleted: Point
    event_before_publish: Point
    around: Callable[..., Awaitable[Any]]
    """``await kernel.hook.around(kind, call, fn, extra=None)``: ``fn(call)`` between the points
    of ``kind`` (``agent``, ``tool``, ``model``); the extension's (with retries) when installed."""

    def __init__(self, loop: CallLoop, steps: Callable[..., list[Deferred]]) -> None:
        self.loop, self.around = loop, loop.around
        for name in (n for n in vars(hookspecs) if n.startswith("llmspell_")):
            short = name.removeprefix("llmspell_")
            setattr(self, short, Point(loop, short) if short in POINTS else Caller(steps, getattr(loop._pm.hook, name), short))

    def extend(self, extension: Extension) -> None:
        """Install the loop's :class:`Extension` (the ``hooks`` plugin does): it runs every point from now on."""
        self.loop.extension, self.loop._run, self.around = extension, extension.run, extension.around
        self.loop.invalidate()

    def __getattr__(self, name: str) -> Any:  # only reached for names not set in __init__
        if name in RENAMED:
            return getattr(self, current_point(name))
        raise AttributeError(f"no hook {name!r}; hooks: {', '.join(sorted(vars(self)))}")
