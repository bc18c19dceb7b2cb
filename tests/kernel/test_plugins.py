"""Plugin discovery, blocking, distributions and failures, with real installed packages."""

from __future__ import annotations

import pytest

from llmspell import Distribution, Kernel, PluginError, hookimpl
from llmspell.errors import ConfigError, DuplicateNameError, UnknownNameError
from llmspell.hooks import HookCall


def names(kernel: Kernel) -> list[str]:
    return [p.name for p in kernel.plugins]


def test_defaults_are_loaded_from_entry_points(make_kernel):
    kernel = make_kernel()
    infos = {p.name: p for p in kernel.plugins}
    assert "hooks" in infos
    hooks = infos["hooks"]
    assert hooks.source == "default"
    assert hooks.distribution == "llmspell"
    assert hooks.module == "llmspell.plugins.hooks"
    assert "llmspell_register_config" in hooks.hooks


def test_third_party_package_is_discovered(with_acme, make_kernel):
    kernel = make_kernel()
    acme = {p.name: p for p in kernel.plugins}["acme"]
    assert acme.source == "entry point"
    assert (acme.distribution, acme.version) == ("acme-llmspell", "1.2.3")
    assert "llmspell_agent_before" in acme.hooks
    # its config section is validated with the defaults of its attrs class
    assert kernel.config.section("acme").greeting == "hello from acme"
    # and its backend is registered under its name, owned by it
    registration = kernel.registry("state_backend").registration("acme")
    assert registration.plugin == "acme"


async def test_third_party_hooks_run(with_acme, make_kernel):
    from acme_llmspell import plugin

    async with make_kernel(config={"acme": {"greeting": "configured"}}) as kernel:
        assert plugin.STARTED[-1] == "configured"
        ctx = await kernel.context(user_id="u1")
        assert ctx.data["acme"] == "configured"

        async def agent(call: HookCall) -> str:
            return f"ran {call.request}"

        assert await kernel.hook.around("agent", HookCall("agent", request="ping"), agent) == "pong from acme"
        assert await kernel.hook.around("agent", HookCall("agent", request="x"), agent) == "ran x"


@pytest.mark.parametrize("how", ["argument", "config", "env"])
def test_third_party_plugin_blocked_by_name(with_acme, make_kernel, llmspell_env, how):
    if how == "argument":
        kernel = make_kernel(disable=["acme"])
    elif how == "config":
        kernel = make_kernel(config={"plugins": {"disable": ["acme"]}})
    else:
        kernel = make_kernel(env={**llmspell_env, "LLMSPELL_DISABLE_PLUGINS": "tools, acme"})
    assert "acme" not in names(kernel)
    assert "acme" in kernel.blocked
    assert "acme" not in kernel.registry("state_backend")


def test_default_plugin_blocked_by_name(make_kernel, caplog):
    kernel = make_kernel(disable=["hooks"])
    assert "hooks" not in names(kernel)
    with caplog.at_level("WARNING", logger="llmspell.config"):
        blocked = make_kernel(config={"hooks": [], "plugins": {"disable": ["hooks"]}})
    assert "hooks" in blocked.blocked and "hooks" not in blocked.config.sections
    assert [r.getMessage() for r in caplog.records if r.name == "llmspell.config"] == [
        "ignoring the settings of blocked plugins: [hooks] set by argument"
    ]


