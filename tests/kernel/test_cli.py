"""The ``llmspell`` command line, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest


def llmspell(*args: str, env: dict[str, str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["llmspell", *args], env=env, cwd=cwd, capture_output=True, text=True, check=check)


@pytest.fixture
def env(llmspell_env, tmp_path, acme_site):
    return {**llmspell_env, "PYTHONPATH": os.pathsep.join([str(acme_site), llmspell_env.get("PYTHONPATH", "")])}


def test_plugins_json_lists_defaults_and_third_party(env, tmp_path):
    data = json.loads(llmspell("plugins", "--json", env=env, cwd=tmp_path).stdout)
    plugins = {p["name"]: p for p in data["plugins"]}
    assert plugins["hooks"]["source"] == "default"
    assert plugins["hooks"]["distribution"] == "llmspell"
    assert "llmspell_register_commands" in plugins["hooks"]["hooks"]
    assert plugins["acme"]["version"] == "1.2.3"
    assert plugins["acme"]["registers"] == {"state_backend": ["acme"]}


def test_block_with_p_no(env, tmp_path):
    data = json.loads(llmspell("-p", "no:acme", "plugins", "--json", env=env, cwd=tmp_path).stdout)
    assert "acme" not in {p["name"] for p in data["plugins"]}
    assert data["blocked"] == ["acme"]


def test_plugins_table(env, tmp_path):
    out = llmspell("plugins", env={**env, "COLUMNS": "200"}, cwd=tmp_path).stdout
    assert "hooks" in out and "acme-llmspell 1.2.3" in out


def test_config_hides_secrets_and_shows_sources(env, tmp_path):
    (tmp_path / "llmspell.toml").write_text('[acme]\ngreeting = "from file"\n')
    env = {k: v for k, v in env.items() if k != "LLMSPELL_CONFIG"}
    data = json.loads(llmspell("config", "--json", env={**env, "LLMSPELL_ACME_SHOUT": "true"}, cwd=tmp_path).stdout)
    assert data["acme"] == {"greeting": "from file", "shout": True}
    assert data["source"] == str(tmp_path / "llmspell.toml")
    assert data["data_dir"] == str(tmp_path / ".llmspell")


def test_bad_config_prints_one_clear_error(env, tmp_path):
    (tmp_path / "bad.toml").write_text('[acme]\ngreeting = 5\n')
    result = llmspell("-c", str(tmp_path / "bad.toml"), "config", env=env, cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert "acme.greeting: expected a string, got int 5" in result.stderr
    assert "Traceback" not in result.stderr
    debug = llmspell("--debug", "-c", str(tmp_path / "bad.toml"), "config", env=env, cwd=tmp_path, check=False)
    assert "Traceback" in debug.stderr


def test_doctor_reports_ok_and_failures(env, tmp_path):
    result = llmspell("--data-dir", str(tmp_path / "data"), "doctor", "--json", env=env, cwd=tmp_path)
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert {c["check"] for c in data["checks"]} >= {"data directory", "start"}
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    bad = llmspell("--data-dir", str(blocker / "data"), "doctor", "--json", env=env, cwd=tmp_path, check=False)
    assert bad.returncode == 1
    checks = json.loads(bad.stdout)["checks"]
    assert checks[0]["check"] == "data directory" and not checks[0]["ok"]


def test_plugin_adds_a_subcommand(env, tmp_path):
    out = llmspell("--help", env=env, cwd=tmp_path).stdout
    assert "hooks" in out and "plugins" in out and "doctor" in out


@pytest.mark.parametrize("command", [["mcp", "serve"], ["hooks"], ["state", "info"], ["sessions", "list"]])
def test_an_invalid_config_is_shown_for_every_command(env, tmp_path, command):
    bad = tmp_path / "bad.toml"
    bad.write_text('[acme]\ngreeting = 5\n')
    result = llmspell("-c", str(bad), *command, env=env, cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert "No such command" not in result.stderr
    assert f"invalid configuration in {bad}" in result.stderr
    assert f"acme.greeting: expected a string, got int 5 (set by file {bad})" in result.stderr


def test_an_unknown_command_with_a_valid_config_is_still_a_usage_error(env, tmp_path):
    result = llmspell("nosuch", env=env, cwd=tmp_path, check=False)
    assert result.returncode == 2 and "No such command 'nosuch'" in result.stderr


@pytest.mark.parametrize("how", [["-p", "no:acme"], ["LLMSPELL_PLUGINS_DISABLE"], ["[plugins]"]])
def test_a_plugin_with_a_section_can_be_blocked_from_the_command_line(env, tmp_path, how):
    config = tmp_path / "user.toml"
    config.write_text(('[plugins]\ndisable = "acme"\n' if how == ["[plugins]"] else "") + '[acme]\ngreeting = "x"\n')
    if how == ["LLMSPELL_PLUGINS_DISABLE"]:
        env = {**env, "LLMSPELL_PLUGINS_DISABLE": "acme"}
    args = how if how[0] == "-p" else []
    result = llmspell("-c", str(config), *args, "plugins", "--json", env=env, cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["blocked"] == ["acme"]
    assert result.stderr.count("ignoring the settings of blocked plugins: [acme]") == 1


def test_blocking_a_plugin_of_the_distribution_that_presets_its_section(env, tmp_path):
    result = llmspell("--distribution", "acme", "-p", "no:acme", "plugins", "--json", env=env, cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stderr
    assert "[acme] set by distribution 'acme'" in result.stderr
    assert "acme" not in {p["name"] for p in json.loads(result.stdout)["plugins"]}
