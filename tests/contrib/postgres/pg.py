"""Helpers for the PostgreSQL tests: the shared server, one fresh schema per test."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

#: The run's server: the configured or local one (127.0.0.1:5432, trust auth, database
#: ``test``), else a private one started for the run (``tests/contrib/_services.py``).
DSN = os.environ.get("LLMSPELL_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def _server_up() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[dev]')"
    try:
        with psycopg.connect(DSN, connect_timeout=3):
            return None
    except psycopg.OperationalError as exc:
        return f"no PostgreSQL at {DSN}: {exc}"


def require_server() -> None:
    """Skip when the run has no PostgreSQL (fail under ``LLMSPELL_REQUIRE_SERVICES=1``); fail when it went away."""
    from tests.contrib._services import require_service

    require_service("postgres")
    problem = _server_up()
    if problem:
        pytest.fail(problem)


def new_schema() -> str:
    return f"t_{uuid.uuid4().hex[:20]}"


def drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def pg_config(schema: str, **extra: Any) -> dict[str, Any]:
    """The ``[postgres]`` section for a test schema on the shared server."""
    return {"postgres": {"dsn": DSN, "schema": schema, "min_size": 1, "max_size": 4, **extra}}


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh schema on the shared server, dropped afterwards."""
    require_server()
    schema = new_schema()
    yield schema
    drop_schema(schema)


def run(coro: Any) -> Any:
    return asyncio.run(coro)
