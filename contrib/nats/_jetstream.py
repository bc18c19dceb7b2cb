"""JetStream operations over a :class:`~llmspell.contrib.nats._client.NatsConnection`.

A backend owns its connection and a :class:`JetStream` built on it; the connection keeps
the nats-py client and maps its errors, the JetStream object keeps what publishing needs.
Publishes go through a reply subscription of our own instead of nats-py's
``publish_async`` (whose futures never settle when JetStream answers with an error, as
it does for every lost ``Nats-Expected-Last-Subject-Sequence`` race): many messages are
sent in one go and each acknowledgement or refusal is matched to its message.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from typing import Any

import orjson

from ._client import NatsConnection

__all__ = ["JetStream", "PubAck", "JetStreamError", "Msg", "WRONG_LAST_SEQUENCE"]

#: JetStream's error code for a failed ``Nats-Expected-Last-Subject-Sequence``.
WRONG_LAST_SEQUENCE = 10071


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


class JetStream:
    """Stream helpers over one connection: stream creation, direct gets, pipelined
    publishes, purges and scans, each through :meth:`NatsConnection.call`."""

    def __init__(self, conn: NatsConnection) -> None:
        self.conn = conn
        self._replies: dict[str, asyncio.Future[Any]] = {}
        self._reply_prefix = ""
        self._reply_client: Any = None
        """The nats-py client the reply subscription is on (a reopened connection has a new one)."""
        self._counter = 0

    async def info(self, stream: str, subjects_filter: str | None = None) -> Any:
        """nats-py's ``StreamInfo`` of ``stream`` (with the subjects matching ``subjects_filter``)."""
        return await self.conn.call(lambda: self.conn.jsm.stream_info(stream, subjects_filter=subjects_filter))

    async def ensure_stream(self, **config: Any) -> None:
        """Create the stream ``config["name"]`` unless it exists (with any configuration)."""
        from nats.js.api import StorageType, StreamConfig
        from nats.js.errors import APIError, NotFoundError

        try:
            await self.info(config["name"])
            return
        except NotFoundError:
            pass
        settings = self.conn.config
        config.setdefault("storage", StorageType.MEMORY if settings.storage == "memory" else StorageType.FILE)
        config.setdefault("num_replicas", settings.replicas)
        try:
            await self.conn.call(lambda: self.conn.jsm.add_stream(StreamConfig(**config)), write=True)
        except APIError as exc:
            if "already in use" not in str(exc):
                raise

    async def last(self, stream: str, subject: str) -> Msg | None:
        """The last message on ``subject`` (a direct get), or None."""
        from nats.js.errors import NotFoundError

        try:
            raw = await self.conn.call(lambda: self.conn.jsm.get_msg(stream, subject=subject, direct=True))
        except NotFoundError:
            return None
        return Msg(raw.subject, raw.seq, raw.headers, raw.data)

    async def next(self, stream: str, subject: str, seq: int) -> Msg | None:
        """The first message on ``subject`` at or after stream sequence ``seq``, or None."""
        from nats.js.errors import NotFoundError

        try:
            raw = await self.conn.call(
                lambda: self.conn.jsm.get_msg(stream, seq=max(seq, 1), subject=subject, direct=True, next=True)
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
        nc = self.conn.client()
        if self._reply_client is not nc:
            self._reply_prefix = nc.new_inbox() + "."
            self._replies = {}
            await self.conn.call(lambda: nc.subscribe(self._reply_prefix + "*", cb=self._on_reply))
            self._reply_client = nc
        replies = self._replies
        loop = asyncio.get_running_loop()
        tokens = []
        futures = []
        try:
            for subject, data, headers in items:
                self._counter += 1
                token = str(self._counter)
                future: asyncio.Future[Any] = loop.create_future()
                replies[token] = future
                tokens.append(token)
                futures.append(future)
                await self.conn.call(functools.partial(
                    nc.publish, subject, data, reply=self._reply_prefix + token, headers=headers), write=True)
            timeout = self.conn.config.timeout
            done = await self.conn.call(lambda: asyncio.wait_for(asyncio.gather(*futures), timeout), write=True)
        finally:
            for token in tokens:
                replies.pop(token, None)
        if raise_errors:
            for result in done:
                if isinstance(result, JetStreamError):
                    raise result
        return list(done)

    async def _on_reply(self, msg: Any) -> None:
        future = self._replies.get(msg.subject[len(self._reply_prefix):])
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
        await self.conn.call(lambda: self.conn.jsm.purge_stream(stream, subject=subject), write=True)

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
            mem_storage=True, inactive_threshold=max(self.conn.config.timeout * 4, 30.0), max_ack_pending=-1,
        )

        async def run() -> list[Msg]:
            sub = await self.conn.js.pull_subscribe(subject, stream=stream, config=config)
            out: list[Msg] = []
            name = config.name
            try:
                info = await sub.consumer_info()
                remaining = info.num_pending
                while remaining > 0:
                    want = min(remaining, 1000) if limit is None else min(remaining, 1000, limit - len(out))
                    batch = await sub.fetch(want, timeout=self.conn.config.timeout)
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
                    await self.conn.jsm.delete_consumer(stream, name)
                except Exception:  # noqa: BLE001 - the consumer expires by itself
                    pass
            return out

        return await self.conn.call(run)
