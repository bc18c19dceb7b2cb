"""The ``[state]`` section: backend choice, policies, limits, directories, environment."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llmspell import Kernel, hookimpl
from llmspell.errors import ConfigError, ValidationError
from llmspell.plugins.state import DiskcacheStateBackend, MemoryStateBackend


def test_unknown_backend_fails_listing_registered_names(make_kernel: Callable[..., Kernel]) -> None:
    with pytest.raises(ConfigError) as info:
        make_kernel({"state": {"backend": "nope"}})
    message = str(info.value)
    assert "state.backend" in message and "'nope'" in message
    assert "diskcache" in message and "memory" in message


@pytest.mark.parametrize(
    ("section", "needle"),
    [
        ({"update_retries": 0}, "update_retries"),
        ({"default_policy": "first_write_wins"}, "state.default_policy"),
        ({"policies": {"cart": "merge"}}, "needs a reducer"),
        ({"policies": {"cart": "reject:counter_add"}}, "takes no reducer"),
        ({"backend": 3}, "state.backend"),
        ({"diskcache": {"colour": "red"}}, "colour"),
    ],
)
def test_bad_values_name_their_path(
    make_kernel: Callable[..., Kernel], section: dict[str, Any], needle: str
) -> None:
    with pytest.raises(ConfigError) as info:
        make_kernel({"state": section})
    assert needle in str(info.value)


async def test_default_is_diskcache_under_the_data_dir(
    make_kernel: Callable[..., Kernel], tmp_path: Path
) -> None:
    async with make_kernel(data_dir=tmp_path / "d") as kernel:
        assert isinstance(kernel.state.backend, DiskcacheStateBackend)
        assert kernel.state.backend.directory == tmp_path / "d" / "state"
        await kernel.state.scope("app").set("k", 1)
    assert (tmp_path / "d" / "state" / "cache.db").is_file()


async def test_directory_and_backend_from_environment(
    make_kernel: Callable[..., Kernel], llmspell_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**llmspell_env, "LLMSPELL_STATE_BACKEND": "memory"}
    async with make_kernel(env=env) as kernel:
        assert isinstance(kernel.state.backend, MemoryStateBackend)
    env = {**llmspell_env, "LLMSPELL_STATE_DISKCACHE__DIRECTORY": str(tmp_path / "elsewhere")}
    async with make_kernel(env=env) as kernel:
        assert kernel.state.backend.directory == tmp_path / "elsewhere"


async def test_policy_resolution_order(make_kernel: Callable[..., Kernel]) -> None:
    config = {
        "state": {
            "policies": {"cart*": "reject", "cart.items": "merge:list_append", "c*": "merge:counter_add"}
        }
    }
    async with make_kernel(config) as kernel:
        table = kernel.state.policies
        assert str(table.resolve("user", "cart.items")) == "merge:list_append"  # exact beats globs
        assert str(table.resolve("user", "cart.total")) == "reject"  # more literal characters
        assert str(table.resolve("user", "count")) == "merge:counter_add"
        assert str(table.resolve("user", "other")) == "last_write_wins"
        kernel.state.set_policy("cart*", "last_write_wins")  # a plugin cannot override the user
        assert str(table.resolve("user", "cart.total")) == "reject"
        kernel.state.set_policy("other", "merge:max", scope="session")
        assert str(table.resolve("session", "other")) == "merge:max"
        assert str(table.resolve("user", "other")) == "last_write_wins"
        assert [r["source"] for r in table.rules()].count("config") == 3


class _PolicyPlugin:
    @hookimpl
    def llmspell_startup(self, kernel: Any) -> None:
        kernel.state.set_policy("score", "merge:max")


async def test_plugins_set_policies_at_startup(make_kernel: Callable[..., Kernel]) -> None:
    async with make_kernel(plugins=[_PolicyPlugin()]) as kernel:
        s = kernel.state.scope("user", "u1")
        await s.set("score", 5)
        await s.set("score", 3)
        assert await s.get("score") == 5


async def test_max_value_bytes(make_kernel: Callable[..., Kernel]) -> None:
    async with make_kernel({"state": {"max_value_bytes": 1000}}) as kernel:
        s = kernel.state.scope("user", "u1")
        await s.set("ok", "x" * 900)
        with pytest.raises(ValidationError) as info:
            await s.set("big", "x" * 1000)
        assert "max_value_bytes" in str(info.value)
        assert await s.get("big") is None


async def test_migrate_on_read_can_be_switched_off(make_kernel: Callable[..., Kernel]) -> None:
    class Migrations:
        @hookimpl
        def llmspell_register_state_migrations(self, register: Any) -> None:
            register.schema("doc", 2)
            register("doc", 1, lambda v: {**v, "v2": True})

    async with make_kernel({"state": {"migrate_on_read": False}}, plugins=[Migrations()]) as kernel:
        await kernel.state.backend.compare_and_set("app/default/doc", b'{"schema_version":1,"value":{}}')
        assert await kernel.state.scope("app").get("doc") == {"v2": True}
        stored = await kernel.state.backend.get("app/default/doc")
        assert stored.version == 1 and b'"schema_version":1' in stored.data


def test_kernel_without_state_plugin(make_kernel: Callable[..., Kernel]) -> None:
    kernel = make_kernel(disable=["state"])
    assert "state" not in kernel.config.sections
