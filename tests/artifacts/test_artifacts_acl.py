"""Ownership, permissions, grants, revocation, and the record of every denial."""

from __future__ import annotations

from typing import Any

import pytest

from llmspell import Kernel, Principal
from llmspell.errors import PermissionDenied, ValidationError
from llmspell.plugins.artifacts.api import ArtifactScope

ALICE = Principal.user("alice")
BOB = Principal.user("bob")


async def test_session_artifact_grant_and_revoke(akernel: Kernel, events: Any) -> None:
    arts = akernel.artifacts
    alice_ctx = await akernel.context(session_id="s-alice", user_id="alice")
    ref = await arts.save("notes.md", b"private", ctx=alice_ctx)
    assert (await arts.acl(ref)).owned_by == "user:alice"
    assert await arts.load(ref, ctx=alice_ctx) == b"private"

    with pytest.raises(PermissionDenied) as denied:
        await arts.load(ref, principal=BOB)
    message = str(denied.value)
    assert "user:bob" in message and str(ref.id) in message and "'read'" in message
    assert (denied.value.principal, denied.value.permission) == ("user:bob", "read")

    await arts.grant(ref, BOB, ["read"], ctx=alice_ctx)
    assert await arts.load(ref, principal=BOB) == b"private"
    with pytest.raises(PermissionDenied, match="'write'"):
        await arts.save("notes.md", b"bob was here", session_id="s-alice", principal=BOB)

    await arts.revoke(ref, "user:bob", ctx=alice_ctx)
    with pytest.raises(PermissionDenied):
        await arts.load(ref, principal=BOB)
    with pytest.raises(PermissionDenied):
        await arts.open(ref, principal=BOB)
    with pytest.raises(PermissionDenied):
        await arts.stat(ref, principal=BOB)

    denials = events.of("artifact.denied")
    assert [(e.payload["principal"], e.payload["permission"]) for e in denials] == [
        ("user:bob", "read"), ("user:bob", "write"), ("user:bob", "read"), ("user:bob", "read"), ("user:bob", "read"),
    ]
    assert all(e.payload["artifact"] == str(ref.id) for e in denials)
    assert len(arts.denials) == 5


async def test_session_owner_comes_from_user_id_or_context(akernel: Kernel) -> None:
    arts = akernel.artifacts
    ref = await arts.save("a.txt", b"x", session_id="s1", user_id="alice")
    assert (await arts.acl(ref)).owned_by == "user:alice"
    ref = await arts.save("b.txt", b"x", session_id="s2", principal=BOB)
    assert (await arts.acl(ref)).owned_by == "user:bob"
    ref = await arts.save("c.txt", b"x", session_id="s3")
    assert (await arts.acl(ref)).owned_by == "system:system"


async def test_session_owner_comes_from_the_sessions_service(make_kernel: Any) -> None:
    from llmspell import hookimpl
    from llmspell.plugins.sessions.api import SessionService

    class Sessions:
        async def get(self, session_id: str) -> Any:
            return type("S", (), {"id": session_id, "user_id": "carol"})()

        async def create(self, **fields: Any) -> Any:
            raise NotImplementedError

    class Plugin:
        @hookimpl
        def llmspell_register_services(self, kernel: Any, register: Any) -> None:
            register(SessionService, Sessions())

    async with make_kernel({"artifacts": {"backend": "memory", "metadata": "memory"}}, plugins=[Plugin()], disable=["sessions"]) as kernel:
        ref = await kernel.artifacts.save("report.md", b"# hi", session_id="s1")
        assert (await kernel.artifacts.acl(ref)).owned_by == "user:carol"
        assert await kernel.artifacts.load(ref, principal=Principal.user("carol")) == b"# hi"


async def test_user_scope_is_its_users(akernel: Kernel) -> None:
    arts = akernel.artifacts
    await arts.save("prefs.json", b"{}", user_id="alice")
    with pytest.raises(PermissionDenied, match="'write'"):
        await arts.save("new.txt", b"x", user_id="alice", principal=BOB)
    await arts.save("mine.txt", b"x", user_id="bob", principal=BOB)
    assert [m.ref.name for m in (await arts.list(principal=BOB)).items] == ["mine.txt"]
    assert {m.ref.name for m in (await arts.list()).items} == {"prefs.json", "mine.txt"}


async def test_share_delete_and_wildcards(akernel: Kernel) -> None:
    arts = akernel.artifacts
    ref = await arts.save("doc.txt", b"x", user_id="alice")
    with pytest.raises(PermissionDenied, match="'share'"):
        await arts.grant(ref, BOB, ["read"], principal=BOB)
    await arts.grant(ref, BOB, ["read", "share"], principal=ALICE)
    carol = Principal.user("carol")
    await arts.grant(ref, carol, "read", principal=BOB)
    assert await arts.load(ref, principal=carol) == b"x"
    with pytest.raises(PermissionDenied, match="'delete'"):
        await arts.delete(ref, principal=BOB)
    await arts.grant(ref, "user:*", ["read"], principal=ALICE)
    assert await arts.load(ref, principal=Principal.user("anyone")) == b"x"
    with pytest.raises(PermissionDenied):
        await arts.load(ref, principal=Principal.app("other-app"))
    await arts.grant(ref, "app:other-app", ["read", "delete"], principal=ALICE)
    assert await arts.delete(ref, principal=Principal.app("other-app")) == [ref]
    acl = None
    with pytest.raises(ValidationError):
        await arts.grant("doc.txt", "nobody", ["read"], user_id="alice")
    assert acl is None


async def test_bad_grants(akernel: Kernel) -> None:
    ref = await akernel.artifacts.save("doc.txt", b"x")
    with pytest.raises(ValidationError, match="grantee"):
        await akernel.artifacts.grant(ref, "bob", ["read"])
    with pytest.raises(ValidationError, match="permission"):
        await akernel.artifacts.grant(ref, BOB, ["fly"])


async def test_app_scope_and_admins(akernel: Kernel) -> None:
    arts = akernel.artifacts
    app = Principal.app("app")
    ref = await arts.save("config.yaml", b"a: 1", principal=app)
    assert (await arts.acl(ref)).owned_by == "app:app"
    with pytest.raises(PermissionDenied):
        await arts.load(ref, principal=ALICE)
    admin = Principal.user("root", "admin")
    assert await arts.load(ref, principal=admin) == b"a: 1"
    with pytest.raises(PermissionDenied):
        await arts.save("x.txt", b"x", scope=ArtifactScope.app("app"), principal=ALICE)


async def test_admin_operations_need_an_admin(akernel: Kernel, events: Any) -> None:
    with pytest.raises(PermissionDenied):
        await akernel.artifacts.gc(principal=ALICE)
    with pytest.raises(PermissionDenied):
        await akernel.artifacts.apply_retention(principal=ALICE)
    assert len(events.of("artifact.denied")) == 2
    report = await akernel.artifacts.gc(principal=Principal.system())
    assert report.bytes_freed == 0
