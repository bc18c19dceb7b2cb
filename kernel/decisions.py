"""What a person decides about a paused run's pending item (``kernel.resume(run_id, {...})``).

An *approval* (a tool declared ``needs_approval``) takes :class:`Approve`, :class:`Edit` or
:class:`Reject`; a *question* (``await ctx.ask(...)``) takes :class:`Answer` (or
:class:`Reject`); a call *in doubt* (its process died while it ran) takes
:class:`~llmspell.hooks.Retry` (run it again), :class:`Answer` (this is its result) or
:class:`Reject`. ``note`` is kept in the run's history with who decided and when.
"""

from __future__ import annotations

from typing import Any

import attrs

from .hooks import Retry

__all__ = ["Decision", "Approve", "Edit", "Reject", "Answer", "Retry"]


@attrs.frozen
class Approve:
    """Run the call as it was shown."""

    note: str = ""


@attrs.frozen
class Edit:
    """Run the call with these arguments instead (checked against the tool's schema)."""

    args: dict[str, Any]
    note: str = ""


@attrs.frozen
class Reject:
    """Do not run it; the agent (its model) sees ``message`` as the call's result."""

    message: str = "rejected"
    note: str = ""


@attrs.frozen
class Answer:
    """The answer to a question, or the result of a call in doubt."""

    value: Any
    note: str = ""


Decision = Approve | Edit | Reject | Answer | Retry
"""Any of the decisions."""
