"""Fixtures of the Redis tests."""

from tests.contrib._services import redis_prefix  # noqa: F401 - a fixture
