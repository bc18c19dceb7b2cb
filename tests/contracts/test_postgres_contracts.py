"""The state, session, event-log and artifact-index contracts over the PostgreSQL backends.

Each test gets its own schema on the shared server (created by the migrations, dropped
afterwards), so the suite can run twice at once against one server.
"""

from __future__ import annotations

from typing import Any

import pytest

from llmspell.contrib.testing.contracts.artifacts import ArtifactIndexContract
from llmspell.contrib.testing.contracts.events import EventLogContract
from llmspell.contrib.testing.contracts.sessions import SessionBackendContract
from llmspell.contrib.testing.contracts.state import StateContract
from tests.contrib.postgres.pg import pg_config, pg_schema  # noqa: F401 - a fixture

pytestmark = pytest.mark.postgres


class TestPostgresState(StateContract):
    @pytest.fixture
    def state_backend(self, make_kernel: Any, pg_schema: str) -> Any:  # noqa: F811
        kernel = make_kernel({"state": {"backend": "postgres"}, **pg_config(pg_schema)})
        return kernel.create_backend("state_backend", "postgres")


class TestPostgresSessions(SessionBackendContract):
    @pytest.fixture
    def session_backend(self, make_kernel: Any, pg_schema: str) -> Any:  # noqa: F811
        kernel = make_kernel({"sessions": {"backend": "postgres"}, **pg_config(pg_schema)})
        return kernel.create_backend("session_backend", "postgres")


class TestPostgresEventLog(EventLogContract):
    @pytest.fixture
    def event_log(self, make_kernel: Any, pg_schema: str) -> Any:  # noqa: F811
        kernel = make_kernel({"events": {"backend": "postgres"}, **pg_config(pg_schema)})
        return kernel.create_backend("event_backend", "postgres")


class TestPostgresArtifactIndex(ArtifactIndexContract):
    @pytest.fixture
    def artifact_index(self, make_kernel: Any, pg_schema: str) -> Any:  # noqa: F811
        kernel = make_kernel({"artifacts": {"metadata": "postgres"}, **pg_config(pg_schema)})
        return kernel.create_backend("artifact_metadata_backend", "postgres")
