"""Each adapter without its framework: a clear error with the exact pip install line."""

from __future__ import annotations

import json
import subprocess
import sys

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
