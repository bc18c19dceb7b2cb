"""One Redis connection pool per backend, with llmspell's error rules.

* redis-py is imported only when a backend opens; without it the kernel fails at start
  with :class:`~llmspell.errors.MissingExtraError` naming ``pip install "llmspell[redis]"``.
* Every call is bounded by ``[redis] connect_timeout`` and ``timeout``; a server that is
  down or too slow makes the call raise :class:`~llmspell.errors.BackendUnavailable`,
  never hang. redis-py's own retries are off: a lost connection is retried once here,
  and only for calls that are safe to repeat (reads, and writes made idempotent by a
  request token, see the scripts).
* The pool reconnects by itself, so the kernel recovers when the server is back.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from llmspell.errors import BackendUnavailable, MissingExtraError

from .config import RedisConfig

__all__ = ["RedisConnection", "import_redis", "safe_url", "keyspace"]

T = TypeVar("T")
log = logging.getLogger("llmspell.contrib.redis")


def import_redis() -> Any:
    """``redis.asyncio``, or :class:`MissingExtraError` saying what to install."""
    try:
        import redis.asyncio as aredis
    except ImportError:
        raise MissingExtraError("the Redis backends", "redis", "redis") from None
    return aredis


def safe_url(url: str) -> str:
    """``url`` without its password, for messages."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "(unparseable URL)"
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urllib.parse.urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


def keyspace(config: RedisConfig, service: str) -> str:
    """The key prefix of one service: ``{prefix:service}:`` (one Redis Cluster slot each)."""
    return f"{{{config.prefix}:{service}}}:"


class RedisConnection:
    """A redis-py client for one backend, opened lazily and mapped to llmspell errors."""

    def __init__(self, config: RedisConfig, role: str) -> None:
        self.config = config
        self.role = role
        self.client: Any = None
        self._errors: tuple[type[BaseException], ...] = ()

    @property
    def where(self) -> str:
        return f"Redis at {safe_url(self.config.url)}"

    async def open(self) -> Any:
        if self.client is not None:
            return self.client
        aredis = import_redis()
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        self._errors = (RedisConnectionError, RedisTimeoutError, OSError, asyncio.TimeoutError)
        try:
            self.client = aredis.Redis.from_url(
                self.config.url,
                socket_connect_timeout=self.config.connect_timeout,
                socket_timeout=self.config.timeout,
                retry=Retry(NoBackoff(), 0),
                max_connections=self.config.max_connections,
                client_name=f"llmspell-{self.role}",
                decode_responses=False,
            )
        except ValueError as exc:
            raise BackendUnavailable(f"[redis] url is not a valid Redis URL: {exc}") from None
        try:
            await self.call(lambda c: c.ping())
        except BackendUnavailable:
            await self.close()
            raise
        return self.client

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            try:
                await client.aclose()
            except Exception:  # noqa: BLE001 - closing a broken pool must not fail shutdown
                log.debug("closing the %s Redis pool failed", self.role, exc_info=True)

    def unavailable(self, exc: BaseException, *, write: bool = False) -> BackendUnavailable:
        """The :class:`BackendUnavailable` for a failed call, saying what to check."""
        from redis.exceptions import AuthenticationError, BusyLoadingError

        if isinstance(exc, AuthenticationError):
            hint = "authentication failed: check the user and password in [redis] url (or LLMSPELL_REDIS_URL)"
        elif isinstance(exc, BusyLoadingError):
            hint = "the server is loading its data after a restart; try again in a moment"
        elif isinstance(exc, asyncio.TimeoutError | TimeoutError) or "Timeout" in type(exc).__name__:
            hint = (f"no reply within {self.config.timeout}s ([redis] timeout); the server is overloaded, "
                    "stopped or unreachable")
        else:
            hint = ("cannot connect: check that the server runs and that [redis] url (or LLMSPELL_REDIS_URL) "
                    "points at it")
        outcome = " The write may or may not have been applied." if write else ""
        return BackendUnavailable(f"{self.where} ({self.role}): {hint} [{type(exc).__name__}: {exc}].{outcome}")

    async def call(self, fn: Callable[[Any], Awaitable[T]], *, write: bool = False, retry: bool = True) -> T:
        """Run ``fn(client)``; retry once after a lost connection when ``retry`` (safe to repeat)."""
        client = self.client
        if client is None:
            raise BackendUnavailable(f"{self.where} ({self.role}) is not open; start the kernel first")
        try:
            return await fn(client)
        except self._errors as exc:
            from redis.exceptions import AuthenticationError

            if not retry or isinstance(exc, AuthenticationError) or _is_timeout(exc):
                raise self.unavailable(exc, write=write) from exc
            log.debug("%s: %s; retrying once on a new connection", self.where, exc)
        try:
            return await fn(client)
        except self._errors as exc:
            raise self.unavailable(exc, write=write) from exc

    async def run(self, method: str, *args: Any, write: bool = False, **kwargs: Any) -> Any:
        """``client.<method>(*args, **kwargs)`` through :meth:`call` (safe to repeat once)."""
        return await self.call(lambda c: getattr(c, method)(*args, **kwargs), write=write)

    async def health(self) -> list[str]:
        """Problems reaching the server (empty when it answers PING)."""
        if self.client is None:
            return [f"{self.where} ({self.role}) is not open"]
        try:
            await self.call(lambda c: c.ping())
        except BackendUnavailable as exc:
            return [str(exc)]
        return []


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, asyncio.TimeoutError | TimeoutError) or "Timeout" in type(exc).__name__
