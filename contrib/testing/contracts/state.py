"""The state backend conformance suite.

A state backend passes when this class passes over it. Subclass it in your tests and
override the one fixture ``state_config``: the kernel configuration that selects your
backend (and whatever your plugin needs)::

    from llmspell.contrib.testing.contracts.state import StateContract

    class TestRedisState(StateContract):
        @pytest.fixture
        def state_config(self):
            return {"state": {"backend": "redis"}, "redis": {"url": "redis://localhost/15"}}

Every test isolates itself with fresh owner ids and key prefixes (uuids), so a shared
server needs no cleanup between tests. Tests that need data to outlive a kernel (reopen,
"old code wrote it") are skipped for backends whose ``persistent`` is false. The suite
runs on the default state service (``llmspell.plugins.state``) and needs pytest-asyncio.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from llmspell import hookimpl
from llmspell.kernel import Kernel
from llmspell.plugins.events.api import Event
from llmspell.services import StashKey

from ._state_backend import BackendProtocolTests
from ._state_lifecycle import LifecycleTests
from ._state_values import ValueTests

__all__ = ["StateContract", "MIGRATED_NS", "FAILING_NS", "published"]

#: Namespaces whose migrations the suite registers (3 versions; a step that fails).
MIGRATED_NS = "llmspell-contract-profile"
FAILING_NS = "llmspell-contract-broken"


def _v1_to_v2(value: dict[str, Any]) -> dict[str, Any]:
    value["name"] = value.pop("username")
    return value


def _v2_to_v3(value: dict[str, Any]) -> dict[str, Any]:
    return {**value, "tags": sorted(value.get("tags", []))}


def _broken(value: Any) -> Any:
    raise RuntimeError("this migration always fails")


class _SuitePlugin:
    """Migrations the suite relies on; registered in every kernel it builds."""

    @hookimpl
    def llmspell_register_state_migrations(self, register: Any) -> None:
        register.schema(MIGRATED_NS, 3)
        register(MIGRATED_NS, 1, _v1_to_v2)
        register(MIGRATED_NS, 2, _v2_to_v3)
        register.schema(FAILING_NS, 2)
        register(FAILING_NS, 1, _broken)


PUBLISHED: StashKey[list[Event]] = StashKey("contract.published")


class _Recorder:
    """Subscribes to every event once the kernel runs, for assertions on what was published."""

    @hookimpl(trylast=True)
    def llmspell_startup(self, kernel: Kernel) -> None:
        seen: list[Event] = []
        kernel.stash[PUBLISHED] = seen
        kernel.events.subscribe("**", seen.append)


async def published(kernel: Kernel) -> list[Event]:
    """Every event published so far (after waiting for delivery)."""
    await kernel.events.flush()
    seen: list[Event] = kernel.stash[PUBLISHED]
    return list(seen)


class StateContract(BackendProtocolTests, ValueTests, LifecycleTests):
    """Every behaviour a state backend must show under the state service."""

    pytestmark = [pytest.mark.asyncio]

    @pytest.fixture
    def state_config(self) -> dict[str, Any]:
        """Override: the kernel config that selects the backend under test."""
        raise NotImplementedError("override the state_config fixture to select your backend")

    @pytest.fixture
    def make_state_kernel(
        self, make_kernel: Callable[..., Kernel], state_config: dict[str, Any]
    ) -> Callable[..., Kernel]:
        """Build (not start) a kernel on the backend under test.

        ``events=True`` runs the real event service (on its memory log) and records what
        is published; without it the kernel has no event service at all.
        """

        def build(
            *, events: bool = False, plugins: tuple[Any, ...] = (), config: dict[str, Any] | None = None
        ) -> Kernel:
            merged = {**state_config}
            for section, values in (config or {}).items():
                merged[section] = {**merged.get(section, {}), **values}
            extra: list[Any] = [_SuitePlugin(), *plugins]
            disable: list[str] = []
            if events:
                extra.append(_Recorder())
                merged["events"] = {"backend": "memory", **merged.get("events", {})}
            else:
                disable.append("events")
            return make_kernel(merged, plugins=extra, disable=disable)

        return build

    @pytest_asyncio.fixture
    async def kernel(self, make_state_kernel: Callable[..., Kernel]) -> AsyncIterator[Kernel]:
        async with make_state_kernel() as k:
            yield k

    @pytest.fixture
    def owner(self) -> str:
        """A fresh owner id per test (isolation on shared servers)."""
        return f"contract-{uuid.uuid4().hex}"
