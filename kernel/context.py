"""The execution context: who is asking, for which session, until when, with what.

An :class:`ExecutionContext` travels with every invocation (agent run, tool call, model
call). It carries ids, the acting :class:`Principal`, a deadline, a free ``data`` mapping
and access to the kernel's services (``ctx.service(StateService)``). A sub-call gets a
*child* context: new invocation id, the parent's id recorded, everything else inherited
unless overridden. Plugins add to a fresh context through the context-enrichment hook.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from .errors import ValidationError
from .ids import new_id

if TYPE_CHECKING:
    from .services import Services

__all__ = ["Principal", "ExecutionContext"]

S = TypeVar("S")
_PRINCIPAL = re.compile(r"(?P<kind>user|app|agent|system|anonymous):(?P<id>[A-Za-z0-9._@+=-]{1,128})")


@attrs.frozen
class Principal:
    """Who acts: a user, an agent, the application itself, the system, or nobody known.

    Only :meth:`system` makes the kernel's own principal; a ``Principal`` built from
    strings (``"system:x"``) is refused. :meth:`anonymous` is the principal of a call
    that names nobody: it owns nothing and passes no check it was not granted.
    """

    id: str
    kind: str = "user"
    roles: frozenset[str] = frozenset()

    @classmethod
    def user(cls, user_id: str, *roles: str) -> Principal:
        return cls(id=user_id, kind="user", roles=frozenset(roles))

    @classmethod
    def app(cls, app: str = "app") -> Principal:
        return cls(id=app, kind="app")

    @classmethod
    def system(cls) -> Principal:
        """The kernel itself; passes every access check."""
        return cls(id="system", kind="system", roles=frozenset({"admin"}))

    @classmethod
    def parse(cls, text: str) -> Principal:
        """``user:alice``, ``app:demo``, ``agent:bot`` or ``anonymous`` as a principal.

        A string never names the system: ``system:...`` is refused, so that nothing read
        from a request, a file, a setting or a command line gains the kernel's authority.
        """
        if text in ("anonymous", "anonymous:anonymous"):
            return cls.anonymous()
        match = _PRINCIPAL.fullmatch(text) if isinstance(text, str) else None
        if match is None or match["kind"] == "anonymous":
            raise ValidationError(
                f"invalid principal {text!r}: expected user:<id>, app:<name>, agent:<name> or anonymous"
            )
        if match["kind"] == "system":
            raise ValidationError(
                f"principal {text!r}: the system principal cannot be named by a string "
                "(use user:<id>, app:<name>, agent:<name> or anonymous)"
            )
        return cls(id=match["id"], kind=match["kind"])

    @classmethod
    def anonymous(cls) -> Principal:
        """Nobody known (a run without a user, an unnamed remote client): owns nothing."""
        return cls(id="anonymous", kind="anonymous")

    @property
    def is_admin(self) -> bool:
        return self.kind == "system" or ("admin" in self.roles and self.kind != "anonymous")

    @property
    def is_anonymous(self) -> bool:
        return self.kind == "anonymous"

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


@attrs.frozen(eq=False)
class ExecutionContext:
    """Everything an invocation knows about where it runs.

    ``data`` is the one mutable part: a dict shared by the hooks and code of one
    invocation. A child context starts with a copy of its parent's data.
    """

    invocation_id: str = attrs.field(factory=new_id)
    session_id: str | None = None
    user_id: str | None = None
    conversation_id: str | None = None
    parent_invocation_id: str | None = None
    trace_id: str = attrs.field(factory=new_id)
    app: str | None = None
    principal: Principal | None = None
    deadline: float | None = None
    """Monotonic-clock second (``time.monotonic()``) after which work should stop."""
    depth: int = 0
    data: dict[str, Any] = attrs.field(factory=dict)
    services: Services | None = attrs.field(default=None, repr=False)
    idempotency_key: str | None = None
    """In a tool of a journaled run: the same on every retry of this call (pass it to the
    system the tool acts on, so that a retried call is not applied twice)."""

    def service(self, kind: Callable[..., S]) -> S:
        """The service registered for ``kind``; a clear error when none is."""
        from .errors import ServiceNotAvailable

        if self.services is None:
            raise ServiceNotAvailable(getattr(kind, "__name__", str(kind)), "this context is not bound to a kernel")
        return self.services.get(kind)

    async def session(self) -> Any:
        """The session this context runs in, from the session service.

        Its ``state``, ``events()`` and artifacts (``session_id=ctx.session_id``) are the
        session-scoped resources of the invocation.
        """
        from .errors import ServiceNotAvailable

        if self.session_id is None:
            raise ValidationError("this context has no session (pass session= to kernel.run or kernel.context)")
        if self.services is None:
            raise ServiceNotAvailable("SessionService", "this context is not bound to a kernel")
        return await self.services.capability("sessions", "SessionService").get(self.session_id)

    async def ask(self, question: str, *, schema: Mapping[str, Any] | None = None) -> Any:
        """Pause the run until a person answers ``question`` (``kernel.resume(run_id, {"q1":
        Answer(...)})``), then return the answer; on replay, the recorded one. ``schema``: a
        JSON Schema the answer must match."""
        from .errors import ServiceNotAvailable

        if self.services is None:
            raise ServiceNotAvailable("RunService", "this context is not bound to a kernel")
        runs = self.services.capability("runs", "RunService")
        return await runs.ask(self, question, schema=schema)

    def child(self, **changes: Any) -> ExecutionContext:
        """A context for a sub-call: new invocation id, this one as parent, data copied."""
        data: Mapping[str, Any] = changes.pop("data", {})
        return attrs.evolve(
            self,
            invocation_id=changes.pop("invocation_id", new_id()),
            parent_invocation_id=self.invocation_id,
            depth=self.depth + 1,
            data={**self.data, **data},
            **changes,
        )

    def evolve(self, **changes: Any) -> ExecutionContext:
        """A copy with some fields changed (same invocation)."""
        return attrs.evolve(self, **changes)

    @property
    def acting(self) -> Principal:
        """The principal, defaulting to the user if there is one, else :meth:`Principal.anonymous`.

        A context never stands for the system by default: code that needs the kernel's
        authority says so (``principal=Principal.system()``) or calls a service without one.
        """
        if self.principal is not None:
            return self.principal
        if self.user_id is not None:
            return Principal.user(self.user_id)
        return Principal.anonymous()

    def remaining(self) -> float | None:
        """Seconds left before the deadline (may be negative), or None without one."""
        return None if self.deadline is None else self.deadline - time.monotonic()

    def with_timeout(self, seconds: float) -> ExecutionContext:
        """A copy whose deadline is at most ``seconds`` from now."""
        deadline = time.monotonic() + seconds
        if self.deadline is not None:
            deadline = min(deadline, self.deadline)
        return attrs.evolve(self, deadline=deadline)

