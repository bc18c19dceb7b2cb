"""A failing contract test says which rule it checks, in a backend author's own project.

The project subclasses a suite over a backend with one bug (a blob store whose ``stat``
finds nothing) and runs it with pytest in a subprocess: the failure carries a ``contract
rule`` section with the failing test's docstring, and a failing test of the project's own
carries none.
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

from llmspell.plugins.artifacts import MemoryBlobStore
from llmspell.contrib.testing.contracts.artifacts import BlobStoreContract


class ForgetfulStore(MemoryBlobStore):
    async def stat(self, key):
        return None


class TestForgetful(BlobStoreContract):
    @pytest.fixture
    def blob_store(self):
        return ForgetfulStore()


def test_of_our_own():
    assert 1 == 2
'''


def test_a_failing_contract_test_prints_its_rule(tmp_path: Path) -> None:
    (tmp_path / "test_backend.py").write_text(textwrap.dedent(PROJECT))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "LLMSPELL_"))}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "test_backend.py", "-k", "test_write_commit_read or test_of_our_own"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 1 and "2 failed" in out, out
    assert out.count("contract rule") == 1, f"one failure of the suite, one section naming its rule:\n{out}"
    rule = out.index("contract rule")
    assert out.index("TestForgetful.test_write_commit_read _") < rule < out.index("_ test_of_our_own _"), out
    assert re.match(
        r"contract rule -+\nBytes written in parts and committed under a key read back whole; commit returns the\n"
        r"size, stat the key and size\.\n", out[rule:]
    ), out
