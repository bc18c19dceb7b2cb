"""Configuration checks shared by the Redis and NATS tests: env, secrets, extras, doctor."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from ._scenarios import ROOT, process_env, write_config


def cli(config: Path, *args: str, **env: str) -> tuple[int, str, str]:
    done = subprocess.run([sys.executable, "-m", "llmspell.plugins.cli", "-c", str(config), *args], cwd=ROOT,
                          env=process_env(**env), capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


def config_hides(tmp_path: Path, config: dict[str, Any], section: str, secret: str) -> dict[str, Any]:
    """``llmspell config --json`` of ``config``: the secret is never printed, ``***`` stands for it."""
    path = write_config(tmp_path / "secret.toml", config)
    code, out, err = cli(path, "config", "--json")
    assert code == 0, err
    assert secret not in out
    data: dict[str, Any] = json.loads(out)[section]
    return data


def without_package(package: str, code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a Python where ``package`` cannot be imported (as if not installed)."""
    script = f"import sys\nsys.modules[{package!r}] = None\n{code}"
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=process_env(), capture_output=True,
                          text=True, timeout=120)


def doctor(tmp_path: Path, config: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    path = write_config(tmp_path / "doctor.toml", config)
    code, out, err = cli(path, "doctor", "--json")
    return code, json.loads(out) if out.strip() else {"stderr": err}
