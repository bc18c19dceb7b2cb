"""Tools act for the run's principal, never as the system; every denial is an audit record."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmspell import ExecutionContext, Kernel, Principal
from llmspell.errors import PermissionDenied, ValidationError
from llmspell.plugins.agents.api import ToolCall

SECRET = b"alice's secret"


async def _plant(kernel: Kernel) -> str:
    """A user-owned artifact of alice (saved by trusted code) and its full ref."""
    return str(await kernel.artifacts.save("secret.txt", SECRET, user_id="alice"))


async def _tool_result(kernel: Kernel, tool: str, arguments: dict[str, Any], **run: Any) -> str:
    """What a model that calls ``tool`` gets back, in a run with ``run`` options.

    A refusal (:class:`PermissionDenied`) is not returned to the model: it fails the run."""
    kernel.agents.provider().script(ToolCall(tool, arguments))  # then the default rules answer
    agent = kernel.agents.create("tool", name=f"t{len(kernel.agents.provider().requests)}", tools=[tool])
    await kernel.run(agent, "go", **run)
    return [m.content for m in kernel.agents.provider().requests[-1].messages if m.role == "tool"][-1]


async def _audit(kernel: Kernel) -> list[dict[str, Any]]:
    await kernel.events.flush()
    return [e.payload async for e in kernel.events.read("audit")]


@pytest.mark.parametrize(("run", "who"), [
    pytest.param({}, "anonymous:anonymous", id="no-session-no-user"),
    pytest.param({"session": "userless"}, "anonymous:anonymous", id="session-without-user"),
    pytest.param({"user_id": "bob"}, "user:bob", id="another-user"),
])
async def test_a_foreign_ref_is_refused_and_audited(make_kernel: Any, run: dict[str, Any], who: str) -> None:
    async with make_kernel() as kernel:
        ref = await _plant(kernel)
        if run.get("session"):
            run = {"session": await kernel.sessions.create(app="tests")}
        with pytest.raises(PermissionDenied, match=f"{who} may not read {ref}"):
            await _tool_result(kernel, "artifact_read", {"name": ref}, **run)
        records = await _audit(kernel)
        assert [(r["principal"], r["artifact"], r["permission"]) for r in records] == [(who, ref, "read")]
        assert records[0]["reason"] == "outside the run's session and user"
        session = run.get("session")
        assert [(e.session_id, e.user_id) async for e in kernel.events.read("audit")] == [
            (session.id if session else None, run.get("user_id"))]


async def test_a_foreign_ref_cannot_be_written_either(kernel: Kernel) -> None:
    ref = await _plant(kernel)
    with pytest.raises(PermissionDenied, match="user:bob may not write"):
        await _tool_result(kernel, "artifact_write", {"name": ref, "content": "owned"}, user_id="bob")
    assert await kernel.artifacts.load(ref) == SECRET
    assert await kernel.artifacts.versions("secret.txt", user_id="alice") and \
        len(await kernel.artifacts.versions("secret.txt", user_id="alice")) == 1


async def test_the_runs_own_artifacts_by_name_and_by_ref(kernel: Kernel) -> None:
    session = await kernel.sessions.create(user_id="alice", app="tests")
    written = await _tool_result(kernel, "artifact_write", {"name": "n.md", "content": "mine"}, session=session)
    assert written.startswith(f"artifact:session/{session.id}/n.md@")
    assert await _tool_result(kernel, "artifact_read", {"name": written}, session=session) == "mine"
    # alice's own user scope is hers too, in a run for her
    ref = await _plant(kernel)
    assert await _tool_result(kernel, "artifact_read", {"name": ref}, session=session) == SECRET.decode()
    assert await _audit(kernel) == []


async def test_a_run_without_a_user_acts_as_anonymous_which_owns_nothing(kernel: Kernel) -> None:
    session = await kernel.sessions.create(app="tests")  # no user
    await kernel.artifacts.save("brief.md", b"for the session", session_id=session.id)  # trusted code
    with pytest.raises(PermissionDenied, match="anonymous:anonymous may not read"):
        await _tool_result(kernel, "artifact_read", {"name": "brief.md"}, session=session)
    with pytest.raises(PermissionDenied, match="anonymous:anonymous may not write"):
        await _tool_result(kernel, "artifact_write", {"name": "new.md", "content": "x"}, session=session)
    assert [r["principal"] for r in await _audit(kernel)] == ["anonymous:anonymous"] * 2
    # the same run, given a principal by the application, may
    result = await _tool_result(kernel, "artifact_write", {"name": "new.md", "content": "x"}, session=session,
                                principal=Principal.user("carol"))
    assert result.startswith("artifact:session/")


async def test_the_shared_app_state_is_not_the_anonymous_principals(kernel: Kernel) -> None:
    await kernel.state.scope("app").set("motd", "hello")
    with pytest.raises(PermissionDenied, match="anonymous:anonymous may not write app/motd"):
        await _tool_result(kernel, "state_set", {"key": "motd", "value": "pwned", "scope": "app"})
    assert await kernel.state.scope("app").get("motd") == "hello"
    assert [(r["state"], r["permission"]) for r in await _audit(kernel)] == [("app/motd", "write")]
    # a user's run may use the app scope, as before
    result = await _tool_result(kernel, "state_set", {"key": "motd", "value": "hi", "scope": "app"}, user_id="ada")
    assert json.loads(result)["key"] == "motd"


async def test_system_strings_never_make_the_system_principal(kernel: Kernel) -> None:
    ref = await _plant(kernel)
    for text in ("system:system", "system:x", "system:*"):
        with pytest.raises(ValidationError, match="system principal cannot be named|invalid principal"):
            await kernel.artifacts.load(ref, principal=text)
        with pytest.raises(ValidationError):
            Principal.parse(text)
    with pytest.raises(ValidationError, match="invalid principal"):
        Principal.parse("root")
    assert Principal.parse("user:alice") == Principal.user("alice")
    assert Principal.parse("anonymous") == Principal.anonymous()
    # only the object does
    assert await kernel.artifacts.load(ref, principal=Principal.system()) == SECRET


async def test_a_context_without_a_principal_is_anonymous_not_the_system(kernel: Kernel) -> None:
    ref = await _plant(kernel)
    ctx: ExecutionContext = await kernel.context()
    assert ctx.acting == Principal.anonymous() and not ctx.acting.is_admin
    with pytest.raises(PermissionDenied, match="anonymous:anonymous may not read"):
        await kernel.artifacts.load(ref, ctx=ctx)
    # anonymous is never an owner, even of a name spelled like its own
    anon = Principal.anonymous()
    with pytest.raises(PermissionDenied):
        await kernel.artifacts.save("x.txt", b"x", session_id="s-anon", principal=anon)
    # an explicit grant to every anonymous caller is honoured
    await kernel.artifacts.grant(ref, "anonymous:*", ["read"])
    assert await kernel.artifacts.load(ref, ctx=ctx) == SECRET


def _llmspell() -> str:
    exe = shutil.which("llmspell", path=str(Path(sys.executable).parent))
    assert exe is not None
    return exe


async def test_denials_survive_a_restart_and_other_processes_see_them(make_kernel: Any, tmp_path: Path,
                                                                      llmspell_env: dict[str, str]) -> None:
    async with make_kernel() as kernel:
        ref = await _plant(kernel)
        with pytest.raises(PermissionDenied):
            await _tool_result(kernel, "artifact_read", {"name": ref}, user_id="mallory")
        with pytest.raises(PermissionDenied):
            await kernel.artifacts.load(ref, principal="user:eve")
    async with make_kernel() as again:  # a new kernel on the same data directory
        seen = [(r["principal"], r["permission"]) for r in await _audit(again)]
    assert seen == [("user:mallory", "read"), ("user:eve", "read")]
    shown = await asyncio.to_thread(
        subprocess.run, [_llmspell(), "--data-dir", str(tmp_path / "data"), "events", "replay", "audit", "--json"],
        env=llmspell_env, capture_output=True, text=True, timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    events = [json.loads(line) for line in shown.stdout.splitlines() if line.strip()]
    assert [(e["type"], e["payload"]["principal"]) for e in events] == [
        ("artifact.denied", "user:mallory"), ("artifact.denied", "user:eve")]
    assert all(e["stream"] == "audit" for e in events)


def test_the_cli_refuses_system_strings_and_audits_its_denials(tmp_path: Path, llmspell_env: dict[str, str]) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([_llmspell(), "--data-dir", str(tmp_path / "data"), *args], env=llmspell_env,
                              capture_output=True, text=True, timeout=120)

    (tmp_path / "secret.txt").write_bytes(SECRET)
    assert cli("artifacts", "put", str(tmp_path / "secret.txt"), "--user", "alice").returncode == 0
    for who in ("system:x", "system:system"):
        done = cli("artifacts", "get", "secret.txt", "--user", "alice", "--as", who)
        assert done.returncode == 1 and "the system principal cannot be named by a string" in done.stderr
        assert "alice's secret" not in done.stdout
    done = cli("artifacts", "get", "secret.txt", "--user", "alice", "--as", "anonymous")
    assert done.returncode == 1 and "anonymous:anonymous may not read" in done.stderr
    shown = cli("events", "replay", "audit", "--json")
    assert shown.returncode == 0, shown.stderr
    assert [json.loads(line)["payload"]["principal"] for line in shown.stdout.splitlines()] == ["anonymous:anonymous"]
