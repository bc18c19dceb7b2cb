"""Each adapter without its framework: a clear error with the exact pip install line."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

SCRIPT = r"""
import asyncio, json, sys
blocked = {"langgraph": "langgraph", "adk": "google.adk", "openai_agents": "agents", "mcp": "mcp"}
for name in blocked.values():
    sys.modules[name] = None  # as if not installed
out = {}
for package in ("langgraph", "adk", "openai_agents"):
    try:
        __import__(f"llmspell.contrib.{package}")
        out[package] = "imported"
    except ImportError as exc:
        out[package] = f"{type(exc).__name__}: {exc}"
from llmspell import Kernel
kernel = Kernel(data_dir=sys.argv[1], config={"mcp": {"servers": {"x": {"command": "true"}}}})
try:
    asyncio.run(kernel.start())
    out["mcp"] = "started"
except Exception as exc:
    out["mcp"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(out))
"""


def test_missing_frameworks_name_the_extra(tmp_path, llmspell_env):
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], env=llmspell_env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["langgraph"].startswith("MissingExtraError") and 'pip install "llmspell[langgraph]"' in out["langgraph"]
    assert 'pip install "llmspell[adk]"' in out["adk"]
    assert 'pip install "llmspell[openai-agents]"' in out["openai_agents"]
    assert out["mcp"].startswith("PluginError") and 'pip install "llmspell[mcp]"' in out["mcp"]


# --- The extras install together -------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
#: What a user installs for every framework and the console together (the issue's set).
TOGETHER = "adk,otel,langgraph,openai-agents,mcp,web"


def extra_requirements(extra: str) -> dict[str, SpecifierSet]:
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"][extra]
    return {canonicalize_name(r.name): r.specifier for r in map(Requirement, listed)}


def test_the_installed_environment_has_no_conflicts():
    done = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_otel_extra_stays_in_the_opentelemetry_range_adk_accepts():
    """Installing [otel] first, then [adk], must not leave the exporter on a newer SDK.

    pip resolves each install on its own: the exporter pins the SDK's minor version
    (``~=``), so every version [otel] allows must be one google-adk allows too.
    """
    ours = extra_requirements("otel")
    adk = [Requirement(r) for r in importlib.metadata.requires("google-adk") or []]
    pinned = {canonicalize_name(r.name): r.specifier for r in adk if r.marker is None
              and r.name.startswith("opentelemetry-")}
    assert {"opentelemetry-api", "opentelemetry-sdk"} <= set(pinned)
    candidates = [f"1.{minor}.{patch}" for minor in range(100) for patch in range(6)]
    # the exporter moves in lockstep with the SDK it requires
    for name, sdk in (("opentelemetry-api", "opentelemetry-api"), ("opentelemetry-sdk", "opentelemetry-sdk"),
                      ("opentelemetry-exporter-otlp-proto-http", "opentelemetry-sdk")):
        outside = [v for v in candidates if v in ours[name] and v not in pinned[sdk]]
        assert not outside, f"[otel] allows {name} {outside[0]}, outside google-adk's {sdk}{pinned[sdk]}"


@pytest.mark.slow
def test_the_extras_install_together_and_one_after_another(tmp_path):
    """A fresh environment from the package index: pip check stays clean (needs the network)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]

    def check() -> None:
        done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "check"], capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr

    for extra in ("otel", "adk"):  # one after the other: each resolved on its own
        subprocess.run([*pip, f"{ROOT}[{extra}]"], check=True, timeout=900)
    check()
    subprocess.run([*pip, f"{ROOT}[{TOGETHER}]"], check=True, timeout=900)
    check()
