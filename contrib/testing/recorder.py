"""Record every hook call a kernel makes, for assertions in tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from llmspell.hooks import POINTS, current_point
from llmspell.plugins.hooks.api import Observer

if TYPE_CHECKING:
    from llmspell.kernel import Kernel

__all__ = ["HookRecorder", "RecordedCall"]


@attrs.frozen
class RecordedCall:
    """One hook call: the hook name (``llmspell_startup``) and its arguments."""

    name: str
    kwargs: dict[str, Any]


class HookRecorder:
    """Records every hook call of one kernel, through pluggy's hook-call monitoring.

    Lifecycle, registration, context and hook-point calls all go through pluggy, so all
    are seen; while recording, every hook point runs even with nothing attached.

    Use as a context manager, or call :meth:`stop`. ``recorder.names()`` lists the hook
    names in call order; ``recorder.calls("llmspell_agent_before")`` the calls of one.
    """

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.recorded: list[RecordedCall] = []
        self._undo: list[Callable[[], None]] = []
        self.start()

    def start(self) -> None:
        def before(name: str, impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
            self.recorded.append(RecordedCall(name, dict(kwargs)))

        def after(outcome: Any, name: str, impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
            return None

        self._undo.append(self.kernel.pm.add_hookcall_monitoring(before, after))

        self._undo.append(self.kernel.dispatcher.add_observer(_EveryPoint()))

    def stop(self) -> None:
        while self._undo:
            self._undo.pop()()

    def __enter__(self) -> HookRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def names(self) -> list[str]:
        return [c.name for c in self.recorded]

    def calls(self, name: str) -> list[RecordedCall]:
        if not name.startswith("llmspell_"):
            name = f"llmspell_{current_point(name)}"
        return [c for c in self.recorded if c.name == name]

    def clear(self) -> None:
        self.recorded.clear()


class _EveryPoint(Observer):
    """Makes every hook point run through pluggy, attached or not, so that it is recorded."""

    points = frozenset(POINTS)
