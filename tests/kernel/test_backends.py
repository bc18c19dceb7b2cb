"""The backend lifecycle is the kernel's: every backend it creates is opened at start, in
creation order, closed at stop in reverse, asked for its health, and every configured
backend name is checked once, when the kernel is built."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from llmspell import Kernel, PluginError, hookimpl
from llmspell.errors import ConfigError

DEFAULTS = ["events", "state", "artifacts", "sessions", "hooks", "agents", "tools", "runs", "cli"]


class Backend:
    def __init__(self, name: str, calls: list[str], *, fail_open: bool = False, problems: list[str] | None = None) -> None:
        self.name = name
        self.calls = calls
        self.fail_open = fail_open
        self.problems = problems

    async def open(self) -> None:
        self.calls.append(f"open {self.name}")
        if self.fail_open:
            raise OSError("disk on fire")

    async def close(self) -> None:
        self.calls.append(f"close {self.name}")

    async def health(self) -> list[str]:
        if self.problems is None:
            raise RuntimeError("no answer")
        return self.problems


class Plain:
    """A backend with neither open, close nor health."""


class Owner:
    """A plugin that registers state backends and creates them when services are made."""

    def __init__(self, *specs: tuple[str, dict[str, Any]], create: tuple[str, ...] = ()) -> None:
        self.calls: list[str] = []
        self.specs = specs
        self.create = create
        self.made: list[Any] = []

    @hookimpl
    def llmspell_register_state_backends(self, register: Any) -> None:
        for name, options in self.specs:
            if options.get("plain"):
                register(name, lambda kernel: Plain())
            else:
                register(name, lambda kernel, n=name, o=options: Backend(n, self.calls, **o))

    @hookimpl
    def llmspell_register_services(self, kernel: Kernel, register: Any) -> None:
        self.made = [kernel.create_backend("state_backend", name) for name in self.create]


def bare(make_kernel: Any, plugin: Any, **kwargs: Any) -> Kernel:
    kernel: Kernel = make_kernel(disable=DEFAULTS, plugins=[plugin], **kwargs)
    return kernel


async def test_start_opens_every_created_backend_once_in_creation_order(make_kernel: Any) -> None:
    owner = Owner(("a", {}), ("b", {}), ("c", {}), create=("b", "a", "c"))
    kernel = bare(make_kernel, owner)
    await kernel.start()
    assert owner.calls == ["open b", "open a", "open c"]
    await kernel.start()  # already started: nothing opens twice
    assert owner.calls == ["open b", "open a", "open c"]
    await kernel.stop()
    assert owner.calls[3:] == ["close c", "close a", "close b"]


async def test_a_backend_that_fails_to_open_closes_the_ones_opened_before(make_kernel: Any) -> None:
    owner = Owner(("a", {}), ("b", {"fail_open": True}), ("c", {}), create=("a", "b", "c"))
    kernel = bare(make_kernel, owner)
    with pytest.raises(PluginError) as info:
        await kernel.start()
    assert "state backend 'b'" in str(info.value) and "disk on fire" in str(info.value)
    assert owner.calls == ["open a", "open b", "close a"]
    assert not kernel.started
    await kernel.stop()  # not started: nothing more is closed
    assert owner.calls == ["open a", "open b", "close a"]


async def test_a_backend_without_open_or_close_is_left_alone(make_kernel: Any) -> None:
    owner = Owner(("a", {}), ("p", {"plain": True}), create=("p", "a"))
    async with bare(make_kernel, owner):
        assert owner.calls == ["open a"]
    assert owner.calls == ["open a", "close a"]


async def test_health_reports_each_backend(make_kernel: Any) -> None:
    owner = Owner(("ok", {"problems": []}), ("sick", {"problems": ["full"]}), ("mute", {}), ("p", {"plain": True}),
                  create=("ok", "sick", "mute", "p"))
    async with bare(make_kernel, owner) as kernel:
        health = await kernel.health()
    assert health == {
        "state backend ok": [],
        "state backend sick": ["full"],
        "state backend mute": ["RuntimeError: no answer"],
        "state backend p": [],
    }


async def test_the_default_backends_are_opened_by_the_kernel(make_kernel: Any) -> None:
    async with make_kernel() as kernel:
        health = await kernel.health()
    assert set(health) == {
        "event backend diskcache", "event transport local", "state backend diskcache",
        "artifact backend filesystem", "artifact metadata backend sqlite", "session backend diskcache",
    }
    assert all(problems == [] for problems in health.values()), health


@pytest.mark.parametrize(
    ("section", "key", "words"),
    [
        ("state", "backend", "state backend"),
        ("sessions", "backend", "session backend"),
        ("events", "backend", "event backend"),
        ("events", "transport", "event transport"),
        ("artifacts", "backend", "artifact backend"),
        ("artifacts", "metadata", "artifact metadata backend"),
    ],
)
def test_an_unknown_backend_name_fails_when_the_kernel_is_built(make_kernel: Any, section: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        make_kernel({section: {key: "nope"}})
    assert f"{section}.{key}: unknown {words} 'nope' (registered: " in str(info.value)


@attrs.frozen
class ThingConfig:
    backend: str = "memory"


class Thing:
    """A third-party capability: its section names a state backend."""

    @hookimpl
    def llmspell_register_config(self, register: Any) -> None:
        register("thing", ThingConfig, "a capability with a backend", backends={"backend": "state_backend"})


def test_a_section_declares_its_backend_keys_and_the_kernel_checks_them(make_kernel: Any) -> None:
    assert make_kernel({"thing": {"backend": "memory"}}, plugins=[Thing()]).config.section("thing").backend == "memory"
    with pytest.raises(ConfigError) as info:
        make_kernel({"thing": {"backend": "nope"}}, plugins=[Thing()])
    assert "thing.backend: unknown state backend 'nope' (registered: diskcache, memory" in str(info.value)
