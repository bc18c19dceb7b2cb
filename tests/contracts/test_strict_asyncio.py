"""The contract suites run in a project that does not set ``asyncio_mode = auto``.

A third-party backend's tests subclass the suites in a project of their own, usually
under pytest-asyncio's default strict mode. This test writes such a project (one
subclass of every suite, over the in-memory and embedded backends) and runs it with
pytest in a subprocess with ``-o asyncio_mode=strict``: every test must pass.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

PROJECT = '''
import pytest

from llmspell.plugins.artifacts import MemoryArtifactIndex, MemoryBlobStore
from llmspell.plugins.events._memory import MemoryEventLog
from llmspell.plugins.sessions._backends import MemorySessionBackend
from llmspell.plugins.state import DiskcacheStateBackend
from llmspell.contrib.testing.contracts.artifacts import ArtifactIndexContract, BlobStoreContract
from llmspell.contrib.testing.contracts.events import EventLogContract
from llmspell.contrib.testing.contracts.sessions import SessionBackendContract
from llmspell.contrib.testing.contracts.state import StateContract


class TestState(StateContract):
    @pytest.fixture
    def state_backend(self, tmp_path):
        return DiskcacheStateBackend(tmp_path / "state")


class TestSessions(SessionBackendContract):
    @pytest.fixture
    def session_backend(self):
        return MemorySessionBackend()


class TestEvents(EventLogContract):
    @pytest.fixture
    def event_log(self):
        return MemoryEventLog()


class TestBlobs(BlobStoreContract):
    @pytest.fixture
    def blob_store(self):
        return MemoryBlobStore()


class TestIndex(ArtifactIndexContract):
    @pytest.fixture
    def artifact_index(self):
        return MemoryArtifactIndex()
'''


def test_every_suite_passes_under_strict_asyncio_mode(tmp_path: Path) -> None:
    (tmp_path / "test_backends.py").write_text(textwrap.dedent(PROJECT))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "LLMSPELL_"))}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-o", "asyncio_mode=strict", "-p", "no:cacheprovider",
         "-p", "no:xdist", "test_backends.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    out = done.stdout + done.stderr
    summary = re.search(r"^(\d+) passed(, \d+ warnings?)? in [\d.]+s( \([\d:]+\))?$", out, re.M)
    assert done.returncode == 0 and summary is not None, f"every contract test must pass in strict mode:\n{out}"
    assert int(summary.group(1)) > 100, out
