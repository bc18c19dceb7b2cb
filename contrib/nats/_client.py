"""One NATS connection per backend, JetStream helpers, and llmspell's error rules.

* nats-py is imported only when a backend opens; without it the kernel fails at start
  with :class:`~llmspell.errors.MissingExtraError` naming ``pip install "llmspell[nats]"``.
* Every JetStream request waits at most ``[nats] timeout`` seconds; a server that is down
  or unreachable makes the call raise :class:`~llmspell.errors.BackendUnavailable`,
  never hang. nats-py reconnects by itself (forever), so the kernel recovers when the
  server is back; publishes made while it is away fail, they are not queued.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import orjson

from llmspell.errors import BackendUnavailable, MissingExtraError

from .config import NatsConfig

__all__ = ["NatsConnection", "import_nats", "WRONG_LAST_SEQUENCE", "Msg", "PubAck", "JetStreamError"]

T = TypeVar("T")
log = logging.getLogger("llmspell.contrib.nats")

#: JetStream's error code for a failed ``Nats-Expected-Last-Subject-Sequence``.
WRONG_LAST_SEQUENCE = 10071
STREAM_NOT_FOUND = 10059


def import_nats() -> Any:
    """The ``nats`` package, or :class:`MissingExtraError` saying what to install."""
    try:
        import nats
        import nats.js  # noqa: F401 - JetStream support
    except ImportError:
        raise MissingExtraError("the NATS backends", "nats", "nats-py") from None
    return nats


class PubAck:
    """JetStream's acknowledgement of a stored message."""

    __slots__ = ("duplicate", "seq")

    def __init__(self, seq: int, duplicate: bool = False) -> None:
        self.seq = seq
        self.duplicate = duplicate


class JetStreamError(Exception):
    """JetStream refused a publish (``err_code`` says why, e.g. :data:`WRONG_LAST_SEQUENCE`)."""

    def __init__(self, code: int, err_code: int, description: str) -> None:
        self.code = code
        self.err_code = err_code
        self.description = description
        super().__init__(f"JetStream refused the message: {description} (code {code}, error {err_code})")


class Msg:
    """A stored message: subject, stream sequence, headers and data (from a direct get or a consumer)."""

    __slots__ = ("data", "headers", "seq", "subject")

    def __init__(self, subject: str, seq: int, headers: Mapping[str, str] | None, data: bytes | None) -> None:
        self.subject = subject
        self.seq = seq
        self.headers = headers or {}
        self.data = data or b""


