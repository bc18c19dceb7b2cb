"""A clean exit releases every lease the process took, on every session backend.

Three real processes per backend: one creates a session, a second resumes it (through
``kernel.run`` and through ``llmspell run --session``) and exits normally, a third
(``llmspell sessions list``) must still see the session ``active`` and unheld.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.contrib._scenarios import write_config
from tests.contrib._services import REDIS_URL, drop_redis_prefix, new_prefix, require
from tests.contrib.postgres.pg import drop_schema, new_schema, pg_config, require_server

pytestmark = pytest.mark.slow

CREATE = """
    import asyncio, sys
    from llmspell import Kernel

    async def main(path):
        async with Kernel(path) as kernel:
            session = await kernel.sessions.create(user_id="u1")
            print(session.id)
    asyncio.run(main(sys.argv[1]))
"""

RESUME = """
    import asyncio, sys
    from llmspell import Kernel

    async def main(path, session_id):
        async with Kernel(path) as kernel:
            agent = kernel.agents.create("chat", name="helper")
            output = await kernel.run(agent, "hello", session_id=session_id)
            print(output.content)
    asyncio.run(main(sys.argv[1], sys.argv[2]))
"""

LEASE = """
    import asyncio, sys
    from llmspell import Kernel

    async def main(path, session_id):
        async with Kernel(path) as kernel:
            session = await kernel.sessions.get(session_id)
            print(session.status.value, session.lease)
    asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def python(script: str, env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def llmspell(env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", "from llmspell.plugins.cli import main; main()", *args],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(params=["diskcache", "redis", "postgres"])
def backend_config(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    config: dict[str, Any] = {"data_dir": str(tmp_path / "data")}
    if request.param == "diskcache":
        yield config
    elif request.param == "redis":
        require(REDIS_URL, "Redis")
        prefix = new_prefix()
        yield {**config, "sessions": {"backend": "redis"}, "redis": {"url": REDIS_URL, "prefix": prefix}}
        drop_redis_prefix(prefix)
    else:
        require_server()
        schema = new_schema()
        yield {**config, "sessions": {"backend": "postgres"}, **pg_config(schema)}
        drop_schema(schema)


def test_a_session_resumed_by_another_process_stays_active_after_its_clean_exit(
    tmp_path: Path, llmspell_env: dict[str, str], backend_config: dict[str, Any]
) -> None:
    path = tmp_path / "llmspell.toml"
    write_config(path, backend_config)
    env = {**llmspell_env, "LLMSPELL_CONFIG": str(path)}
    session_id = python(CREATE, env, str(path)).strip()

    def status() -> dict[str, Any]:
        listed = json.loads(llmspell(env, "sessions", "list", "--json"))
        return {row["id"]: row for row in listed["sessions"]}[session_id]

    assert python(RESUME, env, str(path), session_id).strip()
    after_run = status()
    assert after_run["status"] == "active", after_run["status_reason"]
    assert llmspell(env, "run", "chat", "hello again", "--session", session_id).strip()
    after_cli = status()
    assert after_cli["status"] == "active", after_cli["status_reason"]
    assert after_cli["status_reason"] is None  # never interrupted, so never resumed
    held = python(LEASE, env, str(path), session_id).strip()
    assert held == "active None"
