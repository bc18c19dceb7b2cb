"""Shared fixtures: third-party plugin packages installed the way users install them.

Also the run's backing servers (Redis, NATS, PostgreSQL): found or started once, before any
test module is imported, and listed at the top of the run (``tests/contrib/_services.py``).
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def pytest_configure(config: pytest.Config) -> None:
    from tests.contrib import _services

    _services.provide()


def pytest_report_header(config: pytest.Config) -> list[str]:
    from tests.contrib import _services

    return _services.header()


def pytest_unconfigure(config: pytest.Config) -> None:
    from tests.contrib import _services

    _services.stop()


def pip_install_target(package: Path, target: Path) -> Path:
    """``pip install`` a fixture package into its own folder (a site directory)."""
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
            "--no-build-isolation", "--no-index", "--target", str(target), str(package),
        ],
        check=True,
        capture_output=True,
    )
    return target


@pytest.fixture(scope="session")
def acme_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the pip-installed ``acme-llmspell`` package."""
    return pip_install_target(FIXTURES / "acme_plugin", tmp_path_factory.mktemp("acme-site"))


@pytest.fixture(scope="session")
def broken_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the pip-installed ``broken-llmspell`` package."""
    return pip_install_target(FIXTURES / "broken_plugin", tmp_path_factory.mktemp("broken-site"))


@pytest.fixture
def with_acme(acme_site: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put acme-llmspell on sys.path for this test, as if installed in the environment."""
    monkeypatch.syspath_prepend(str(acme_site))
    importlib.invalidate_caches()
    return acme_site


@pytest.fixture
def with_broken(broken_site: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(broken_site))
    importlib.invalidate_caches()
    return broken_site
