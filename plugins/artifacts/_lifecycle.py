"""Deletion, grants, session cleanup and retention (gc and key rotation: :mod:`.maintenance`).

A :class:`Lifecycle` is built on the service's :class:`~.base.ArtifactCore`; the service
hands its methods of the same names to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import attrs

from llmspell import serde
from llmspell.errors import NotFoundError
from llmspell.plugins.artifacts.api import ArtifactAcl, ArtifactId, ArtifactRef
from llmspell.plugins.artifacts.backend import ArtifactQuery

from ._acl import check_permissions, grantee_key
from ._base import ArtifactCore
from ._maintenance import GcReport, RotationReport
from .backend import check_version

__all__ = ["Lifecycle", "GcReport", "RetentionReport", "RotationReport"]


@attrs.frozen
class RetentionReport:
    """Versions deleted by a retention sweep (or that would be, with ``dry_run``)."""

    dry_run: bool
    deleted: tuple[ArtifactRef, ...] = ()


class Lifecycle:
    """Operations that remove what is stored or change who may reach it."""

    def __init__(self, core: ArtifactCore) -> None:
        self.core = core

    # -- delete -----------------------------------------------------------------------

    async def delete(
        self, ref: ArtifactRef | str, *, version: int | None = None, all_versions: bool = False, **where: Any
    ) -> list[ArtifactRef]:
        """Delete one version (a ref, or ``version=``) or every version (a bare name, or
        ``all_versions=True``); returns the deleted refs. Needs ``delete``."""
        id_ = self.core.id_for(ref, where)
        who = self.core.who(where)
        acl = await self.core.index.get_acl(id_)
        if acl is None:
            raise NotFoundError(f"no artifact {id_}")
        await self.core.require(who, acl, "delete", id_)
        if version is None and not all_versions:
            if isinstance(ref, ArtifactRef):
                version = ref.version
            elif ref.startswith("artifact:"):
                version = ArtifactRef.parse(ref).version
        chosen = None if all_versions or version is None else [check_version(version)]
        if chosen is not None and await self.core.index.get(id_, version) is None:
            raise NotFoundError(f"no version {version} of {id_}")
        return await self.remove(id_, chosen, where.get("ctx"))

    async def remove(self, id_: ArtifactId, versions: list[int] | None, ctx: Any = None) -> list[ArtifactRef]:
        gone = [m.ref for m in await self.core.index.delete(id_, versions)]
        for ref in gone:
            await self.core.kernel.hook.artifact_deleted(ctx=ctx, ref=ref)
            await self.core.kernel.emit("artifact.deleted", {"ref": str(ref)}, source="artifacts")
        return gone

    # -- grants -----------------------------------------------------------------------

    async def acl(self, ref: ArtifactRef | str, **where: Any) -> ArtifactAcl:
        """Owner and grants of an artifact (needs ``read``)."""
        id_ = self.core.id_for(ref, where)
        acl = await self.core.index.get_acl(id_)
        if acl is None:
            raise NotFoundError(f"no artifact {id_}")
        await self.core.require(self.core.who(where), acl, "read", id_)
        return acl

    async def grant(
        self, ref: ArtifactRef | str, grantee: Any, permissions: Iterable[str] | str = ("read",), **where: Any
    ) -> ArtifactAcl:
        """Give ``grantee`` (a Principal, ``user:u2``, ``app:demo`` or ``user:*``) permissions
        on every version of an artifact. Needs ``share``."""
        key, perms = grantee_key(grantee), check_permissions(permissions)
        id_ = self.core.id_for(ref, where)
        acl = await self.core.index.get_acl(id_)
        if acl is None:
            raise NotFoundError(f"no artifact {id_}")
        await self.core.require(self.core.who(where), acl, "share", id_)
        grants = dict(acl.grants)
        grants[key] = tuple(sorted(set(grants.get(key, ())) | perms))
        updated = attrs.evolve(acl, grants=grants)
        await self.core.index.put_acl(updated)
        await self.core.kernel.emit("artifact.granted", {"artifact": str(id_), "grantee": key, "permissions": sorted(perms)}, source="artifacts")
        return updated

    async def revoke(
        self, ref: ArtifactRef | str, grantee: Any, permissions: Iterable[str] | str | None = None, **where: Any
    ) -> ArtifactAcl:
        """Take permissions (default: all) back from ``grantee``. Needs ``share``."""
        key = grantee_key(grantee)
        id_ = self.core.id_for(ref, where)
        acl = await self.core.index.get_acl(id_)
        if acl is None:
            raise NotFoundError(f"no artifact {id_}")
        await self.core.require(self.core.who(where), acl, "share", id_)
        grants = dict(acl.grants)
        left = set() if permissions is None else set(grants.get(key, ())) - check_permissions(permissions)
        if left:
            grants[key] = tuple(sorted(left))
        else:
            grants.pop(key, None)
        updated = attrs.evolve(acl, grants=grants)
        await self.core.index.put_acl(updated)
        await self.core.kernel.emit("artifact.revoked", {"artifact": str(id_), "grantee": key}, source="artifacts")
        return updated

    # -- sessions and retention ---------------------------------------------------------

    async def ids(self, scope: str | None, owner: str | None = None) -> list[ArtifactId]:
        ids, cursor = [], None
        while True:
            page = await self.core.index.query(ArtifactQuery(scope=scope, owner=owner, limit=500, cursor=cursor))
            ids += [m.ref.id for m in page.items]
            if page.next_cursor is None:
                return ids
            cursor = page.next_cursor

    async def delete_session(self, session_id: str) -> int:
        """Delete every artifact of a session now; returns the number of versions deleted.

        The sessions service calls this when a session is deleted (and the
        ``llmspell_session_cleanup`` hook does it for reason ``deleted``).
        """
        count = 0
        for id_ in await self.ids("session", session_id):
            count += len(await self.remove(id_, None))
        await self.core.index.forget_session(session_id)
        return count

    async def session_ended(self, session_id: str, *, at: datetime | None = None) -> int:
        """Note that a session ended; with ``session_end_days = 0`` its artifacts go at once."""
        policy = self.core.config.policy_for("session")
        if policy is None or policy.session_end_days is None:
            return 0
        if policy.session_end_days == 0:
            return await self.delete_session(session_id)
        await self.core.index.end_session(session_id, at or serde.utcnow())
        return 0

    async def keep_last(self, id_: ArtifactId, keep: int, *, dry_run: bool = False) -> list[ArtifactRef]:
        versions = await self.core.index.versions(id_)
        old = [m.ref.version for m in versions[: max(len(versions) - keep, 0)]]
        if not old:
            return []
        return [id_.at(v) for v in old] if dry_run else await self.remove(id_, old)

    async def apply_retention(self, *, now: datetime | None = None, dry_run: bool = False, **where: Any) -> RetentionReport:
        """Apply the configured retention policies to every scope (an admin operation)."""
        who = self.core.who(where)
        if not who.is_admin:
            await self.core.deny(who, "delete", ArtifactId("app", self.core.config.app, "retention"))
        now = now or serde.utcnow()
        deleted: list[ArtifactRef] = []
        for kind in ("session", "user", "app"):
            policy = self.core.config.policy_for(kind)
            if policy is None:
                continue
            if policy.keep_last is not None:
                for id_ in await self.ids(kind):
                    deleted += await self.keep_last(id_, policy.keep_last, dry_run=dry_run)
            if policy.max_age_days is not None:
                before = now - timedelta(days=policy.max_age_days)
                old = await self.core.index.query(ArtifactQuery(scope=kind, latest_only=False, created_before=before, limit=100_000))
                for meta in old.items:
                    if meta.ref in deleted:
                        continue
                    deleted += [meta.ref] if dry_run else await self.remove(meta.ref.id, [meta.ref.version])
            if kind == "session" and policy.session_end_days is not None:
                for session_id in await self.core.index.ended_sessions(now - timedelta(days=policy.session_end_days)):
                    if dry_run:
                        deleted += [m.ref for id_ in await self.ids("session", session_id) for m in await self.core.index.versions(id_)]
                    else:
                        for id_ in await self.ids("session", session_id):
                            deleted += await self.remove(id_, None)
                        await self.core.index.forget_session(session_id)
        return RetentionReport(dry_run, tuple(deleted))
