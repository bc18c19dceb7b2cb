"""Who acts, who owns, and what they may do.

**The acting principal** of a call is ``principal=`` when given, else ``ctx.acting``
when ``ctx=`` is given (the context's principal, or its user, else the anonymous
principal), else the system: code that calls the service directly runs with the
kernel's authority, and agents, tools and servers pass the context of the request
they serve. A string never names the system (``principal="system:x"`` is refused):
only the object ``Principal.system()`` does.

**The owner** of a new artifact is its scope's natural owner: ``user:<id>`` in a user
scope, ``app:<name>`` in the app scope, and in a session scope the session's user when
known (from the sessions service, from ``user_id=`` passed with ``session_id=``, or from a
context bound to that session), else the principal that saves the first version.

**Permissions** are ``read``, ``write`` (save new versions), ``delete`` and ``share``
(grant and revoke). The owner holds all four; an admin principal (the system, or a
principal with the ``admin`` role) passes every check; anyone else needs a grant on
the artifact, to its principal (``user:u2``, ``app:demo``) or to every principal of
its kind (``user:*``). Creating a new name in a scope needs to be its owner. The
anonymous principal owns nothing: it passes only checks granted to ``anonymous:*``
and creates nothing.

**Every denial is audited**: :func:`record_denial` appends it to the event log's
``audit`` stream (:data:`AUDIT_STREAM`), where ``llmspell events replay audit`` and
other processes see it, also after a restart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from llmspell.context import ExecutionContext, Principal
from llmspell.errors import ValidationError
from llmspell.plugins.artifacts.api import PERMISSIONS, ArtifactAcl, principal_key, record_denial

__all__ = ["acting", "principal_key", "grantee_key", "allowed", "check_permissions",
           "record_denial"]


"""The event-log stream that holds every permission denial."""

_KINDS = ("user", "app", "agent", "system", "anonymous")
_GRANTEE = re.compile(r"(user|app|agent|system|anonymous):([A-Za-z0-9._@+=-]{1,128}|\*)")


def acting(ctx: ExecutionContext | None, principal: Principal | str | None) -> Principal:
    """The acting principal of one call (see the module docstring)."""
    if principal is not None:
        if isinstance(principal, Principal):
            return principal
        if not isinstance(principal, str):
            raise ValidationError(f"principal must be a Principal or a 'kind:id' string, got {type(principal).__name__}")
        return Principal.parse(principal)
    if ctx is not None:
        if not isinstance(ctx, ExecutionContext):
            raise ValidationError(f"ctx must be an ExecutionContext, got {type(ctx).__name__}")
        return ctx.acting
    return Principal.system()


def grantee_key(grantee: Principal | str) -> str:
    """``kind:id`` for a principal or a string such as ``user:u2`` or ``user:*``."""
    text = principal_key(grantee) if isinstance(grantee, Principal) else grantee
    if not isinstance(text, str) or not _GRANTEE.fullmatch(text):
        raise ValidationError(
            f"invalid grantee {grantee!r}: expected kind:id with kind one of {', '.join(_KINDS)} "
            "(or kind:* for every principal of a kind)"
        )
    return text


def check_permissions(permissions: object) -> frozenset[str]:
    if isinstance(permissions, str):
        permissions = (permissions,)
    if not isinstance(permissions, Iterable):
        raise ValidationError(f"permissions must be a list of names, got {permissions!r}")
    perms = frozenset(str(p) if isinstance(p, str) else repr(p) for p in permissions)
    bad = sorted(str(p) for p in perms if p not in PERMISSIONS)
    if bad or not perms:
        raise ValidationError(f"unknown permission(s) {bad or '[]'}; allowed: {', '.join(PERMISSIONS)}")
    return perms


def allowed(principal: Principal, acl: ArtifactAcl, permission: str) -> bool:
    """Whether ``principal`` holds ``permission`` on the artifact ``acl`` protects."""
    if principal.is_admin:
        return True
    key = principal_key(principal)
    if acl.owned_by == key and not principal.is_anonymous:
        return True
    return permission in acl.grants.get(key, ()) or permission in acl.grants.get(f"{principal.kind}:*", ())