class NatsConnection:
    """A nats-py client and its JetStream context for one backend."""

    def __init__(self, config: NatsConfig, role: str) -> None:
        self.config = config
        self.role = role
        self.nc: Any = None
        self.js: Any = None
        self.jsm: Any = None
        self._errors: tuple[type[BaseException], ...] = ()
        self._api_error: type[BaseException] = Exception
        self._replies: dict[str, asyncio.Future[Any]] | None = None
        self._reply_prefix = ""
        self._counter = 0
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
        self._api_error = jerr.APIError
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
        self._replies = None
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

    async def call(self, fn: Callable[[], Awaitable[T]], *, write: bool = False) -> T:
        """Run ``fn()`` with the connection's errors mapped to :class:`BackendUnavailable`."""
        if self.nc is None:
            raise BackendUnavailable(f"{self.where} ({self.role}) is not open; start the kernel first")
        try:
            return await fn()
        except self._errors as exc:
            raise self.unavailable(exc, write=write) from exc

    def api_error(self, exc: BaseException) -> int | None:
        """JetStream's error code of ``exc`` (None if it is not a JetStream API error)."""
        if isinstance(exc, JetStreamError):
            return exc.err_code
        if isinstance(exc, self._api_error):
            return getattr(exc, "err_code", None)
        return None

    # -- JetStream helpers ------------------------------------------------------------------

    async def ensure_stream(self, **config: Any) -> None:
        """Create the stream ``config["name"]`` unless it exists (with any configuration)."""
        from nats.js.api import StorageType, StreamConfig
        from nats.js.errors import NotFoundError

        name = config["name"]
        try:
            await self.call(lambda: self.jsm.stream_info(name))
            return
        except NotFoundError:
            pass
        config.setdefault("storage", StorageType.MEMORY if self.config.storage == "memory" else StorageType.FILE)
        config.setdefault("num_replicas", self.config.replicas)
        try:
            await self.call(lambda: self.jsm.add_stream(StreamConfig(**config)), write=True)
        except self._api_error as exc:
            if "already in use" not in str(exc):
                raise

    async def last(self, stream: str, subject: str) -> Msg | None:
        """The last message on ``subject`` (a direct get), or None."""
        from nats.js.errors import NotFoundError

        try:
            raw = await self.call(lambda: self.jsm.get_msg(stream, subject=subject, direct=True))
        except NotFoundError:
            return None
        return Msg(raw.subject, raw.seq, raw.headers, raw.data)

    async def next(self, stream: str, subject: str, seq: int) -> Msg | None:
        """The first message on ``subject`` at or after stream sequence ``seq``, or None."""
        from nats.js.errors import NotFoundError

        try:
            raw = await self.call(
                lambda: self.jsm.get_msg(stream, seq=max(seq, 1), subject=subject, direct=True, next=True)
            )
        except NotFoundError:
            return None
        return Msg(raw.subject, raw.seq, raw.headers, raw.data)

    async def publish(self, subject: str, data: bytes, headers: dict[str, str]) -> PubAck:
        """A JetStream publish waiting for the store's acknowledgement."""
        (ack,) = await self.publish_many([(subject, data, headers)], raise_errors=True)
        assert isinstance(ack, PubAck)
        return ack

    async def publish_many(self, items: list[tuple[str, bytes, dict[str, str]]], *,
                           raise_errors: bool = False) -> list[PubAck | JetStreamError]:
        """Publish pipelined (one round trip for all); each result is a PubAck or a JetStreamError.

        A message whose acknowledgement does not come within ``[nats] timeout`` makes the
        whole call fail with :class:`BackendUnavailable` (the write may have happened).
        """
        if self.nc is None:
            raise BackendUnavailable(f"{self.where} ({self.role}) is not open; start the kernel first")
        if self._replies is None:
            self._reply_prefix = self.nc.new_inbox() + "."
            self._replies = {}
            await self.call(lambda: self.nc.subscribe(self._reply_prefix + "*", cb=self._on_reply))
        loop = asyncio.get_running_loop()
        tokens = []
        futures = []
        try:
            for subject, data, headers in items:
                self._counter += 1
                token = str(self._counter)
                future: asyncio.Future[Any] = loop.create_future()
                self._replies[token] = future
                tokens.append(token)
                futures.append(future)
                await self.call(functools.partial(
                    self.nc.publish, subject, data, reply=self._reply_prefix + token, headers=headers), write=True)
            done = await self.call(lambda: asyncio.wait_for(asyncio.gather(*futures), self.config.timeout), write=True)
        finally:
            for token in tokens:
                self._replies.pop(token, None)
        if raise_errors:
            for result in done:
                if isinstance(result, JetStreamError):
                    raise result
        return list(done)

    async def _on_reply(self, msg: Any) -> None:
        future = (self._replies or {}).get(msg.subject[len(self._reply_prefix):])
        if future is None or future.done():
            return
        if msg.headers and msg.headers.get("Status") == "503":
            future.set_result(JetStreamError(503, 0, "no stream listens on this subject (it was deleted?)"))
            return
        try:
            reply = orjson.loads(msg.data)
        except ValueError:
            future.set_result(JetStreamError(0, 0, f"unreadable reply {msg.data[:100]!r}"))
            return
        error = reply.get("error")
        if error:
            future.set_result(JetStreamError(error.get("code", 0), error.get("err_code", 0), error.get("description", "")))
        else:
            future.set_result(PubAck(int(reply["seq"]), bool(reply.get("duplicate"))))

    async def purge(self, stream: str, subject: str) -> None:
        await self.call(lambda: self.jsm.purge_stream(stream, subject=subject), write=True)

    async def scan(self, stream: str, subject: str, *, start: int | None = None, last_per_subject: bool = False,
                   until: int | None = None, limit: int | None = None) -> list[Msg]:
        """Every message on ``subject`` (a filter) from stream sequence ``start`` (or the
        last one per subject) up to ``until`` (or the end), at most ``limit``, through an
        ephemeral consumer."""
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        if last_per_subject:
            policy, opt = DeliverPolicy.LAST_PER_SUBJECT, None
        elif start is not None and start > 1:
            policy, opt = DeliverPolicy.BY_START_SEQUENCE, start
        else:
            policy, opt = DeliverPolicy.ALL, None
        config = ConsumerConfig(
            deliver_policy=policy, opt_start_seq=opt, ack_policy=AckPolicy.NONE, filter_subject=subject,
            mem_storage=True, inactive_threshold=max(self.config.timeout * 4, 30.0), max_ack_pending=-1,
        )

        async def run() -> list[Msg]:
            sub = await self.js.pull_subscribe(subject, stream=stream, config=config)
            out: list[Msg] = []
            name = config.name
            try:
                info = await sub.consumer_info()
                remaining = info.num_pending
                while remaining > 0:
                    want = min(remaining, 1000) if limit is None else min(remaining, 1000, limit - len(out))
                    batch = await sub.fetch(want, timeout=self.config.timeout)
                    for m in batch:
                        meta = m.metadata
                        if until is not None and meta.sequence.stream > until:
                            return out
                        out.append(Msg(m.subject, meta.sequence.stream, m.headers, m.data))
                        remaining = meta.num_pending
                        if limit is not None and len(out) >= limit:
                            return out
            finally:
                try:
                    await sub.unsubscribe()
                    await self.jsm.delete_consumer(stream, name)
                except Exception:  # noqa: BLE001 - the consumer expires by itself
                    pass
            return out

        return await self.call(run)
