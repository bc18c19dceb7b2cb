"""The console's and tracing's examples run as scripts."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("LLMSPELL_", "OTEL_"))}


def test_tracing_example_prints_the_span_tree(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, str(EXAMPLES / "tracing.py"), str(tmp_path / "d")], capture_output=True,
                         text=True, env=env(), timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "answer: I have refunded the duplicate charge of 21.50."
    assert any(re.match(r"^run pipeline +\(", line) for line in lines)
    assert any(re.match(r"^      execute_tool calculator +\(.*gen_ai.tool.name=calculator", line) for line in lines)
    assert any(re.match(r"^        hook tool_before .*llmspell.hook.name=audit-tool-calls", line) for line in lines)
    assert any(re.match(r"^    invoke_agent billing .*link:handoff_from link:handoff", line) for line in lines)


def test_embedded_console_shows_the_applications_live_hooks(tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, str(EXAMPLES / "console_embedded.py"), str(tmp_path / "d"),
                                "--port=0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(),
                               cwd=tmp_path)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split("console on ", 1)[1].strip()
        page = process.stdout.readline().split("session: ", 1)[1].strip()
        token = url.split("token=", 1)[1]
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            deadline = time.monotonic() + 20
            while True:
                hooks = client.get(url.split("?")[0] + "plugins").text
                row = next(r for r in hooks.split("<tr>") if "count-runs" in r)
                calls = int(re.findall(r'<td class="num">(\d+)</td>', row)[1])
                if calls >= 2 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert calls >= 2 and "this process" in row
            session = client.get(page)
            assert session.status_code == 200 and "message number 1" in session.text
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
