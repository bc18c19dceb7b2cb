"""The console over PostgreSQL and S3: it reads through the services, whatever the backend.

``llmspell -c examples/configs/postgres-s3.toml console`` runs as a real process; the data
directory stays empty (no backend file to read), yet sessions, state, events (live),
artifacts (downloaded) and the run tree are all there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmspell import Kernel
from tests.contrib.postgres.pg import DSN, pg_schema  # noqa: F401 - a fixture
from tests.contrib.s3.s3server import MotoServer, s3_server  # noqa: F401 - a fixture

from .conftest import run_async

pytestmark = [pytest.mark.postgres, pytest.mark.s3]

CONFIG = Path(__file__).resolve().parents[3] / "examples" / "configs" / "postgres-s3.toml"


def backend_env(schema: str, s3: MotoServer) -> dict[str, str]:
    return {
        "LLMSPELL_POSTGRES_DSN": DSN, "LLMSPELL_POSTGRES_SCHEMA": schema,
        "LLMSPELL_S3_ENDPOINT_URL": s3.url, "LLMSPELL_S3_ACCESS_KEY_ID": "test",
        "LLMSPELL_S3_SECRET_ACCESS_KEY": "test", "LLMSPELL_S3_CREATE_BUCKET": "true",
        "LLMSPELL_S3_PREFIX": f"{schema}/", "LLMSPELL_CONSOLE_LIVE_POLL_INTERVAL": "0.1",
    }


async def fill(env: dict[str, str], data: Path) -> dict[str, Any]:
    async with Kernel(CONFIG, data_dir=data, env=env) as kernel:
        session = await kernel.sessions.create(user_id="ada", app="on-postgres")
        await session.state.set("plan", {"step": 2})
        await kernel.run(kernel.agents.create("chat", name="helper"), "hello there", session=session)
        payload = os.urandom(200_000)
        await kernel.artifacts.save("blob.bin", payload, session_id=session.id)
        return {"sid": session.id, "payload": payload, "last": await kernel.events.last_seq(session.id)}


async def publish(env: dict[str, str], data: Path, sid: str) -> int:
    async with Kernel(CONFIG, data_dir=data, env=env) as kernel:
        return int((await kernel.events.publish("note.added", {"text": "from another process"}, session_id=sid)).seq)


def test_console_over_postgres_and_s3(tmp_path: Path, pg_schema: str, s3_server: MotoServer) -> None:  # noqa: F811
    env = backend_env(pg_schema, s3_server)
    data = tmp_path / "data"
    filled = run_async(fill(env, data))
    sid = filled["sid"]
    files_before = sorted(p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file())
    process = subprocess.Popen(
        [sys.executable, "-c", "from llmspell.plugins.cli import main; main()", "-c", str(CONFIG), "--data-dir", str(data),
         "console", "--port", "0", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("LLMSPELL_")}, **env},
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        base = info["url"].split("?")[0].rstrip("/")
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {info['token']}"}, timeout=30) as client:
            listing = client.get("/sessions", params={"app": "on-postgres"})
            assert listing.status_code == 200 and sid in listing.text
            page = client.get(f"/sessions/{sid}")
            assert page.status_code == 200
            assert "plan" in page.text and "agent.run.finished" in page.text and "blob.bin" in page.text
            plugins = client.get("/plugins").text
            assert "postgres" in plugins and "s3" in plugins
            download = client.get(f"/sessions/{sid}/download/blob.bin")
            assert download.status_code == 200 and download.content == filled["payload"]
            runs = client.get(f"/sessions/{sid}/runs")
            assert runs.status_code == 200 and 'data-depth="0"' in runs.text and "helper" in runs.text

            seen: list[str] = []
            with client.stream("GET", f"/sessions/{sid}/live") as stream:
                last = None
                lines = stream.iter_lines()
                for line in lines:  # everything so far, then the new event
                    if line.startswith("id: "):
                        last = int(line[4:])
                        if last >= filled["last"]:
                            break
                threading.Thread(target=lambda: seen.append(str(run_async(publish(env, data, sid)))),
                                 daemon=True).start()
                for line in lines:
                    if line.startswith("data: ") and "from another process" in line:
                        seen.append(json.loads(line[6:])["type"])
                        break
            assert "note.added" in seen
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    files_after = sorted(p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file())
    assert files_after == files_before  # no backend lives in the data directory
