"""``llmspell state get|set|list|delete|migrate|info``."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from llmspell import Kernel
from llmspell.plugins.cli import main

MIGRATIONS = """
from llmspell import hookimpl

@hookimpl
def llmspell_register_state_migrations(register):
    register.schema("doc", 2)
    register("doc", 1, lambda v: {**v, "upgraded": True})
    register.schema("bad", 2)
    register("bad", 1, lambda v: v["missing"])
"""


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """Run ``llmspell --data-dir <tmp> ARGS``; returns (exit code, stdout, stderr)."""
    for name in [n for n in os.environ if n.startswith("LLMSPELL_")]:
        monkeypatch.delenv(name)
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    monkeypatch.setenv("LLMSPELL_CONFIG", str(empty))
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            main(["--data-dir", str(tmp_path / "data"), *args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_set_get_list_delete_json(cli: Any) -> None:
    code, out, _ = cli("state", "set", "user:u1", "theme", '{"dark": true}', "--json")
    assert code == 0 and json.loads(out)["version"] == 1
    assert cli("state", "set", "user:u1", "name", "Ada Lovelace", "--string")[0] == 0
    code, out, _ = cli("state", "get", "user:u1", "theme", "--json")
    assert json.loads(out) == {
        "scope": "user",
        "owner": "u1",
        "key": "theme",
        "value": {"dark": True},
        "version": 1,
        "schema_version": 1,
        "found": True,
    }
    code, out, _ = cli("state", "list", "user:u1", "--values", "--json")
    assert [(i["key"], i["value"]) for i in json.loads(out)["items"]] == [
        ("name", "Ada Lovelace"),
        ("theme", {"dark": True}),
    ]
    code, out, _ = cli("state", "delete", "user:u1", "theme", "--json")
    assert json.loads(out)["deleted"] is True
    code, out, _ = cli("state", "get", "user:u1", "theme", "--json")
    assert code == 1 and json.loads(out)["found"] is False
    code, out, err = cli("state", "get", "app", "nothing")
    assert code == 1 and "not set in app:default" in err


def test_human_output(cli: Any) -> None:
    code, out, _ = cli("state", "set", "agent:helper", "k", "[1, 2]")
    assert code == 0 and "version 1" in out
    code, out, err = cli("state", "get", "agent:helper", "k")
    assert code == 0 and json.loads(out) == [1, 2] and "version 1" in err
    code, out, _ = cli("state", "list", "agent:helper")
    assert out.strip() == "k  v1"


def test_errors(cli: Any) -> None:
    cli("state", "set", "user:u1", "k", "1")
    code, _, err = cli("state", "set", "user:u1", "k", "2", "--expected-version", "5")
    assert code == 1 and "conflict on 'k'" in err
    code, _, err = cli("state", "set", "user:u1", "k", "not json")
    assert code == 2 and "--string" in err
    code, _, err = cli("state", "get", "temp:x", "k")
    assert code == 1 and "never stored" in err
    code, _, err = cli("state", "get", "planet:x", "k")
    assert code == 1 and "unknown state scope 'planet'" in err and "session" in err
    code, _, err = cli("state", "set", "user:u1", "", "1")
    assert code == 1 and "must not be empty" in err


def _plant(data_dir: Path, records: dict[str, Any]) -> None:
    async def go() -> None:
        async with Kernel({"state": {"backend": "diskcache"}}, data_dir=data_dir, env={}) as kernel:
            for key, (value, schema) in records.items():
                data = orjson.dumps({"schema_version": schema, "value": value})
                await kernel.state.backend.compare_and_set(key, data)

    asyncio.run(go())


def test_migrate_dry_run_then_real(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "migs.py").write_text(MIGRATIONS)
    _plant(
        tmp_path / "data",
        {
            "user/u1/doc": ({"a": 1}, 1),
            "user/u2/doc.x": ({"b": 2}, 1),
            "session/s1/bad": ({}, 1),
            "app/default/plain": (1, 1),
        },
    )
    plugin = ["-p", str(tmp_path / "migs.py")]
    code, out, _ = cli(*plugin, "state", "migrate", "--dry-run", "--json")
    report = json.loads(out)
    assert code == 1 and (report["scanned"], report["migrated"], report["current"]) == (4, 2, 1)
    assert [f["key"] for f in report["failed"]] == ["session/s1/bad"]
    assert json.loads(cli(*plugin, "state", "get", "user:u1", "doc", "--json")[1])["value"] == {
        "a": 1,
        "upgraded": True,
    }
    code, out, _ = cli(*plugin, "state", "migrate", "--scope", "user", "--json")
    assert code == 0 and json.loads(out)["migrated"] == 1  # u1 was migrated on read above
    code, out, err = cli(*plugin, "state", "migrate", "--scope", "user:u2")
    assert code == 0, (out, err)
    assert "migrated 0, 1 already current" in out
    code, out, err = cli(*plugin, "state", "migrate")
    assert code == 1 and "session/s1/bad" in err and "unchanged" in err
    code, _, err = cli("state", "get", "user:u1", "doc")  # without the plugin: newer than the code
    assert code == 1 and "schema version 2" in err


def test_info(cli: Any) -> None:
    code, out, _ = cli("state", "info", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["backend"] == "diskcache" and {"diskcache", "memory"} <= set(data["backends"])
    assert "counter_add" in data["reducers"]


def test_console_script_end_to_end(tmp_path: Path) -> None:
    exe = shutil.which("llmspell", path=str(Path(sys.executable).parent))
    assert exe is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMSPELL_")}
    env["LLMSPELL_DATA_DIR"] = str(tmp_path / "data")
    subprocess.run(
        [exe, "state", "set", "user:u1", "visits", "41"],
        check=True,
        cwd=tmp_path,
        env=env,
        capture_output=True,
    )
    done = subprocess.run(
        [exe, "state", "get", "user:u1", "visits", "--json"],
        check=True,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert json.loads(done.stdout)["value"] == 41
