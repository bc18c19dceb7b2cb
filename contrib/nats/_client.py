"""One NATS connection per backend and llmspell's error rules (the stream helpers built on
it are :class:`~llmspell.contrib.nats._jetstream.JetStream`).

* nats-py is imported only when a backend opens; without it the kernel fails at start
  with :class:`~llmspell.errors.MissingExtraError` naming ``pip install "llmspell[nats]"``.
* Every JetStream request waits at most ``[nats] timeout`` seconds; a server that is down
  or unreachable makes the call raise :class:`~llmspell.errors.BackendUnavailable`,
  never hang. nats-py reconnects by itself (forever), so the kernel recovers when the
  server is back; publishes made while it is away fail, they are not queued.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from llmspell.errors import BackendUnavailable, MissingExtraError

from .config import NatsConfig

__all__ = ["NatsConnection", "import_nats"]

T = TypeVar("T")
log = logging.getLogger("llmspell.contrib.nats")


def import_nats() -> Any:
    """The ``nats`` package, or :class:`MissingExtraError` saying what to install."""
    try:
        import nats
        import nats.js  # noqa: F401 - JetStream support
    except ImportError:
        raise MissingExtraError("the NATS backends", "nats", "nats-py") from None
    return nats


class NatsConnection:
    """A nats-py client and its JetStream context for one backend."""

    def __init__(self, config: NatsConfig, role: str) -> None:
        self.config = config
        self.role = role
        self.nc: Any = None
        self.js: Any = None
        self.jsm: Any = None
        self._errors: tuple[type[BaseException], ...] = ()
        self._closing = False

    @property
    def where(self) -> str:
        hosts = []
        for url in self.config.servers.split(","):
            head, _, tail = url.strip().rpartition("@")
            hosts.append(url.strip().split("://")[0] + "://" + tail if head else url.strip())
        return f"NATS at {', '.join(hosts)}"

    async def open(self) -> None:
        if self.nc is not None:
            return
        self._closing = False
        import_nats()
        import nats.errors as nerr
        import nats.js.errors as jerr

        self._errors = (nerr.TimeoutError, nerr.NoServersError, nerr.ConnectionClosedError, nerr.NoRespondersError,
                        nerr.StaleConnectionError, nerr.OutboundBufferLimitError, jerr.ServiceUnavailableError,
                        jerr.NoStreamResponseError, asyncio.TimeoutError, OSError)
        options: dict[str, Any] = {
            "servers": [u.strip() for u in self.config.servers.split(",") if u.strip()],
            "connect_timeout": self.config.connect_timeout,
            "max_reconnect_attempts": -1,
            "reconnect_time_wait": 0.5,
            "allow_reconnect": True,
            "name": f"llmspell-{self.role}",
            "pending_size": 0,  # nothing is queued while disconnected: such a call fails at once
            "error_cb": self._on_error,
            "disconnected_cb": self._on_disconnect,
        }
        for key in ("user", "password", "token"):
            value = getattr(self.config, key)
            if value:
                options[key] = value
        if self.config.creds:
            options["user_credentials"] = self.config.creds
        from nats.aio.client import Client

        client = Client()
        try:
            # nats-py keeps trying forever (it reconnects forever later); the first connect may not.
            await asyncio.wait_for(client.connect(**options), self.config.connect_timeout + 1)
        except Exception as exc:  # noqa: BLE001 - every failure to connect means the same thing here
            try:
                await client.close()
            except Exception:  # noqa: BLE001
                pass
            raise self.unavailable(exc, connecting=True) from None
        self.nc = client
        self.js = self.nc.jetstream(timeout=self.config.timeout)
        self.jsm = self.nc.jsm(timeout=self.config.timeout)

    async def _on_error(self, exc: Exception) -> None:
        log.debug("%s (%s): %s", self.where, self.role, exc)

    async def _on_disconnect(self) -> None:
        if not self._closing:
            log.warning("%s (%s): disconnected; reconnecting", self.where, self.role)

    async def close(self) -> None:
        nc, self.nc = self.nc, None
        self._closing = True
        if nc is not None:
            try:
                await asyncio.wait_for(nc.drain(), self.config.timeout)
            except Exception:  # noqa: BLE001 - closing a broken connection must not fail shutdown
                try:
                    await nc.close()
                except Exception:  # noqa: BLE001
                    log.debug("closing the %s NATS connection failed", self.role, exc_info=True)

    def unavailable(self, exc: BaseException, *, write: bool = False, connecting: bool = False) -> BackendUnavailable:
        name = type(exc).__name__
        if connecting and "Authorization" not in str(exc) and "authorization" not in str(exc):
            hint = (f"cannot connect within {self.config.connect_timeout}s ([nats] connect_timeout): check that "
                    "the server runs and that [nats] servers (or LLMSPELL_NATS_SERVERS) points at it")
        elif "NoResponders" in name or "NoStreamResponse" in name or "ServiceUnavailable" in name:
            hint = "JetStream did not answer: start nats-server with JetStream enabled (-js)"
        elif "Timeout" in name:
            hint = (f"no reply within {self.config.timeout}s ([nats] timeout): the server is down, overloaded "
                    "or unreachable")
        elif "Authorization" in str(exc) or "authorization" in str(exc):
            hint = "authorization failed: check [nats] user/password/token/creds"
        else:
            hint = "cannot connect: check that the server runs and that [nats] servers (or LLMSPELL_NATS_SERVERS) points at it"
        outcome = " The write may or may not have been applied." if write else ""
        return BackendUnavailable(f"{self.where} ({self.role}): {hint} [{name}: {exc}].{outcome}")

    def client(self) -> Any:
        """The open nats-py client (:class:`BackendUnavailable` if the connection is not open)."""
        if self.nc is None:
            raise BackendUnavailable(f"{self.where} ({self.role}) is not open; start the kernel first")
        return self.nc

    async def call(self, fn: Callable[[], Awaitable[T]], *, write: bool = False) -> T:
        """Run ``fn()`` with the connection's errors mapped to :class:`BackendUnavailable`."""
        self.client()
        try:
            return await fn()
        except self._errors as exc:
            raise self.unavailable(exc, write=write) from exc
