"""Observers: a read-only view of the dispatcher at work, for tracing and debugging.

An :class:`Observer` attached with ``kernel.dispatcher.add_observer(observer)`` sees

* every **unit of work**: a component call between its hook points (``agent``, ``tool``,
  ``model``; through ``kernel.hook.around``) and whatever a plugin marks with
  :func:`~llmspell.plugins.hooks.api.observe` (the agents plugin marks each top-level
  ``run``). :meth:`Observer.around` may return a
  context manager that is entered when the work starts and exited when it ends, with the
  exception if it failed, in the task that does the work;
* every **hook point run** (:meth:`Observer.point`, also a context manager or None), for
  the points that have functions attached and for the points the observer names in
  :attr:`Observer.points` even when nothing is attached (tracing wants ``agent_handoff`` and
  ``event_before_publish`` always);
* every **hook function** that ran at a point, with its time and outcome
  (:meth:`Observer.hook` with a :class:`HookRun`).

Observers only look: they cannot change a call's request or result, and they must not
raise. With no observer attached the dispatcher pays one truthiness test per call.
The OpenTelemetry plugin (``llmspell.contrib.otel``) and ``LLMSPELL_DEBUG=1``
(:class:`DebugObserver`) are observers.
"""

from __future__ import annotations

import contextvars
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from typing import Any, TextIO

import attrs

from llmspell.hooks import MERGING, Cancel, Entry, HookCall, Replace, Retry

__all__ = ["Observer", "HookRun", "DebugObserver", "OUTCOMES", "describe_component", "enter_all", "outcome_of"]

#: What a hook function's run came to, as :attr:`HookRun.outcome` says it.
OUTCOMES = ("continue", "replace", "cancel", "retry", "merge", "error", "skipped")


@attrs.frozen
class HookRun:
    """One hook function's run at one point."""

    point: str
    name: str
    origin: str
    """``plugin``, ``runtime``, ``callback`` or ``agent``."""
    priority: int
    elapsed: float
    """Seconds the function took (0 when its circuit breaker skipped it)."""
    outcome: str
    """One of :data:`OUTCOMES`; ``skipped``: its circuit breaker is open."""
    error: str | None = None
    """``Type: message`` of the exception it raised (outcome ``error``)."""


class Observer:
    """Base class of dispatcher observers; every method does nothing by default."""

    #: Points to see even when no function is attached to them (empty: only active points).
    points: frozenset[str] = frozenset()

    def around(self, kind: str, call: HookCall) -> AbstractContextManager[Any] | None:
        """A unit of work of ``kind`` (``run``, ``agent``, ``tool``, ``model``) starts.

        ``call.component`` is the agent, tool or model provider, ``call.ctx`` the
        execution context and ``call.request`` the request; after the work
        ``call.result``, ``call.attempt`` and ``call.replaced`` tell how it went.
        """
        return None

    def point(self, point: str, call: HookCall, functions: int) -> AbstractContextManager[Any] | None:
        """Hook point ``point`` runs with ``functions`` functions attached."""
        return None

    def hook(self, run: HookRun, call: HookCall) -> None:
        """A hook function finished at ``run.point`` (called once per function)."""


def describe_component(kind: str, call: HookCall) -> str:
    """A short label for the component of a call: ``agent helper``, ``tool calculator``."""
    component = call.component
    name = getattr(component, "name", None)
    if kind == "model":
        model = getattr(call.request, "model", None)
        return f"model {name or type(component).__name__}{f' ({model})' if model else ''}"
    return f"{kind} {name if name is not None else type(component).__name__}"


class DebugObserver(Observer):
    """Prints units of work, hook point runs and hook outcomes (``LLMSPELL_DEBUG=1``)."""

    def __init__(self, write: Callable[[str], Any] | None = None, stream: TextIO | None = None) -> None:
        self._write = write or (lambda text: (stream or sys.stderr).write(text))
        self._depth: contextvars.ContextVar[int] = contextvars.ContextVar("llmspell_debug_depth", default=0)

    def say(self, text: str) -> None:
        self._write(f"[llmspell] {'  ' * self._depth.get()}{text}\n")

    def around(self, kind: str, call: HookCall) -> AbstractContextManager[Any]:
        return self._span(describe_component(kind, call), call)

    @contextmanager
    def _span(self, label: str, call: HookCall) -> Iterator[None]:
        started = time.perf_counter()
        self.say(f"> {label}")
        token = self._depth.set(self._depth.get() + 1)
        outcome = "ok"
        try:
            yield
        except BaseException as exc:
            outcome = f"raised {type(exc).__name__}: {exc}"
            raise
        finally:
            self._depth.reset(token)
            extra = f", attempt {call.attempt}" if call.attempt > 1 else ""
            extra += ", replaced by a hook" if call.replaced else ""
            self.say(f"< {label} {outcome} ({(time.perf_counter() - started) * 1000:.2f} ms{extra})")

    def point(self, point: str, call: HookCall, functions: int) -> None:
        self.say(f"point {point}: {functions} function(s)")
        return None

    def hook(self, run: HookRun, call: HookCall) -> None:
        error = f" {run.error}" if run.error else ""
        self.say(f"  {run.name} ({run.origin}, priority {run.priority}): {run.outcome}{error} "
                 f"in {run.elapsed * 1000:.3f} ms")


#: The shared no-op context manager: a unit of work with no observer.
NOTHING: AbstractContextManager[Any] = nullcontext()


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


def enter_all(managers: list[AbstractContextManager[Any] | None]) -> AbstractContextManager[Any]:
    """The observers' context managers (None: nothing to enter) as one."""
    if len(managers) == 1:  # the usual case: one observer, no stack
        return managers[0] or NOTHING
    return _All([m for m in managers if m is not None])


def outcome_of(outcome: Any, entry: Entry, point: str) -> str:
    """How a hook function's return value counts (one of :data:`OUTCOMES`)."""
    if outcome is None or entry.observe:
        return "continue"
    if isinstance(outcome, Cancel):
        return "cancel"
    if isinstance(outcome, Retry):
        return "retry"
    if isinstance(outcome, Replace):
        return "replace"
    if isinstance(outcome, dict) and point in MERGING:
        return "merge"
    return "continue"
