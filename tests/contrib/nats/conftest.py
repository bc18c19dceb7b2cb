"""Fixtures of the NATS tests."""

from tests.contrib._services import nats_prefix  # noqa: F401 - a fixture
