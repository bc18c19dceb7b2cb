"""Configuration, secrets, the missing extra, ``llmspell doctor`` and ``llmspell postgres``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmspell.errors import ConfigError

from .pg import DSN, pg_schema  # noqa: F401 - a fixture

pytestmark = pytest.mark.postgres


def llmspell(tmp_path: Path, *args: str, toml: str = "", env: dict[str, str] | None = None) -> tuple[int, str, str]:
    (tmp_path / "llmspell.toml").write_text(toml)
    base = {k: v for k, v in os.environ.items() if not k.startswith("LLMSPELL_")}
    base["LLMSPELL_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run(
        [sys.executable, "-m", "llmspell.plugins.cli", *args], cwd=tmp_path, env={**base, **(env or {})},
        capture_output=True, text=True, timeout=120,
    )
    return done.returncode, done.stdout, done.stderr


def all_postgres(schema: str, **postgres: Any) -> str:
    extra = "".join(f"{k} = {json.dumps(v)}\n" for k, v in postgres.items())
    return (
        f'[postgres]\nschema = "{schema}"\n{extra}'
        '[state]\nbackend = "postgres"\n[sessions]\nbackend = "postgres"\n'
        '[events]\nbackend = "postgres"\ntransport = "postgres"\n[artifacts]\nmetadata = "postgres"\n'
    )


def test_dsn_comes_from_the_environment_and_is_never_printed(tmp_path: Path, pg_schema: str) -> None:  # noqa: F811
    secret_dsn = DSN.replace("postgres@", "postgres:hunter2@")
    env = {"LLMSPELL_POSTGRES_DSN": secret_dsn, "LLMSPELL_S3_SECRET_ACCESS_KEY": "s3-secret-value"}
    code, out, err = llmspell(tmp_path, "config", "--json", toml=all_postgres(pg_schema), env=env)
    assert code == 0, err
    data = json.loads(out)
    assert data["postgres"]["dsn"] == "***" and data["postgres"]["schema"] == pg_schema
    assert data["s3"]["secret_access_key"] == "***"
    assert "hunter2" not in out + err and "s3-secret-value" not in out + err
    code, out, _ = llmspell(tmp_path, "config", "--json", "--show-secrets", toml=all_postgres(pg_schema), env=env)
    assert json.loads(out)["postgres"]["dsn"] == secret_dsn


def test_bad_values_name_their_field(make_kernel: Any) -> None:
    with pytest.raises(ConfigError) as info:
        make_kernel({"postgres": {"schema": "Robert'); DROP TABLE--", "min_size": 0}, "s3": {"part_size": 1024}})
    text = str(info.value)
    assert "postgres" in text and "schema" in text and "s3" in text and "part_size" in text


def test_doctor_checks_connection_and_migration_level(tmp_path: Path, pg_schema: str) -> None:  # noqa: F811
    env = {"LLMSPELL_POSTGRES_DSN": DSN}
    # auto_migrate off and an empty schema: startup refuses and says what to run
    code, out, _ = llmspell(tmp_path, "doctor", "--json", toml=all_postgres(pg_schema, auto_migrate=False), env=env)
    report = json.loads(out)
    assert code == 1 and not report["ok"]
    assert "llmspell postgres migrate" in json.dumps(report)

    code, out, err = llmspell(tmp_path, "postgres", "migrate", "--dry-run", "--json",
                              toml=all_postgres(pg_schema, auto_migrate=False), env=env)
    assert code == 0, err
    assert json.loads(out)["migrations"][0]["version"] == 1
    code, out, err = llmspell(tmp_path, "postgres", "migrate", toml=all_postgres(pg_schema, auto_migrate=False), env=env)
    assert code == 0 and "applied 1" in out, err
    code, out, err = llmspell(tmp_path, "postgres", "status", "--json", toml=all_postgres(pg_schema), env=env)
    assert code == 0 and json.loads(out)["pending"] == [], err

    code, out, err = llmspell(tmp_path, "doctor", "--json", toml=all_postgres(pg_schema, auto_migrate=False), env=env)
    report = json.loads(out)
    assert code == 0 and report["ok"], err
    names = " ".join(c["check"] for c in report["checks"])
    for service in ("state backend", "session backend", "event backend", "artifact metadata backend"):
        assert service in names


def test_doctor_names_a_server_that_is_not_there(tmp_path: Path) -> None:
    from tests.contrib.s3.s3server import free_port

    toml = f'[postgres]\ndsn = "postgresql://u:pw-xyz@127.0.0.1:{free_port()}/db"\nconnect_timeout = 1.0\n' \
           '[state]\nbackend = "postgres"\n'
    code, out, _ = llmspell(tmp_path, "doctor", "--json", toml=toml)
    report = json.loads(out)
    assert code == 1 and not report["ok"]
    text = json.dumps(report)
    assert "cannot connect to PostgreSQL at 127.0.0.1" in text and "pw-xyz" not in text


@pytest.mark.parametrize(("module", "section", "extra"), [("psycopg", "state", "postgres"), ("aiobotocore", "artifacts", "s3")])
def test_a_missing_extra_fails_at_startup_with_the_pip_line(tmp_path: Path, module: str, section: str, extra: str) -> None:
    """Run where the client library cannot be imported (its module is blocked in sys.modules)."""
    choice = {"state": {"backend": "postgres"}, "artifacts": {"backend": "s3"}}[section]
    script = (
        "import asyncio, sys\n"
        f"sys.modules[{module!r}] = None  # as if the package were not installed\n"
        "from llmspell import Kernel\n"
        "from llmspell.errors import LlmspellError, MissingExtraError\n"
        "async def main():\n"
        f"    async with Kernel({{{section!r}: {choice!r}}}, data_dir=sys.argv[1], env={{'LLMSPELL_CONFIG': sys.argv[2]}}):\n"
        "        print('started?!')\n"
        "try:\n"
        "    asyncio.run(main())\n"
        "except LlmspellError as exc:\n"
        "    missing = exc if isinstance(exc, MissingExtraError) else exc.__cause__\n"
        "    print(type(missing).__name__, exc)\n"
    )
    (tmp_path / "empty.toml").write_text("")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "d"), str(tmp_path / "empty.toml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("MissingExtraError") and f'pip install "llmspell[{extra}]"' in done.stdout
