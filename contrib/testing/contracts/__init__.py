"""Backend conformance suites, one module per backend kind.

Each module holds a test class that a backend's tests subclass, overriding ONE fixture
that returns the backend, built but not opened (or, for state, sessions and events,
setting the class attribute ``kernel_config`` instead: the suite then tests the backend
that this kernel configuration selects, given as a mapping, ``{"distribution": "lmdb"}``,
or as the text of an ``llmspell.toml``, ``'distribution = "lmdb"'``):

=====================================  ===================  ==========================
suite                                  fixture to override  the suite opens it with
=====================================  ===================  ==========================
``state.StateContract``                ``state_backend``    ``open()``
``sessions.SessionBackendContract``    ``session_backend``  ``open()``
``events.EventLogContract``            ``event_log``        ``open()``
``artifacts.BlobStoreContract``        ``blob_store``       ``open()``
``artifacts.ArtifactIndexContract``    ``artifact_index``   ``open()``
=====================================  ===================  ==========================

The suite opens the backend before each test, checks that its ``health()`` (where it
has one) reports no problem, hands it to the test as the ``backend`` fixture and closes
it afterwards. The suites mark their own tests and fixtures for pytest-asyncio, so they
run under ``asyncio_mode = "strict"`` (the default) as under ``"auto"``. Every test's
docstring states the rule it checks, and a failing assertion starts with ``rule:`` and the
rule it broke (:func:`raises` does the same for an error that was not raised). The same
classes run over every llmspell backend in ``tests/contracts/`` and over third-party
backends in their own projects.
"""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any

import pytest

from llmspell.errors import deprecated
from llmspell.services import StashKey

if TYPE_CHECKING:
    from llmspell import Kernel
    from llmspell.plugins.events.api import Event

__all__ = ["opened", "check_health", "raises", "selected_backend", "MIGRATED_NS", "FAILING_NS", "reopen", "published"]

#: The registry kind and config section of each capability whose suite takes ``kernel_config``.
_SELECTED = {"state": ("state_backend", "state"), "sessions": ("session_backend", "sessions"),
             "events": ("event_backend", "events")}


@asynccontextmanager
async def opened(backend: Any, fixture: str, method: str = "open") -> AsyncIterator[Any]:
    """Open ``backend`` (the value of the author's ``fixture``), check its health, close it after."""
    assert backend is not None, f"the {fixture} fixture must return the backend (built, not opened), not None"
    start = getattr(backend, method, None)
    if start is None and method == "open" and hasattr(backend, "start"):  # the former name of an artifact store's open()
        deprecated(f"{type(backend).__name__}.start() is deprecated: name it open(); it goes in the next release")
        start = backend.start
    assert start is not None, f"the {fixture} fixture returned {backend!r}, which has no {method}() method"
    await start()
    try:
        await check_health(backend, fixture)
        yield backend
    finally:
        await backend.close()


async def check_health(backend: Any, fixture: str) -> None:
    """Rule: an opened backend's ``health()`` (optional) returns an empty list."""
    health = getattr(backend, "health", None)
    if health is not None:
        problems = list(await health())
        assert problems == [], f"rule: an opened backend's health() reports no problem; {fixture} reports {problems}"


@contextmanager
def raises(error: type[BaseException], rule: str, *, match: str | None = None) -> Iterator[Any]:
    """``pytest.raises(error, match=match)`` whose failure names the rule: ``rule: <rule>``."""
    try:
        with pytest.raises(error, match=match) as info:
            yield info
    except (AssertionError, pytest.fail.Exception) as exc:
        raise AssertionError(f"rule: {rule} ({exc})") from None


def selected_backend(make_kernel: Callable[..., Kernel], config: Any, capability: str, fixture: str) -> Any:
    """The backend that kernel configuration ``config`` (a mapping, or TOML text) selects for
    ``capability`` (``state``, ``sessions`` or ``events``), built, not opened: what a suite's
    ``fixture`` returns when the test class sets ``kernel_config`` instead of overriding it."""
    if isinstance(config, str):
        config = tomllib.loads(config)
    if config is None:
        raise NotImplementedError(
            f"override the {fixture} fixture to return your backend (built, not opened), or set the class "
            f"attribute kernel_config to a kernel configuration that selects it"
        )
    kind, section = _SELECTED[capability]
    kernel = make_kernel(config)
    return kernel.create_backend(kind, kernel.config.section(section).backend)


#: Namespaces whose migrations the suite registers (3 versions; a step that fails).
MIGRATED_NS = "llmspell-contract-profile"
FAILING_NS = "llmspell-contract-broken"


async def reopen(backend: Any) -> None:
    """Close the backend and open it again (what a new process does to the same storage)."""
    await backend.close()
    await backend.open()
    await check_health(backend, "state_backend")


PUBLISHED: StashKey[list[Event]] = StashKey("contract.published")


async def published(kernel: Kernel) -> list[Event]:
    """Every event published so far (after waiting for delivery)."""
    await kernel.events.flush()
    seen: list[Event] = kernel.stash[PUBLISHED]
    return list(seen)
