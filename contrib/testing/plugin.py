"""pytest plugin (entry point ``pytest11``): kernel fixtures for llmspell and its plugins.

Fixtures:

* ``llmspell_env``: an environment without the caller's ``LLMSPELL_*`` variables and
  with an empty config file, so the developer's own setup never leaks into a test;
* ``make_kernel(**kwargs)``: builds a ``Kernel`` in a temporary data directory with that
  environment; kernels it started are stopped at teardown;
* ``kernel``: a started kernel on the embedded defaults in a temporary data directory;
* ``hook_recorder``: a :class:`~llmspell.contrib.testing.HookRecorder` on ``kernel``.

A failing test of the contract suites (``llmspell.contrib.testing.contracts``) gets a
``contract rule`` section under its traceback: the test's docstring, the rule it checks.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from llmspell.contrib.testing.recorder import HookRecorder
from llmspell.kernel import Kernel

#: The package of the contract suites, whose failing tests print their rule.
CONTRACTS = "llmspell.contrib.testing.contracts"

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the async fixtures need pytest-asyncio
    pytest_asyncio = None  # type: ignore[assignment]


@pytest.fixture
def llmspell_env(tmp_path: Path) -> dict[str, str]:
    empty = tmp_path / "llmspell-empty.toml"
    empty.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMSPELL_")}
    env["LLMSPELL_CONFIG"] = str(empty)
    return env


@pytest.fixture
def make_kernel(tmp_path: Path, llmspell_env: dict[str, str]) -> Iterator[Callable[..., Kernel]]:
    built: list[Kernel] = []

    def factory(config: Any = None, **kwargs: Any) -> Kernel:
        kwargs.setdefault("data_dir", tmp_path / "data")
        kwargs.setdefault("env", llmspell_env)
        kernel = Kernel(config, **kwargs)
        built.append(kernel)
        return kernel

    yield factory
    leftover = [k for k in built if k.started]
    if leftover:
        import asyncio

        async def stop_all() -> None:
            for k in leftover:
                await k.stop()

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(stop_all())


if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def kernel(make_kernel: Callable[..., Kernel]) -> AsyncIterator[Kernel]:
        async with make_kernel() as k:
            yield k

    @pytest.fixture
    def hook_recorder(kernel: Kernel) -> Iterator[HookRecorder]:
        with HookRecorder(kernel) as recorder:
            yield recorder


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failing contract test says which rule it checks: its docstring, as a report section."""
    report = yield
    function = getattr(item, "function", None)
    if report.failed and function is not None and function.__doc__ \
            and getattr(function, "__module__", "").startswith(CONTRACTS):
        report.sections.append(("contract rule", inspect.cleandoc(function.__doc__)))
    return report
