"""Backend conformance suites, one module per backend kind.

Each module holds a test class that a backend's tests subclass, overriding ONE fixture
that returns the backend, built but not opened:

=====================================  ===================  ==========================
suite                                  fixture to override  the suite opens it with
=====================================  ===================  ==========================
``state.StateContract``                ``state_backend``    ``open()``
``sessions.SessionBackendContract``    ``session_backend``  ``open()``
``events.EventLogContract``            ``event_log``        ``open()``
``artifacts.BlobStoreContract``        ``blob_store``       ``start()``
``artifacts.ArtifactIndexContract``    ``artifact_index``   ``start()``
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

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest

__all__ = ["opened", "check_health", "raises"]


@asynccontextmanager
async def opened(backend: Any, fixture: str, method: str = "open") -> AsyncIterator[Any]:
    """Open ``backend`` (the value of the author's ``fixture``), check its health, close it after."""
    assert backend is not None, f"the {fixture} fixture must return the backend (built, not opened), not None"
    start = getattr(backend, method, None)
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
