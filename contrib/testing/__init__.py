"""The llmspell test kit: fixtures, a hook recorder and the backend contract suites.

Installed as a ``pytest11`` plugin, so any project with llmspell installed gets the
``kernel``, ``make_kernel`` and ``hook_recorder`` fixtures. A third-party backend runs
the contract suite of its kind by subclassing the suite class in its own tests (see
``docs/plugins.md``).
"""

from __future__ import annotations

from .recorder import HookRecorder

__all__ = ["HookRecorder"]
