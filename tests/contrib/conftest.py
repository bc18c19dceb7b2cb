"""Fixtures of the Redis and NATS tests: a fresh key or stream prefix per test."""

from tests.contrib._services import nats_prefix, redis_prefix  # noqa: F401 - fixtures
