"""The used-by scenario: ``examples/scale_out.py`` prints the same lines on every backend.

Table-driven: one run per config file in ``examples/configs/``, each compared with the
run on the embedded default (no config file at all). A backend whose runs need
isolating on a shared server adds its environment and cleanup to ``ISOLATION``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.contrib._scenarios import ROOT, process_env
from tests.contrib._services import (
    NATS_URL,
    REDIS_URL,
    drop_nats_prefix,
    drop_redis_prefix,
    new_prefix,
    require,
)

EXAMPLE = ROOT / "examples" / "scale_out.py"
CONFIGS = sorted((ROOT / "examples" / "configs").glob("*.toml"))


def _redis(prefix: str) -> tuple[dict[str, str], Callable[[], None]]:
    require(REDIS_URL, "Redis")
    return {"LLMSPELL_REDIS_URL": REDIS_URL, "LLMSPELL_REDIS_PREFIX": prefix}, lambda: drop_redis_prefix(prefix)


def _nats(prefix: str) -> tuple[dict[str, str], Callable[[], None]]:
    require(NATS_URL, "NATS")
    return {"LLMSPELL_NATS_SERVERS": NATS_URL, "LLMSPELL_NATS_PREFIX": prefix}, lambda: drop_nats_prefix(prefix)


def _postgres(prefix: str) -> tuple[dict[str, str], Callable[[], None]]:
    from tests.contrib.postgres.pg import DSN, drop_schema, require_server

    require_server()
    return {"LLMSPELL_POSTGRES_DSN": DSN, "LLMSPELL_POSTGRES_SCHEMA": prefix}, lambda: drop_schema(prefix)


def _postgres_s3(prefix: str) -> tuple[dict[str, str], Callable[[], None]]:
    from tests.contrib.s3.s3server import MotoServer

    env, drop = _postgres(prefix)
    server = MotoServer()  # a real S3-protocol server over HTTP, on a free loopback port
    env.update({
        "LLMSPELL_S3_ENDPOINT_URL": server.url, "LLMSPELL_S3_ACCESS_KEY_ID": "test",
        "LLMSPELL_S3_SECRET_ACCESS_KEY": "test", "LLMSPELL_S3_CREATE_BUCKET": "true",
    })

    def cleanup() -> None:
        server.stop()
        drop()

    return env, cleanup


#: config file stem -> environment that isolates one run (its own prefix) and the cleanup.
ISOLATION: dict[str, Callable[[str], tuple[dict[str, str], Callable[[], None]]]] = {
    "redis": _redis,
    "nats": _nats,
    "postgres": _postgres,
    "postgres-s3": _postgres_s3,
}


def run_example(data_dir: Path, config: Path | None = None, env: dict[str, str] | None = None) -> str:
    args = [sys.executable, str(EXAMPLE)] + ([str(config)] if config else [])
    done = subprocess.run(args, cwd=ROOT, env=process_env(LLMSPELL_DATA_DIR=str(data_dir), **(env or {})),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def embedded_output(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = run_example(tmp_path_factory.mktemp("embedded"))
    assert out.count("\n") >= 7 and "visits=20" in out
    return out


@pytest.fixture
def isolated(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    isolate = ISOLATION.get(request.param.stem)
    if isolate is None:
        yield {}
        return
    env, cleanup = isolate(new_prefix())
    try:
        yield env
    finally:
        cleanup()


def test_there_is_a_config_per_backend() -> None:
    assert {"embedded", "redis", "nats", "postgres", "postgres-s3"} <= {c.stem for c in CONFIGS}


@pytest.mark.parametrize("isolated", CONFIGS, ids=[c.stem for c in CONFIGS], indirect=True)
def test_same_output_with_only_another_config(request: pytest.FixtureRequest, isolated: dict[str, str],
                                              embedded_output: str, tmp_path: Path) -> None:
    config = request.node.callspec.params["isolated"]
    assert run_example(tmp_path, config, isolated) == embedded_output
