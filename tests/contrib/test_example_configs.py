"""The example configs under examples/configs/ for PostgreSQL and S3 start a kernel that works.

The secrets and the test servers' addresses come from the environment, as the files say.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmspell import Kernel
from tests.contrib.postgres.pg import DSN, pg_schema  # noqa: F401 - a fixture
from tests.contrib.s3.s3server import MotoServer, s3_server  # noqa: F401 - a fixture

pytestmark = [pytest.mark.postgres, pytest.mark.s3]

CONFIGS = Path(__file__).resolve().parents[2] / "examples" / "configs"


@pytest.mark.parametrize("name", ["postgres.toml", "postgres-s3.toml"])
async def test_example_config_runs(name: str, tmp_path: Path, pg_schema: str, s3_server: MotoServer) -> None:  # noqa: F811
    env: dict[str, Any] = {
        "LLMSPELL_POSTGRES_DSN": DSN, "LLMSPELL_POSTGRES_SCHEMA": pg_schema,
        "LLMSPELL_S3_ENDPOINT_URL": s3_server.url, "LLMSPELL_S3_ACCESS_KEY_ID": "test",
        "LLMSPELL_S3_SECRET_ACCESS_KEY": "test", "LLMSPELL_S3_CREATE_BUCKET": "true",
        "LLMSPELL_S3_PREFIX": f"{pg_schema}/",
    }
    async with Kernel(CONFIGS / name, data_dir=tmp_path / "data", env=env) as kernel:
        session = await kernel.sessions.create(user_id="u1", app="demo")
        await session.state.set("visits", 1)
        await kernel.state.scope("user", "u1").update("visits", lambda n: (n or 0) + 1)
        got = kernel.events.wait_for("note.added", timeout=10)
        import asyncio

        waiting = asyncio.ensure_future(got)
        await asyncio.sleep(0)
        await kernel.events.publish("note.added", {"text": "hi"}, session_id=session.id)
        assert (await waiting).payload == {"text": "hi"}
        ref = await kernel.artifacts.save("report.md", b"# hi", session_id=session.id, content_type="text/markdown")
        assert await kernel.artifacts.load(ref) == b"# hi"
        assert [e.type async for e in kernel.events.read(session.id)][-1] in ("note.added", "artifact.saved")
        assert type(kernel.state.backend).__name__ == "PostgresStateBackend"
        if name == "postgres-s3.toml":
            assert type(kernel.artifacts.store).__name__ == "S3BlobStore"
