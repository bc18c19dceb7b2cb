"""The ``[redis]`` section: environment, secrets, bad values, a missing extra, doctor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmspell.errors import ConfigError
from tests.contrib import _config_checks as checks
from tests.contrib._servers import spare_port
from tests.contrib._services import REDIS_URL


def test_the_url_comes_from_the_environment(make_kernel: Any, llmspell_env: dict[str, str]) -> None:
    env = {**llmspell_env, "LLMSPELL_REDIS_URL": "redis://cache.internal:6380/2", "LLMSPELL_REDIS_PREFIX": "shop"}
    config = make_kernel(env=env).config.section("redis")
    assert (config.url, config.prefix) == ("redis://cache.internal:6380/2", "shop")


def test_bad_values_name_their_field(make_kernel: Any) -> None:
    with pytest.raises(ConfigError) as info:
        make_kernel({"redis": {"url": "http://localhost", "prefix": "has space", "timeout": 0}})
    text = str(info.value)
    assert "redis.url" in text and "redis://" in text
    assert "redis.prefix" in text and "redis.timeout" in text


def test_llmspell_config_never_prints_the_url(tmp_path: Path) -> None:
    shown = checks.config_hides(tmp_path, {"redis": {"url": "redis://:hunter2@db.internal:6379/0"}}, "redis",
                                "hunter2")
    assert shown["url"] == "***"
    assert shown["prefix"] == "llmspell"


def test_a_missing_redis_package_fails_at_build_with_the_install_line(tmp_path: Path) -> None:
    code = f"from llmspell import Kernel\nKernel({{'state': {{'backend': 'redis'}}}}, data_dir={str(tmp_path)!r})"
    done = checks.without_package("redis", code)
    assert done.returncode == 1
    assert "MissingExtraError" in done.stderr and 'pip install "llmspell[redis]"' in done.stderr
    # Not selected: the package is never imported, the kernel builds without it.
    fine = checks.without_package("redis", f"from llmspell import Kernel\nKernel(data_dir={str(tmp_path)!r})")
    assert fine.returncode == 0, fine.stderr


def _selected(url: str, prefix: str) -> dict[str, Any]:
    return {"state": {"backend": "redis"}, "sessions": {"backend": "redis"},
            "events": {"backend": "redis", "transport": "redis"},
            "redis": {"url": url, "prefix": prefix, "timeout": 1.0, "connect_timeout": 1.0}}


def test_doctor_checks_every_redis_backend(tmp_path: Path, redis_prefix: str) -> None:
    code, report = checks.doctor(tmp_path, {"data_dir": str(tmp_path / "d"), **_selected(REDIS_URL, redis_prefix)})
    assert code == 0, report
    names = [c["check"] for c in report["checks"]]
    assert any("state backend" in n for n in names) and any("session backend" in n for n in names)
    assert any("event backend" in n for n in names)


def test_doctor_says_what_to_fix_when_redis_is_down(tmp_path: Path) -> None:
    port = spare_port()
    code, report = checks.doctor(tmp_path, {"data_dir": str(tmp_path / "d"),
                                            **_selected(f"redis://:pw@127.0.0.1:{port}/0", "x")})
    assert code == 1
    failed = [c for c in report["checks"] if not c["ok"]]
    assert failed and "check that the server runs" in failed[0]["detail"]
    assert f"127.0.0.1:{port}" in failed[0]["detail"] and ":pw@" not in failed[0]["detail"]
