"""Fixtures for the console tests: a demo-filled data directory and a real ``llmspell console``."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

ROOT = Path(__file__).resolve().parents[3]


def run_async(coro: Any) -> Any:
    """Run a coroutine to the end in its own thread (Playwright's sync API holds this one's loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def cli_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMSPELL_")}
    env.update({"LLMSPELL_CONSOLE_LIVE_POLL_INTERVAL": "0.1", "PYTHONUNBUFFERED": "1", **extra})
    env.pop("OTEL_TRACES_EXPORTER", None)
    return env


def kernel(data: Path) -> Any:
    from llmspell import Kernel

    return Kernel(data_dir=data, env={})


def fill_demo(data: Path) -> str:
    """Run the demo on ``data`` as a user would; return its session id."""
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py"), str(data)], capture_output=True,
                         text=True, cwd=ROOT / "examples", timeout=120, env=cli_env(data))
    assert out.returncode == 0, out.stderr
    marker = "--session "
    line = next(line for line in out.stdout.splitlines() if marker in line)
    return line.split(marker, 1)[1].split()[0]


async def _more_sessions(data: Path) -> dict[str, str]:
    """Sessions of other users and apps (filters), one to act on, one with hostile text."""
    async with kernel(data) as k:
        made = {}
        for user, app in (("bob", "support"), ("carol", "support"), ("bob", "billing")):
            made[f"{user}/{app}"] = (await k.sessions.create(user_id=user, app=app, title=f"{user} asks")).id
        made["target"] = (await k.sessions.create(user_id="dave", app="ops", title="to suspend and delete")).id
        hostile = await k.sessions.create(
            user_id="mallory", app="<script>alert('app')</script>", title="<img src=x onerror=alert(1)>",
            metadata={"note": "</pre><script>alert('meta')</script>"}, tags=["<b>tag</b>"],
        )
        await hostile.state.set("<script>key</script>", {"html": "<script>alert('state')</script>"})
        await k.events.publish("note.added", {"text": "<script>alert('event')</script>"}, session_id=hostile.id,
                               source="<i>src</i>")
        await k.artifacts.save("notes/bold (1).txt", b"<script>alert('artifact')</script>\n",
                               session_id=hostile.id, content_type="text/plain", tags=["<script>t</script>"])
        await k.artifacts.save("page.html", b"<html><script>alert('html')</script></html>", session_id=hostile.id,
                               content_type="text/html")
        await k.artifacts.save("logo.svg", b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
                               session_id=hostile.id, content_type="image/svg+xml")
        made["hostile"] = hostile.id
        return made


@attrs.frozen
class Console:
    """A running ``llmspell console`` subprocess."""

    url: str
    base: str
    port: int
    token: str
    data: Path
    session: str
    others: dict[str, str]
    process: subprocess.Popen[str]

    def page(self, path: str) -> str:
        return f"{self.base}{path}"


def start_console(data: Path, *args: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    process = subprocess.Popen(
        [sys.executable, "-c", "from llmspell.plugins.cli import main; main()", "--data-dir", str(data), "console",
         "--port", "0", "--json", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(data), cwd=data.parent,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=30)
        raise AssertionError(f"llmspell console did not start: {process.stderr.read() if process.stderr else ''}")
    return process, json.loads(line)


def stop_console(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
        raise AssertionError(f"the console did not stop on Ctrl-C: {err}") from None
    return err


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    data = tmp_path_factory.mktemp("console") / "data"
    session = fill_demo(data)
    others = run_async(_more_sessions(data))
    process, info = start_console(data)
    try:
        yield Console(info["url"], info["url"].split("?")[0].rstrip("/"), info["port"], info["token"], data,
                      session, others, process)
    finally:
        err = stop_console(process)
        assert process.returncode == 0, err
        assert "Traceback" not in err, err
