"""Configuration: file, environment, defaults, and one readable error for every bad value."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from llmspell import ConfigError, Kernel, PluginError, hookimpl
from llmspell.config import secret


@attrs.frozen
class Limits:
    max_runs: int = 4
    ratio: float = 0.5


@attrs.frozen
class DemoConfig:
    name: str = "demo"
    enabled: bool = True
    mode: str = "fast"
    password: str | None = secret()
    limits: Limits = attrs.Factory(Limits)
    tags: list[str] = attrs.Factory(list)


class Demo:
    __name__ = "demo"

    @hookimpl
    def llmspell_register_config(self, register):
        register("demo", DemoConfig)


def build(make_kernel, config=None, **kwargs) -> Kernel:
    return make_kernel(config, plugins=[Demo()], **kwargs)


def problems(excinfo: pytest.ExceptionInfo[ConfigError]) -> str:
    return "\n".join(excinfo.value.problems)


def test_no_config_runs_on_defaults(make_kernel, tmp_path, llmspell_env, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {k: v for k, v in llmspell_env.items() if k != "LLMSPELL_CONFIG"}
    kernel = Kernel(env=env, plugins=[Demo()])
    assert kernel.config.data_dir == tmp_path / ".llmspell"
    assert kernel.config.source is None
    assert kernel.config.section("demo") == DemoConfig()


def test_file_found_in_current_folder_and_relative_data_dir(tmp_path, llmspell_env, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    (project / "llmspell.toml").write_text('data_dir = "var/data"\n[demo]\nname = "from file"\n')
    monkeypatch.chdir(project)
    env = {k: v for k, v in llmspell_env.items() if k != "LLMSPELL_CONFIG"}
    kernel = Kernel(env=env, plugins=[Demo()])
    assert kernel.config.source == str(project / "llmspell.toml")
    assert kernel.config.data_dir == project / "var" / "data"
    assert kernel.config.section("demo").name == "from file"


def test_env_overrides_file(make_kernel, tmp_path, llmspell_env):
    path = tmp_path / "conf.toml"
    path.write_text('[demo]\nname = "file"\nenabled = true\n[demo.limits]\nmax_runs = 2\n')
    env = {
        **llmspell_env,
        "LLMSPELL_CONFIG": str(path),
        "LLMSPELL_DEMO_ENABLED": "false",
        "LLMSPELL_DEMO_TAGS": '["a", "b"]',
        "LLMSPELL_DEMO_LIMITS__MAX_RUNS": "9",
        "LLMSPELL_DEMO_MODE": "plain words stay strings",
        "LLMSPELL_DATA_DIR": str(tmp_path / "env-data"),
    }
    kernel = Kernel(env=env, plugins=[Demo()])
    demo = kernel.config.section("demo")
    assert demo.name == "file"
    assert demo.enabled is False
    assert demo.tags == ["a", "b"]
    assert demo.limits.max_runs == 9
    assert demo.mode == "plain words stay strings"
    assert kernel.config.data_dir == tmp_path / "env-data"


def test_mapping_layers_over_everything(make_kernel):
    kernel = build(make_kernel, {"demo": {"limits": {"ratio": 2}}})
    assert kernel.config.section("demo").limits == Limits(max_runs=4, ratio=2.0)


def test_unknown_top_level_key_suggests_the_close_one(make_kernel):
    with pytest.raises(ConfigError) as info:
        build(make_kernel, {"dmeo": {"name": "x"}})
    text = problems(info)
    assert "dmeo: unknown section or key; did you mean 'demo'?" in text
    known = text[text.index("(known: ") + 8 : text.index(";", text.index("(known: "))].split(", ")
    assert {"data_dir", "demo", "distribution", "hook_policy", "plugins"} <= set(known)
    assert known == sorted(known)


def test_unknown_key_in_section(make_kernel):
    with pytest.raises(ConfigError) as info:
        build(make_kernel, {"demo": {"nmae": "x"}})
    assert "demo: unknown key(s) nmae (allowed: name, enabled, mode, password, limits, tags)" in problems(info)


def test_wrong_types_name_path_value_and_expectation(make_kernel):
    with pytest.raises(ConfigError) as info:
        build(make_kernel, {"demo": {"name": 3, "enabled": "yes", "limits": {"max_runs": True, "ratio": "x"}}})
    text = problems(info)
    assert "demo.name: expected a string, got int 3" in text
    assert "demo.enabled: expected true or false, got str 'yes'" in text
    assert "demo.limits.max_runs: expected an integer, got a boolean (True)" in text
    assert "demo.limits.ratio: expected a number, got str 'x'" in text
    assert str(info.value).startswith("invalid configuration")


def test_bad_kernel_keys(make_kernel):
    with pytest.raises(ConfigError, match=r"plugins.disable\[0\]: expected a string, got int 1"):
        make_kernel({"plugins": {"disable": [1]}})
    with pytest.raises(ConfigError, match=r"plugins: unknown key\(s\) disabled"):
        make_kernel({"plugins": {"disabled": ["x"]}})


def test_bad_file(tmp_path, llmspell_env):
    path = tmp_path / "bad.toml"
    path.write_text("[demo\nname = 1")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        Kernel(path, env=llmspell_env)
    assert str(path) in str(info.value)
    with pytest.raises(ConfigError, match="does not exist"):
        Kernel(tmp_path / "missing.toml", env=llmspell_env)
    with pytest.raises(ConfigError, match="LLMSPELL_CONFIG points at"):
        Kernel(env={**llmspell_env, "LLMSPELL_CONFIG": str(tmp_path / "nope.toml")})


def test_bad_env_value_is_reported_with_its_path(make_kernel, llmspell_env):
    with pytest.raises(ConfigError, match=r"demo.limits.max_runs: expected an integer, got str 'many'"):
        build(make_kernel, env={**llmspell_env, "LLMSPELL_DEMO_LIMITS__MAX_RUNS": "many"})


def test_secrets_are_redacted(make_kernel):
    kernel = build(make_kernel, {"demo": {"password": "hunter2"}})
    assert kernel.config.section("demo").password == "hunter2"
    assert kernel.config.to_dict()["demo"]["password"] == "***"
    assert kernel.config.to_dict(show_secrets=True)["demo"]["password"] == "hunter2"


def test_hook_policy_is_validated(make_kernel):
    with pytest.raises(ConfigError, match="hook_policy.threshold: expected an integer"):
        make_kernel({"hook_policy": {"threshold": "five"}})
    kernel = make_kernel({"hook_policy": {"threshold": 2, "strict": True}})
    assert kernel.dispatcher.policy.threshold == 2
    assert kernel.dispatcher.policy.strict is True


def test_section_registered_twice_is_an_error(make_kernel):
    class Again:
        __name__ = "again"

        @hookimpl
        def llmspell_register_config(self, register):
            register("demo", DemoConfig)

    with pytest.raises(PluginError, match="config section 'demo' is already registered by demo"):
        make_kernel(plugins=[Demo(), Again()])


def test_data_dir_argument_wins(make_kernel, tmp_path: Path):
    kernel = build(make_kernel, {"data_dir": str(tmp_path / "cfg")}, data_dir=tmp_path / "arg")
    assert kernel.data_dir == tmp_path / "arg"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"demo": [1, 2]}, "demo: expected a table, got list [1, 2]"),
        ({"demo": "fast"}, "demo: expected a table, got str 'fast'"),
        ({"plugins": ["state"]}, "plugins: expected a table, got list ['state']"),
        ({"plugins": {"disable": 5}}, "plugins.disable"),
    ],
)
def test_a_section_of_the_wrong_type_is_a_config_error(make_kernel, config, expected):
    with pytest.raises(ConfigError) as excinfo:
        build(make_kernel, config)
    assert problems(excinfo).startswith(expected)


def test_every_error_names_the_layer_that_set_the_key(make_kernel, llmspell_env, tmp_path):
    path = tmp_path / "user.toml"
    path.write_text("[demo]\nmode = 3\n")
    env = {**llmspell_env, "LLMSPELL_DEMO_LIMITS__MAX_RUNS": "many"}
    with pytest.raises(ConfigError) as excinfo:
        build(make_kernel, path, env=env)
    lines = sorted(excinfo.value.problems)
    assert lines[0].startswith("demo.limits.max_runs: expected an integer")
    assert lines[0].endswith("(set by environment LLMSPELL_DEMO_LIMITS__MAX_RUNS)")
    assert lines[1].startswith("demo.mode: expected a string")
    assert lines[1].endswith(f"(set by file {path})")
    with pytest.raises(ConfigError) as excinfo:
        build(make_kernel, {"demo": {"enabled": "sure"}})
    assert excinfo.value.problems[0].endswith("(set by argument)")
    assert "in " not in str(excinfo.value).splitlines()[0]  # no file is blamed
