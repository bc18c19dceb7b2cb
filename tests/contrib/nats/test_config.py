"""The ``[nats]`` section: environment, secrets, bad values, a missing extra, doctor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmspell.errors import ConfigError
from tests.contrib import _config_checks as checks
from tests.contrib._servers import spare_port
from tests.contrib._services import NATS_URL


def test_the_servers_come_from_the_environment(make_kernel: Any, llmspell_env: dict[str, str]) -> None:
    env = {**llmspell_env, "LLMSPELL_NATS_SERVERS": "nats://a:4222,nats://b:4222", "LLMSPELL_NATS_PREFIX": "shop"}
    config = make_kernel(env=env).config.section("nats")
    assert (config.servers, config.prefix) == ("nats://a:4222,nats://b:4222", "shop")


def test_bad_values_name_their_field(make_kernel: Any) -> None:
    with pytest.raises(ConfigError) as info:
        make_kernel({"nats": {"servers": "localhost:4222", "prefix": "a.b", "storage": "disk"}})
    text = str(info.value)
    assert "nats.servers" in text and "nats.prefix" in text and "nats.storage" in text


def test_llmspell_config_never_prints_servers_or_credentials(tmp_path: Path) -> None:
    config = {"nats": {"servers": "nats://app:hunter2@mq.internal:4222", "token": "s3cr3t-token"}}
    shown = checks.config_hides(tmp_path, config, "nats", "hunter2")
    assert shown["servers"] == "***" and shown["token"] == "***"
    assert "s3cr3t-token" not in str(shown)


def test_a_missing_nats_package_fails_at_build_with_the_install_line(tmp_path: Path) -> None:
    code = f"from llmspell import Kernel\nKernel({{'events': {{'transport': 'nats'}}}}, data_dir={str(tmp_path)!r})"
    done = checks.without_package("nats", code)
    assert done.returncode == 1
    assert "MissingExtraError" in done.stderr and 'pip install "llmspell[nats]"' in done.stderr
    fine = checks.without_package("nats", f"from llmspell import Kernel\nKernel(data_dir={str(tmp_path)!r})")
    assert fine.returncode == 0, fine.stderr


def _selected(servers: str, prefix: str) -> dict[str, Any]:
    return {"state": {"backend": "nats"}, "events": {"backend": "nats", "transport": "nats"},
            "nats": {"servers": servers, "prefix": prefix, "timeout": 1.0, "connect_timeout": 1.0}}


def test_doctor_checks_every_nats_backend(tmp_path: Path, nats_prefix: str) -> None:
    code, report = checks.doctor(tmp_path, {"data_dir": str(tmp_path / "d"), **_selected(NATS_URL, nats_prefix)})
    assert code == 0, report
    names = [c["check"] for c in report["checks"]]
    assert any("state backend" in n for n in names) and any("event backend" in n for n in names)


def test_doctor_says_what_to_fix_when_nats_is_down(tmp_path: Path) -> None:
    port = spare_port()
    code, report = checks.doctor(tmp_path, {"data_dir": str(tmp_path / "d"),
                                            **_selected(f"nats://u:pw@127.0.0.1:{port}", "x")})
    assert code == 1
    failed = [c for c in report["checks"] if not c["ok"]]
    assert failed and "check that the server runs" in failed[0]["detail"]
    assert f"127.0.0.1:{port}" in failed[0]["detail"] and ":pw@" not in failed[0]["detail"]
