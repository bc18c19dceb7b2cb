"""What a built-in tool may reach: the run's session and the run's user, as the run's principal.

A tool is driven by a model or a remote client, so it never acts with the kernel's
authority: it acts as the run's principal (``ctx.acting``: the context's principal,
else its user, else :meth:`Principal.anonymous`, which owns nothing). Names resolve
only inside the scope the tool describes; a full reference (``artifact:user/alice/x@1``)
to anything but the run's own session or user is refused with :class:`PermissionDenied`
and recorded in the event log's ``audit`` stream, like every other denial.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from llmspell.context import ExecutionContext
from llmspell.errors import PermissionDenied, ValidationError
from llmspell.plugins.artifacts.api import ArtifactRef, principal_key, record_denial

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["Place", "artifact_place", "state_owner", "run_user"]

OUTSIDE = "outside the run's session and user"


def run_user(ctx: ExecutionContext) -> str | None:
    """The user the run acts for: the acting principal when it is a user."""
    who = ctx.acting
    return who.id if who.kind == "user" else None


@attrs.frozen
class Place:
    """Where a tool's artifact name lives: ``scope``/``owner`` and the bare ``name``."""

    scope: str
    owner: str
    name: str
    version: int | None = None

    def where(self, ctx: ExecutionContext) -> dict[str, Any]:
        """Keyword arguments for the artifact service: this place, acting as the run's principal."""
        return {"scope": self.scope, "owner": self.owner, "ctx": ctx}


async def _refuse(kernel: Kernel | None, ctx: ExecutionContext, resource: str, permission: str, kind: str,
                  reason: str) -> PermissionDenied:
    who = ctx.acting
    if kernel is not None:
        await record_denial(kernel, who, resource, permission, reason, kind=kind, ctx=ctx)
    return PermissionDenied(principal_key(who), resource, permission)


async def artifact_place(kernel: Kernel | None, ctx: ExecutionContext, name: str, permission: str) -> Place:
    """The place of ``name`` (a bare name or a full ref) for a tool run in ``ctx``.

    ``kernel`` (None: no audit record) receives the record of a refusal.
    A bare name is the run's session's artifact, else its user's. A ref must point into
    one of those two; anything else is refused and audited.
    """
    user = run_user(ctx)
    if name.startswith("artifact:"):
        ref = ArtifactRef.parse(name)
        mine = (ref.scope == "session" and ref.owner == ctx.session_id) or (ref.scope == "user" and ref.owner == user)
        if not mine:
            raise await _refuse(kernel, ctx, str(ref), permission, "artifact", OUTSIDE)
        return Place(ref.scope, ref.owner, ref.name, ref.version)
    if ctx.session_id is not None:
        return Place("session", ctx.session_id, name)
    if user is not None:
        return Place("user", user, name)
    raise ValidationError("this run has neither a session nor a user, so it has no artifacts")


async def state_owner(
    kernel: Kernel | None, ctx: ExecutionContext, scope: str | None, key: str, permission: str,
) -> tuple[str, str | None]:
    """(scope, owner) of a state tool's key: the run's session, its user, or the app.

    ``kernel`` (None: no audit record) receives the record of a refusal.

    The app scope is shared by every user of the application, so the anonymous
    principal (a run that names nobody) may not use it: refused and audited.
    """
    user = run_user(ctx)
    scope = scope or ("session" if ctx.session_id else "user" if user else "app")
    if scope == "session":
        if ctx.session_id is None:
            raise ValidationError("this run has no session, so the session scope cannot be used")
        return scope, ctx.session_id
    if scope == "user":
        if user is None:
            raise ValidationError("this run has no user, so the user scope cannot be used")
        return scope, user
    who = ctx.acting
    if who.is_anonymous:
        raise await _refuse(kernel, ctx, f"app/{key}", permission, "state", "the anonymous principal owns nothing")
    return "app", None
