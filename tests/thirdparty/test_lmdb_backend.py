"""A third-party backend package, built and installed on its own, passes the shipped contract suites.

``llmspell_lmdb/`` is the complete package that ``docs/backends/writing.md`` shows: state,
sessions and the event log on LMDB, registered through entry points and selected by
``distribution = "lmdb"``. These tests build its wheel, install it into a directory of its
own (never into this environment) and run, in a separate pytest process with that
directory on ``PYTHONPATH``: the package's own test module (llmspell's contract suites,
each given the one config line that selects the backend) and a kernel that keeps a
session's state in the LMDB files, read back by a second process. The guide must show the
package's files exactly, and its Python files stay under 200 lines together.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from llmspell.contrib.testing.contracts.events import EventLogContract
from llmspell.contrib.testing.contracts.sessions import SessionBackendContract
from llmspell.contrib.testing.contracts.state import StateContract

HERE = Path(__file__).resolve().parent
PACKAGE = HERE / "llmspell_lmdb"
GUIDE = HERE.parents[1] / "docs" / "backends" / "writing.md"
#: Every file of the package, in the order the guide shows them.
FILES = ("pyproject.toml", "llmspell_lmdb.py", "tests/test_contracts.py")
SUITES = {"TestLmdbState": StateContract, "TestLmdbSessions": SessionBackendContract,
          "TestLmdbEventLog": EventLogContract}


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMSPELL_", "PYTEST_", "PYTHONPATH"))}
    return {**env, **extra}


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package's wheel, installed into a directory of its own."""
    root = tmp_path_factory.mktemp("lmdb-package")
    source = root / "source"
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns(".*", "__pycache__", "build", "*.egg-info"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"), str(source)], root)
    (wheel,) = (root / "dist").glob("llmspell_lmdb-*.whl")
    run([*pip, "install", "--no-deps", "--target", str(root / "site"), str(wheel)], root)
    return root / "site"


def test_the_package_is_installed_apart_from_this_environment(site: Path, tmp_path: Path) -> None:
    probe = [sys.executable, "-c", "import llmspell_lmdb; print(llmspell_lmdb.__file__)"]
    assert subprocess.run(probe, cwd=tmp_path, env=clean_env(), capture_output=True).returncode != 0
    where = run(probe, tmp_path, clean_env(PYTHONPATH=str(site))).stdout.strip()
    assert Path(where).parent == site
    assert {p.name for p in site.glob("*.dist-info")} == {"llmspell_lmdb-0.1.0.dist-info"}


def test_the_shipped_contract_suites_pass_on_the_installed_package(site: Path, tmp_path: Path) -> None:
    """The package's tests (its pyproject's pytest settings, not this project's) all pass;
    every test of the three suites ran, none was skipped."""
    project = tmp_path / "project"  # the package's project without its module: it is imported from `site`
    shutil.copytree(PACKAGE / "tests", project / "tests", ignore=shutil.ignore_patterns(".*", "__pycache__"))
    shutil.copy(PACKAGE / "pyproject.toml", project)
    report = tmp_path / "report.xml"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", f"--junitxml={report}",
         "tests"], cwd=project, env=clean_env(PYTHONPATH=str(site)), capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    cases = ET.parse(report).getroot().iter("testcase")
    ran: dict[str, set[str]] = {}
    for case in cases:
        assert not [c.tag for c in case], f"{case.get('classname')}.{case.get('name')}: {[c.tag for c in case]}"
        ran.setdefault(case.get("classname", "").rpartition(".")[2], set()).add(case.get("name", ""))
    for name, suite in SUITES.items():
        assert ran.get(name) == {t for t in dir(suite) if t.startswith("test_")}, name


WRITER = """
import asyncio, sys
from llmspell import Kernel

async def main():
    async with Kernel(config="llmspell.toml") as kernel:
        assert kernel.distribution.name == "lmdb"
        assert type(kernel.state.backend).__module__ == "llmspell_lmdb"
        session = await kernel.sessions.create(user_id="u1", app="demo")
        agent = kernel.agents.create("chat", name="helper")
        output = await kernel.run(agent, "hello", session=session)
        assert "hello" in output.content
        print(session.id)

asyncio.run(main())
"""

READER = """
import asyncio, json, sys
import lmdb
from llmspell import Kernel

session_id = sys.argv[1]
env = lmdb.open(".llmspell/lmdb/state", readonly=True, lock=False)
with env.begin() as txn:
    keys = [key.decode() for key, _ in txn.cursor()]
    raw = txn.get(f"session/{session_id}/chat/helper/000000".encode())  # the first turn's messages
env.close()  # LMDB opens an environment once per process: the kernel below opens it again
print(json.dumps(keys))
assert raw is not None and b'"content":"hello"' in raw, raw

async def main():
    async with Kernel(config="llmspell.toml") as kernel:
        session = await kernel.sessions.get(session_id)
        assert (session.user_id, session.app) == ("u1", "demo")
        helper = kernel.agents.create("chat", name="helper")
        history = await helper.conversation(kernel.state, session_id)
        assert [m.role for m in history] == ["user", "assistant"], history
        types = [event.type async for event in session.events()]
        assert types[0] == "session.created" and "agent.run.finished" in types, types

asyncio.run(main())
"""


def test_one_config_line_puts_an_agents_session_in_lmdb(site: Path, tmp_path: Path) -> None:
    """`distribution = "lmdb"` alone: a run's session, its state and its events are in the LMDB
    files, and a second process reads them back (directly with lmdb, and through a kernel)."""
    (tmp_path / "llmspell.toml").write_text('distribution = "lmdb"\n')
    env = clean_env(PYTHONPATH=str(site))
    session_id = run([sys.executable, "-c", textwrap.dedent(WRITER)], tmp_path, env).stdout.strip()
    assert {p.name for p in (tmp_path / ".llmspell" / "lmdb").iterdir()} == {"state", "sessions", "events"}
    assert not (tmp_path / ".llmspell" / "state").exists()  # nothing went to the embedded default
    keys = run([sys.executable, "-c", textwrap.dedent(READER), session_id], tmp_path, env).stdout
    assert f"session/{session_id}/chat/helper" in keys


def guide_files() -> dict[str, str]:
    """The blocks of the guide marked ``<!-- file: NAME -->``, by name."""
    blocks = re.findall(r"^<!-- file: (\S+) -->\n```\w+\n(.*?)^```$", GUIDE.read_text(), re.M | re.S)
    return dict(blocks)


def test_the_package_stays_a_short_read() -> None:
    """The guide's promise: the whole backend and its tests, every Python file, under 200 lines."""
    lines = sum(len((PACKAGE / name).read_text().splitlines()) for name in FILES if name.endswith(".py"))
    assert lines < 200, f"the LMDB package's Python files have {lines} lines; the guide promises under 200"


def test_the_guide_shows_the_complete_package_exactly() -> None:
    shown = guide_files()
    assert list(shown) == list(FILES)
    on_disk = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*")
               if p.is_file() and not any(part.startswith((".", "__")) for part in p.relative_to(PACKAGE).parts)}
    assert on_disk == set(FILES), "a file of the package is missing from the guide (or FILES)"
    for name in FILES:
        assert shown[name] == (PACKAGE / name).read_text(), f"{name} in {GUIDE.name} differs from the package"