def test_autoload_switch_keeps_defaults_only(with_acme, make_kernel, llmspell_env):
    kernel = make_kernel(env={**llmspell_env, "LLMSPELL_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert "acme" not in names(kernel)
    assert "hooks" in names(kernel)
    kernel = make_kernel(config={"plugins": {"autoload": False}})
    assert "acme" not in names(kernel)


def test_plugin_import_error_names_plugin_and_distribution(with_broken, make_kernel):
    with pytest.raises(PluginError) as info:
        make_kernel()
    message = str(info.value)
    assert "plugin 'broken'" in message
    assert "broken-llmspell 0.0.1" in message
    assert "acme_dependency_that_is_not_installed" in message
    assert "broken_llmspell.plugin" in message
    # blocking the broken plugin lets everything else start
    assert "broken" not in names(make_kernel(disable=["broken"]))


def test_distribution_starts_exactly_its_set(with_acme, make_kernel):
    kernel = make_kernel(distribution="acme")
    infos = {p.name: p for p in kernel.plugins}
    assert "hooks" not in infos  # a default the distribution blocks
    assert infos["acme-extra"].source == "distribution acme"
    assert infos["acme"].source == "distribution acme"
    assert kernel.distribution is not None and kernel.distribution.name == "acme"
    # the distribution's default config sits under the user's
    assert kernel.config.section("acme").greeting == "hello from the acme distribution"
    kernel = make_kernel(distribution="acme", config={"acme": {"greeting": "user wins"}})
    assert kernel.config.section("acme").greeting == "user wins"


async def test_distribution_named_in_config(with_acme, make_kernel):
    async with make_kernel(config={"distribution": "acme"}) as kernel:
        ctx = await kernel.context()
        assert ctx.data["distribution"] == "acme"


def test_unknown_distribution_lists_known_ones(with_acme, make_kernel):
    with pytest.raises(ConfigError, match=r"unknown distribution 'acne'; registered: acme"):
        make_kernel(distribution="acne")


class Recorder:
    """A plugin object that records its lifecycle calls into a shared list."""

    def __init__(self, name: str, log: list[str], fail: bool = False) -> None:
        self.__name__ = name
        self.log = log
        self.fail = fail

    @hookimpl
    async def llmspell_startup(self, kernel):
        self.log.append(f"start {self.__name__}")
        if self.fail:
            raise RuntimeError("database is down")

    @hookimpl
    def llmspell_shutdown(self, kernel):
        self.log.append(f"stop {self.__name__}")


async def test_startup_order_and_reverse_shutdown(make_kernel):
    log: list[str] = []
    kernel = make_kernel(plugins=[Recorder("a", log), Recorder("b", log), Recorder("c", log)])
    async with kernel:
        assert log == ["start a", "start b", "start c"]
    assert log[3:] == ["stop c", "stop b", "stop a"]


async def test_failed_startup_names_plugin_and_shuts_down_the_started(make_kernel):
    log: list[str] = []
    kernel = make_kernel(plugins=[Recorder("a", log), Recorder("b", log, fail=True), Recorder("c", log)])
    with pytest.raises(PluginError, match="plugin 'b'.*startup failed: RuntimeError: database is down"):
        async with kernel:
            pass
    assert log == ["start a", "start b", "stop a"]
    assert not kernel.started


def test_misspelled_hook_fails_loading(make_kernel):
    class Typo:
        __name__ = "typo"

        @hookimpl
        def llmspell_startp(self, kernel):
            pass

    with pytest.raises(PluginError, match="typo.*llmspell_startp"):
        make_kernel(plugins=[Typo()])


def test_plugin_by_module_path_and_file(make_kernel, tmp_path):
    source = tmp_path / "my_plugin.py"
    source.write_text(
        "from llmspell import hookimpl\n"
        "@hookimpl\n"
        "def llmspell_context_enrich(ctx):\n"
        "    return {'from_file': True}\n"
    )
    kernel = make_kernel(config={"plugins": {"load": [str(source)]}})
    assert {p.name: p for p in kernel.plugins}["my_plugin"].source == "config"
    with pytest.raises(PluginError, match="plugin 'no_such_module_xyz'.*ModuleNotFoundError"):
        make_kernel(plugins=["no_such_module_xyz"])


def test_duplicate_registration_names_both_plugins(make_kernel):
    class One:
        __name__ = "one"

        @hookimpl
        def llmspell_register_tools(self, register):
            register("search", object())

    class Two:
        __name__ = "two"

        @hookimpl
        def llmspell_register_tools(self, register):
            register("search", object())

    with pytest.raises(DuplicateNameError, match="tool 'search' is registered twice: by one and by two"):
        make_kernel(plugins=[One(), Two()])


def test_unknown_backend_lists_registered_names(with_acme, make_kernel):
    kernel = make_kernel()
    with pytest.raises(UnknownNameError, match=r"unknown state backend 'nope'; registered: .*acme"):
        kernel.create_backend("state_backend", "nope")


def test_runtime_plugin_registration_collects_registrations(make_kernel):
    kernel = make_kernel()

    class Late:
        @hookimpl
        def llmspell_register_model_providers(self, register):
            register("late-model", lambda kernel: "provider")

    kernel.add_plugin(Late(), "late")
    assert kernel.registry("model_provider").registration("late-model").plugin == "late"
    assert "late" in names(kernel)


def test_distribution_object_validation():
    dist = Distribution(name="x", block=("state",))
    assert dist.plugins == {} and dist.autoload is False


async def test_third_party_backend_replaces_the_default_by_name(with_acme, make_kernel):
    from acme_llmspell import backend

    backend.CALLS.clear()
    async with make_kernel({"state": {"backend": "acme"}}) as kernel:
        prefs = kernel.state.scope("user", "u1")
        await prefs.set("theme", "dark")
        assert await prefs.get("theme") == "dark"
        assert kernel.state.backend.acme is True
    assert "compare_and_set" in backend.CALLS or "batch" in backend.CALLS
    assert "get" in backend.CALLS or "get_many" in backend.CALLS


# -- blocking a plugin that has a config section ------------------------------------------


@pytest.mark.parametrize("how", ["argument", "config", "config string", "env", "env list"])
def test_a_plugin_with_a_section_in_the_file_can_be_blocked(with_acme, make_kernel, llmspell_env, tmp_path, caplog, how):
    path = tmp_path / "user.toml"
    plugins = {"config": '[plugins]\ndisable = ["acme"]\n', "config string": '[plugins]\ndisable = "acme"\n'}
    path.write_text(plugins.get(how, "") + '[acme]\ngreeting = "from the file"\n')
    env = dict(llmspell_env)
    if how == "env":
        env["LLMSPELL_PLUGINS_DISABLE"] = "acme"
    elif how == "env list":
        env["LLMSPELL_DISABLE_PLUGINS"] = "acme"
    with caplog.at_level("WARNING", logger="llmspell.config"):
        kernel = make_kernel(path, env=env, disable=["acme"] if how == "argument" else ())
    assert "acme" in kernel.blocked and "acme" not in names(kernel)
    assert "acme" not in kernel.config.sections
    assert [r.getMessage() for r in caplog.records] == [
        f"ignoring the settings of blocked plugins: [acme] set by file {path}"
    ]


def test_a_plugin_whose_section_a_distribution_presets_can_be_blocked(with_acme, make_kernel, caplog):
    with caplog.at_level("WARNING", logger="llmspell.config"):
        kernel = make_kernel(distribution="acme", disable=["acme"])
    assert "acme" not in names(kernel) and "acme-extra" in names(kernel)
    assert [r.getMessage() for r in caplog.records] == [
        "ignoring the settings of blocked plugins: [acme] set by distribution 'acme'"
    ]


@pytest.mark.parametrize("how", ["argument", "config", "env"])
def test_blocking_a_name_that_matches_no_plugin_is_an_error(with_acme, make_kernel, llmspell_env, how):
    if how == "argument":
        build = lambda: make_kernel(disable=["acmee"])  # noqa: E731
        who = "argument"
    elif how == "config":
        build = lambda: make_kernel(config={"plugins": {"disable": "acmee"}})  # noqa: E731
        who = "argument"  # a mapping passed to Kernel() is the argument layer
    else:
        build = lambda: make_kernel(env={**llmspell_env, "LLMSPELL_PLUGINS_DISABLE": "state,acmee"})  # noqa: E731
        who = "environment LLMSPELL_PLUGINS_DISABLE"
    with pytest.raises(ConfigError) as excinfo:
        build()
    (problem,) = excinfo.value.problems
    assert problem.startswith(f"plugins.disable: no plugin is named 'acmee' (blocked by {who}; known plugins: ")
    assert "acme, agents, artifacts" in problem


def test_disable_as_one_string_blocks_each_name(make_kernel, llmspell_env):
    kernel = make_kernel(env={**llmspell_env, "LLMSPELL_PLUGINS_DISABLE": "tools"})
    assert kernel.blocked == ["tools"]
    kernel = make_kernel(config={"plugins": {"disable": "tools, hooks"}})
    assert kernel.blocked == ["hooks", "tools"]


# -- plugins of this package whose extra is not installed ----------------------------------------


def test_a_default_plugin_whose_extra_is_missing_is_not_loaded_and_says_what_it_needs(make_kernel, monkeypatch):
    from llmspell import _loader

    real = _loader.missing_extra
    monkeypatch.setattr(_loader, "missing_extra", lambda name: "redis" if name == "redis" else real(name))
    kernel = make_kernel()
    assert "redis" not in names(kernel)
    assert kernel.unavailable["redis"][2] == "redis"
    with pytest.raises(ConfigError) as excinfo:
        make_kernel({"redis": {"url": "redis://127.0.0.1:6379/0"}, "sessions": {"backend": "redis"}})
    text = "\n".join(excinfo.value.problems)
    assert "redis: the redis plugin needs llmspell[redis]: pip install 'llmspell[redis]'" in text


def test_missing_extra_reads_the_package_metadata():
    from llmspell._loader import missing_extra

    assert missing_extra("redis", installed=lambda name: name != "redis") == "redis"
    assert missing_extra("console", installed=lambda name: name != "jinja2") == "web"
    assert missing_extra("redis", installed=lambda name: True) is None
    assert missing_extra("state", installed=lambda name: False) is None  # no extra: always there


async def test_selecting_a_backend_whose_extra_is_missing_names_the_extra(make_kernel, monkeypatch):
    from llmspell import _loader

    real = _loader.missing_extra
    monkeypatch.setattr(_loader, "missing_extra", lambda name: "redis" if name == "redis" else real(name))
    # at build, like every unknown or unavailable backend name
    with pytest.raises(ConfigError, match=r"sessions.backend: session backend 'redis' needs llmspell\[redis\]: pip install"):
        make_kernel({"sessions": {"backend": "redis"}})
