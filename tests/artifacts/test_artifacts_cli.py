"""``llmspell artifacts ls|put|get|stat|versions|rm|gc`` in a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def cli(tmp_path: Path, llmspell_env: dict[str, str]) -> Any:
    data_dir = tmp_path / "data"

    def run(*args: str, ok: bool = True, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        done = subprocess.run(
            [sys.executable, "-c", "from llmspell.plugins.cli import main; main()", "--data-dir", str(data_dir), *args],
            capture_output=True, env=llmspell_env, input=stdin, timeout=60, check=False,
        )
        if ok:
            assert done.returncode == 0, done.stderr.decode()
        return done

    return run


def test_artifact_commands(cli: Any, tmp_path: Path) -> None:
    source = tmp_path / "report.bin"
    content = os.urandom(3 << 20)
    source.write_bytes(content)
    put = json.loads(cli("artifacts", "put", str(source), "--session", "s1", "--tag", "q1", "--json").stdout)
    assert put["ref"] == "artifact:session/s1/report.bin@1" and put["size"] == len(content) and put["tags"] == ["q1"]
    cli("artifacts", "put", "-", "--name", "report.bin", "--session", "s1", "--type", "text/plain", stdin=b"v2")

    listed = json.loads(cli("artifacts", "ls", "--json").stdout)
    assert [(i["name"], i["version"]) for i in listed["items"]] == [("report.bin", 2)] and listed["next_cursor"] is None
    assert json.loads(cli("artifacts", "ls", "--tag", "q1", "--all-versions", "--json").stdout)["items"][0]["version"] == 1

    out = tmp_path / "out.bin"
    meta = json.loads(cli("artifacts", "get", "report.bin", "--session", "s1", "--version", "1", "-o", str(out), "--json").stdout)
    assert out.read_bytes() == content and meta["sha256"] == put["sha256"]
    assert cli("artifacts", "get", "artifact:session/s1/report.bin@2").stdout == b"v2"
    assert json.loads(cli("artifacts", "stat", "report.bin", "--session", "s1", "--json").stdout)["content_type"] == "text/plain"

    versions = json.loads(cli("artifacts", "versions", "report.bin", "--session", "s1", "--json").stdout)["versions"]
    assert [v["version"] for v in versions] == [1, 2]

    denied = cli("artifacts", "get", "report.bin", "--session", "s1", "--as", "user:bob", ok=False)
    assert denied.returncode == 1 and b"user:bob may not read" in denied.stderr

    gone = json.loads(cli("artifacts", "rm", "report.bin", "--session", "s1", "--version", "1", "--json").stdout)
    assert gone == {"deleted": ["artifact:session/s1/report.bin@1"]}
    dry = json.loads(cli("artifacts", "gc", "--dry-run", "--grace", "0", "--json").stdout)
    assert dry["dry_run"] and dry["bytes_freed"] == len(content) and len(dry["blobs"]) == 1
    done = json.loads(cli("artifacts", "gc", "--grace", "0", "--json").stdout)
    assert done["bytes_freed"] == len(content) and done["blobs"] == dry["blobs"]
    assert b"deleted artifact:session/s1/report.bin@2" in cli("artifacts", "rm", "report.bin", "--session", "s1").stdout
    assert json.loads(cli("artifacts", "ls", "--json").stdout)["items"] == []

    missing = cli("artifacts", "get", "nothing.txt", ok=False)
    assert missing.returncode == 1 and b"no artifact" in missing.stderr
    bad = cli("artifacts", "put", str(source), "--name", "../escape", ok=False)
    assert bad.returncode == 1 and b"invalid artifact name" in bad.stderr
