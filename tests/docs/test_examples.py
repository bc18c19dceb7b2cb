"""Every example runs on the base install, or names its extra and says what to install.

An example that needs an extra names it on the first line of its docstring
(``needs pip install "llmspell[adk]"``); run without that extra, it exits with the one
line of the hint, not a traceback. Every other example runs with all the optional
packages hidden. No example leaves a temporary directory behind.

"Without the extra" is simulated in this environment: the extra's top-level modules
are set to ``None`` in ``sys.modules`` before the example runs, which makes importing
them fail exactly as if they were not installed.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))

#: The modules each extra installs (what an example would import, directly or through llmspell).
MODULES = {
    "adk": ("google.adk", "google.genai"),
    "langgraph": ("langgraph",),
    "openai-agents": ("agents",),
    "mcp": ("mcp",),
    "web": ("starlette", "uvicorn", "jinja2"),
    "otel": ("opentelemetry",),
    "openai": ("httpx",),
    "redis": ("redis",),
    "nats": ("nats",),
    "postgres": ("psycopg", "psycopg_pool"),
    "s3": ("aiobotocore",),
    "yaml": ("yaml",),
    "crypto": ("cryptography",),
}
#: Extras that are not optional features: the test tools, and the codec now in the base install.
NOT_FEATURES = {"testing", "dev", "zstd", "bench"}

RUN = """
import os, runpy, sys
for name in filter(None, sys.argv[1].split(",")):
    sys.modules[name] = None  # as if not installed
path = sys.argv[2]
sys.argv = sys.argv[2:]
sys.path.insert(0, os.path.dirname(path))
runpy.run_path(path, run_name="__main__")
"""


def named_extras(path: Path) -> set[str]:
    """The extras named on the first line of the example's docstring."""
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    return set(re.findall(r'pip install "llmspell\[([\w,-]+)\]"', doc.splitlines()[0] if doc else ""))


def run(path: Path, blocked: list[str], tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], Path]:
    temp, cwd = tmp_path / "tmp", tmp_path / "cwd"
    temp.mkdir()
    cwd.mkdir()
    env = {**env, "TMPDIR": str(temp), "TEMP": str(temp), "TMP": str(temp)}
    done = subprocess.run([sys.executable, "-c", RUN, ",".join(blocked), str(path)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    return done, temp


def test_every_extra_is_known_here():
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    assert extras - NOT_FEATURES == set(MODULES)


@pytest.mark.parametrize("path", [p for p in EXAMPLES if named_extras(p)], ids=lambda p: p.name)
def test_without_its_extra_an_example_prints_the_install_line(path, tmp_path, llmspell_env):
    (extra,) = named_extras(path)
    done, temp = run(path, list(MODULES[extra]), tmp_path, llmspell_env)
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f'pip install "llmspell[{extra}]"' in lines[0], done.stderr
    assert not list(temp.iterdir())


@pytest.mark.parametrize("path", [p for p in EXAMPLES if not named_extras(p)], ids=lambda p: p.name)
def test_an_example_without_an_extra_runs_on_the_base_install(path, tmp_path, llmspell_env):
    blocked = [module for modules in MODULES.values() for module in modules]
    done, temp = run(path, blocked, tmp_path, llmspell_env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert not list(temp.iterdir()), "left behind in the temporary directory"
