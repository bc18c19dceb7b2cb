"""The state backend conformance suite.

A state backend passes when this class passes over it. Subclass it in your tests and
override the one fixture ``state_backend``: it returns your backend, built but not
opened::

    from llmspell.contrib.testing.contracts.state import StateContract

    class TestRedisState(StateContract):
        @pytest.fixture
        def state_backend(self):
            return RedisStateBackend(RedisConfig(url="redis://localhost/15"))

The suite opens it (``open()``, then ``health()`` when it has one must report no
problem), closes it after the test, and runs the default state service
(``llmspell.plugins.state``) over it: every kernel a test builds uses this one backend
object (registered under the name ``contract``), without any configuration of yours.
The kernels borrow it: they neither open nor close it. Tests that need data to outlive a
kernel ("reopen", "old code wrote it") close the backend and open it again; they are
skipped for backends whose ``persistent`` is false. Every test isolates itself with
fresh owner ids and key prefixes (uuids), so a shared server needs no cleanup between
tests. The suite marks its tests for pytest-asyncio itself.
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
from llmspell.plugins.state.backend import StateBackend

from . import FAILING_NS, MIGRATED_NS, PUBLISHED, opened, published, reopen, selected_backend
from ._state_backend import BackendProtocolTests
from ._state_lifecycle import LifecycleTests
from ._state_values import ValueTests

__all__ = ["StateContract", "MIGRATED_NS", "FAILING_NS", "published", "reopen"]



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


class _Borrowed:
    """The backend under test as a kernel sees it: the suite opens and closes it, not the kernel."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


class _Provider:
    """Registers the backend under test as the state backend ``contract``."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend

    @hookimpl
    def llmspell_register_state_backends(self, register: Any) -> None:
        register("contract", lambda kernel: _Borrowed(self.backend), "the backend under test")


class _Recorder:
    """Subscribes to every event once the kernel runs, for assertions on what was published."""

    @hookimpl(trylast=True)
    def llmspell_startup(self, kernel: Kernel) -> None:
        seen: list[Event] = []
        kernel.stash[PUBLISHED] = seen
        kernel.events.subscribe("**", seen.append)


class StateContract(BackendProtocolTests, ValueTests, LifecycleTests):
    """Every behaviour a state backend must show under the state service."""

    pytestmark = [pytest.mark.asyncio]

    kernel_config: Any = None
    """Or set this: a kernel configuration (a mapping, or the text of an ``llmspell.toml``);
    the suite then tests the state backend it selects."""

    @pytest.fixture
    def state_backend(self, make_kernel: Callable[..., Kernel]) -> StateBackend:
        """Override: your backend, built but not opened (the suite opens and closes it); or set
        ``kernel_config`` and the suite builds the backend that configuration selects."""
        return selected_backend(make_kernel, self.kernel_config, "state", "state_backend")

    @pytest_asyncio.fixture
    async def backend(self, state_backend: StateBackend) -> AsyncIterator[StateBackend]:
        """The backend under test, opened (and healthy) for the test, closed after it."""
        async with opened(state_backend, "state_backend") as b:
            assert isinstance(b, StateBackend), f"{b!r} does not implement llmspell.plugins.state.backend.StateBackend"
            yield b

    @pytest.fixture
    def make_state_kernel(
        self, make_kernel: Callable[..., Kernel], backend: StateBackend
    ) -> Callable[..., Kernel]:
        """Build (not start) a kernel whose state service runs on the backend under test.

        ``events=True`` runs the real event service (on its memory log) and records what
        is published; without it the kernel has no event service at all. ``config`` adds
        kernel configuration (``{"state": {"policies": ...}}``).
        """

        def build(
            *, events: bool = False, plugins: tuple[Any, ...] = (), config: dict[str, Any] | None = None
        ) -> Kernel:
            merged: dict[str, Any] = {"state": {"backend": "contract"}}
            for section, values in (config or {}).items():
                merged[section] = {**merged.get(section, {}), **values}
            extra: list[Any] = [_Provider(backend), _SuitePlugin(), *plugins]
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
