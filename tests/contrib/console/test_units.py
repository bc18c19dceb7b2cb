"""The console's parts on their own: the run tree, event pages, an app embedded in a running kernel."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from llmspell.contrib.console import create_app
from llmspell.contrib.console.reading import check_artifact_name, event_page
from llmspell.contrib.console.runtree import build_traces
from llmspell.plugins.events.api import Event

from .conftest import cli_env, kernel, start_console, stop_console

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def run_event(agent: str, inv: str, parent: str | None, end_ms: float, elapsed: float, *, corr: str = "c1",
              failed: bool = False, handoff_from: str | None = None, seq: int = 1) -> Event:
    payload = {"agent": agent, "agent_type": "echo", "invocation_id": inv, "parent_invocation_id": parent,
               "elapsed_ms": elapsed, "input": "in", "handoff_from": handoff_from}
    payload["error" if failed else "output"] = f"{agent} out"
    return Event("agent.run.failed" if failed else "agent.run.finished", payload, time=T0 + timedelta(milliseconds=end_ms),
                 correlation_id=corr, seq=seq)


def test_run_tree_nests_by_parent_and_keeps_handoffs_side_by_side():
    events = [
        run_event("a", "i-a", "i-seq", end_ms=40, elapsed=30, seq=3),
        run_event("b", "i-b", "i-seq", end_ms=90, elapsed=40, handoff_from="a", seq=5),
        run_event("tool", "i-t", "i-a", end_ms=30, elapsed=10, seq=2),
        run_event("seq", "i-seq", None, end_ms=100, elapsed=100, seq=6),
        run_event("solo", "i-s", None, end_ms=300, elapsed=50, corr="c2", failed=True, seq=9),
        Event("agent.handoff", {"from": "a", "to": "b"}, time=T0, correlation_id="c1", seq=4),
    ]
    traces = build_traces(events)
    assert [t.correlation_id for t in traces] == ["c2", "c1"]  # newest first
    solo, main = traces
    assert solo.failed and not main.failed
    assert [(depth, node.agent) for depth, node in main.rows()] == [(0, "seq"), (1, "a"), (2, "tool"), (1, "b")]
    assert main.handoffs == ["a -> b"]
    root = main.roots[0]
    assert (root.left, root.width) == (0.0, 100.0)
    a, b = root.children
    assert (a.left, a.width) == (10.0, 30.0)
    assert (b.left, b.width) == (50.0, 40.0)
    assert b.handoff_from == "a"
    assert main.elapsed_ms == 100.0 and main.count == 4


def test_run_events_without_a_parent_are_listed_flat():
    events = [run_event("x", "1", None, 10, 5, seq=1), run_event("y", "2", "not-here", 20, 5, seq=2)]
    (trace,) = build_traces(events)
    assert [(d, n.agent) for d, n in trace.rows()] == [(0, "x"), (0, "y")]


def test_artifact_names_with_path_tricks_are_refused():
    for bad in ("", "..", "a/../b", "/abs", "a//b", "a\\b", "a\x00b", "x" * 1100, "a/./b", "trailing/"):
        try:
            check_artifact_name(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} passed")
    assert check_artifact_name("reports/2026 (final).md") == "reports/2026 (final).md"


async def test_event_pages_walk_the_stream(make_kernel):
    async with make_kernel() as kernel:
        session = await kernel.sessions.create(user_id="u")
        await kernel.events.publish_many([("note.added", {"n": i}) for i in range(1)])  # not in the session
        for i in range(249):
            await kernel.events.publish("note.added", {"n": i}, session_id=session.id)
        first = await event_page(kernel, session.id, None, 100)
        assert first["last_seq"] == 250  # session.created + 249 notes
        assert [r["seq"] for r in first["rows"]][:2] == [250, 249] and len(first["rows"]) == 100
        assert first["older"] == 151 and first["newer"] is None
        second = await event_page(kernel, session.id, first["older"], 100)
        assert (second["rows"][0]["seq"], second["rows"][-1]["seq"], second["older"]) == (150, 51, 51)
        assert second["newer"] == 251
        last = await event_page(kernel, session.id, second["older"], 100)
        assert (last["rows"][0]["seq"], last["rows"][-1]["seq"], last["older"]) == (50, 1, None)


async def test_embedded_in_a_running_kernel_it_leaves_the_kernel_alone(make_kernel):
    async with make_kernel() as kernel:
        session = await kernel.sessions.create(user_id="ada", app="embedded")
        kernel.hooks.register("agent_before", lambda call: None, name="app-hook")
        await kernel.run(kernel.agents.create("chat", name="helper"), "hi", session=session)
        app = create_app(kernel, token="t0ken")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1",
                                     headers={"Authorization": "Bearer t0ken"}) as client:
            listing = await client.get("/sessions", params={"app": "embedded"})
            assert listing.status_code == 200 and session.id in listing.text
            hooks = await client.get("/plugins")
            row = next(r for r in hooks.text.split("<tr>") if "app-hook" in r)
            assert "this process" in row and ">1<" in row  # the app's live counters
            assert (await client.get("/sessions", headers={"Authorization": "Bearer nope"})).status_code == 403
        assert kernel.started


def _busy_port() -> tuple[socket.socket, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock, sock.getsockname()[1]


def test_a_busy_port_is_one_clear_line(tmp_path: Path):
    sock, port = _busy_port()
    try:
        out = subprocess.run(
            [sys.executable, "-c", "from llmspell.plugins.cli import main; main()", "--data-dir", str(tmp_path / "d"),
             "console", "--port", str(port)], capture_output=True, text=True, env=cli_env(tmp_path), timeout=60,
        )
    finally:
        sock.close()
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and f"cannot listen on 127.0.0.1:{port}" in lines[0], out.stderr


def test_no_token_serves_openly_and_warns(tmp_path: Path):
    data = tmp_path / "data"
    process, info = start_console(data, "--no-token")
    try:
        assert info["token"] is None and "token" not in info["url"]
        with httpx.Client(base_url=info["url"].rstrip("/")) as client:
            assert client.get("/sessions").status_code == 200
            assert client.get("/sessions", headers={"Host": "evil.example"}).status_code == 400
    finally:
        err = stop_console(process)
    assert process.returncode == 0
    assert "warning: no access token" in err


async def test_the_audit_page_lists_denials_recorded_before_a_restart(tmp_path: Path):
    """Denials recorded by one kernel are on the Audit page of the next (escaped, newest first)."""
    import pytest

    from llmspell.context import Principal
    from llmspell.errors import PermissionDenied

    data = tmp_path / "data"
    async with kernel(data) as writer:
        ref = await writer.artifacts.save("secret.txt", b"alice only", user_id="alice", principal=Principal.user("alice"))
        for who in ("mallory", "<script>eve</script>"):
            with pytest.raises(PermissionDenied):
                await writer.artifacts.load(ref, principal=Principal.user(who))
    async with kernel(data) as reader:
        transport = httpx.ASGITransport(app=create_app(reader, token="t0ken"))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1",
                                     headers={"Authorization": "Bearer t0ken"}) as client:
            page = await client.get("/audit")
        assert page.status_code == 200
        rows = page.text.split('<tr data-seq="')[1:]
        assert len(rows) == 2
        assert "user:&lt;script&gt;eve&lt;/script&gt;" in rows[0] and "<script>eve" not in page.text
        assert "user:mallory" in rows[1] and "artifact.denied" in rows[1] and "secret.txt" in rows[1]
