"""The LangGraph checkpointer on llmspell: ``builder.compile(checkpointer=LlmspellSaver(kernel))``.

Every LangGraph thread is an llmspell session and its checkpoints live in that session's
state (see :mod:`.records` for the layout), so they are stored by whichever state
backend the kernel is configured with, forked with ``kernel.sessions.fork`` and expired
by the session's TTL. Each checkpoint is also published as a ``langgraph.checkpoint``
event on the session's stream, logged with the ``state.changed`` events of its write (one
append to the event log).

**Two writers cannot silently fork a thread.** The thread's head (its latest checkpoint)
is replaced by compare-and-set. A checkpoint whose parent is not the head any more (an
older run or another process wrote a checkpoint after the one this run started from)
raises :class:`ThreadConflict` instead of branching the thread, unless the branch is
deliberate: LangGraph marks time travel and ``update_state`` on an older checkpoint
with ``source`` ``"fork"`` or ``"update"``, and those are allowed. A write without a
parent to a thread this saver has seen empty is refused the same way (two runs racing
to start one thread).

The async methods run on the kernel's event loop (from any loop); the synchronous ones
(``graph.invoke``) need the kernel to run elsewhere, for example in
:class:`~llmspell.contrib.KernelThread` (see :mod:`.api`). This module holds the work
itself: reading, listing and writing checkpoints.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from llmspell.errors import ConflictError, NotFoundError
from llmspell.plugins.events.api import Event
from llmspell.plugins.state.api import ABSENT, KeyWrite, Versioned

from .._interop import Bridge
from .api import SaverAPI
from .reading import RecordCache, build_tuple, merge_writes, thread_config
from .records import ValueCodec, cp_key, cp_prefix, head_key, matches, ns_of, writes_key
from .threads import APP, Threads

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["LlmspellSaver", "ThreadConflict"]

_EMPTY = ""  # what ``_seen`` records for a thread observed without checkpoints
_SEEN = 4096
_LIST_CHUNK = 32
_ATTEMPTS = 20


class ThreadConflict(ConflictError):
    """A checkpoint would have forked a thread that another writer moved on."""

    def __init__(self, thread_id: Any, ns: str, parent: str | None, head: str | None) -> None:
        self.key = f"langgraph thread {thread_id}"
        self.expected = None
        self.current_version = None
        self.current_value = head
        where = f" (namespace {ns!r})" if ns else ""
        started = f"checkpoint {parent}" if parent else "an empty thread"
        Exception.__init__(
            self,
            f"LangGraph thread {thread_id!r}{where} was moved on by another writer: this run started from "
            f"{started}, but the thread's latest checkpoint is now {head}. Nothing was written; load the "
            "thread again and retry (two runs must not write one thread at once)",
        )


class LlmspellSaver(SaverAPI, BaseCheckpointSaver[str]):
    """A ``BaseCheckpointSaver`` that stores through a running llmspell kernel.

    ``app`` names the sessions created for threads (listed with ``kernel.sessions.list(
    app=...)``), ``user_id`` is their default owner (a thread's own comes from
    ``configurable.user_id``), ``ttl`` expires threads idle for that many seconds.
    ``serde`` is LangGraph's serializer for values that are not plain JSON (default:
    ``JsonPlusSerializer()``; one that pickles is refused).
    """

    def __init__(
        self,
        kernel: Kernel,
        *,
        app: str = APP,
        user_id: str | None = None,
        ttl: float | None = None,
        serde: SerializerProtocol | None = None,
        loop: Any = None,
    ) -> None:
        super().__init__(serde=serde)
        self.kernel = kernel
        self._codec = ValueCodec(self.serde)
        self.bridge = Bridge(kernel, loop)
        self.threads = Threads(kernel, app=app, user_id=user_id, ttl=ttl)
        self.cache = RecordCache()
        self._seen: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._heads: dict[tuple[str, str], tuple[str, int]] = {}

    @property
    def codec(self) -> ValueCodec:
        if self._codec.serde is not self.serde:  # with_allowlist() gave this copy a new serde
            self._codec = ValueCodec(self.serde)
        return self._codec

    def _scope(self, sid: str) -> Any:
        return self.kernel.state.scope("session", sid)

    def _see(self, sid: str, ns: str, checkpoint_id: str) -> None:
        self._seen[(sid, ns)] = checkpoint_id
        self._seen.move_to_end((sid, ns))
        if len(self._seen) > _SEEN:
            gone, _ = self._seen.popitem(last=False)
            self._heads.pop(gone, None)

    def forget(self, sid: str) -> None:
        """Drop what this saver remembers of a thread's session (after deleting it)."""
        self.threads.forget(sid)
        self.cache.forget(sid)
        for key in [k for k in self._seen if k[0] == sid]:
            del self._seen[key]
        for key in [k for k in self._heads if k[0] == sid]:
            del self._heads[key]

    # -- reading --------------------------------------------------------------------

    async def _get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        conf = config["configurable"]
        thread_id = conf["thread_id"]
        ns = conf.get("checkpoint_ns", "")
        sid = await self.threads.readable(thread_id)
        if sid is None:
            return None
        scope = self._scope(sid)
        hk = head_key(ns)
        checkpoint_id = get_checkpoint_id(config)
        if checkpoint_id is None:
            # The head names the latest checkpoint, and a checkpoint the head names exists, so
            # a record this process has cached need not be read again: one round trip.
            guess = self._seen.get((sid, ns))
            cached = self.cache.get(sid, cp_key(ns, guess)) if guess else None
            keys = [hk, writes_key(ns, guess)] if guess else [hk]
            found = await scope.get_many(keys if cached is not None or not guess else [*keys, cp_key(ns, guess)])
            head = found.get(hk)
            if head is None:
                self._see(sid, ns, _EMPTY)
                return None
            checkpoint_id = head["id"]
            if checkpoint_id != guess:
                cached = None
                found.update(await scope.get_many([cp_key(ns, checkpoint_id), writes_key(ns, checkpoint_id)]))
            elif cached is not None:
                found[cp_key(ns, checkpoint_id)] = cached
            self._see(sid, ns, checkpoint_id)
        else:
            found = await scope.get_many([hk, cp_key(ns, checkpoint_id), writes_key(ns, checkpoint_id)])
            head = found.get(hk)
            if head is not None and head["id"] == checkpoint_id:
                self._see(sid, ns, checkpoint_id)
        record = found.get(cp_key(ns, checkpoint_id))
        if record is None:
            return None
        self.cache.keep(sid, cp_key(ns, checkpoint_id), record)
        return await build_tuple(
            scope, self.cache, self.codec, sid, thread_id, ns, checkpoint_id, record,
            found.get(writes_key(ns, checkpoint_id)),
        )

    async def _list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        if limit is not None and limit <= 0:
            return
        conf = config["configurable"] if config else {}
        only_ns = conf.get("checkpoint_ns") if config else None
        only_id = get_checkpoint_id(config) if config else None
        before_id = get_checkpoint_id(before) if before else None
        if config is not None:
            sid = await self.threads.readable(conf["thread_id"])
            threads = [(conf["thread_id"], sid)] if sid else []
        else:
            threads = [pair async for pair in self.threads.live()]
        left = limit
        for thread_id, sid in threads:
            scope = self._scope(sid)
            keys = [k for k in await scope.list(cp_prefix(only_ns))]
            ids = [(ns_of(k)[1], k) for k in keys]
            ids = [
                (cid, k) for cid, k in ids
                if (only_id is None or cid == only_id) and (before_id is None or cid < before_id)
            ]
            ids.sort(reverse=True)
            start = 0
            while start < len(ids):
                size = _LIST_CHUNK if filter or left is None else min(left, _LIST_CHUNK)
                chunk = ids[start : start + size]
                start += size
                found = await scope.get_many([k for _, k in chunk] + [writes_key(*ns_of(k)) for _, k in chunk])
                for cid, key in chunk:
                    record = found.get(key)
                    if record is None:
                        continue
                    if filter:
                        metadata = self.codec.decode(record["metadata"])
                        if not matches(metadata, filter):
                            continue
                    ns = ns_of(key)[0]
                    self.cache.keep(sid, key, record)
                    yield await build_tuple(
                        scope, self.cache, self.codec, sid, thread_id, ns, cid, record,
                        found.get(writes_key(ns, cid)),
                    )
                    if left is not None:
                        left -= 1
                        if left <= 0:
                            return

    # -- writing --------------------------------------------------------------------

    async def _put(
        self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        conf = config["configurable"]
        thread_id = conf["thread_id"]
        ns = conf.get("checkpoint_ns", "")
        parent = conf.get("checkpoint_id")
        sid = await self.threads.writable(thread_id, config)
        scope = self._scope(sid)
        codec = self.codec
        saved: dict[str, Any] = dict(checkpoint)
        values = saved.pop("channel_values", {})
        checkpoint_id: str = saved["id"]
        meta = get_checkpoint_metadata(config, metadata)  # with ``writes``, as InMemorySaver and SqliteSaver keep it
        blobs = {ch: [ver, codec.encode(values[ch]) if ch in values else None] for ch, ver in new_versions.items()}
        parent_record = None
        if parent:
            parent_record = self.cache.get(sid, cp_key(ns, parent))
            if parent_record is None:
                parent_record = await scope.get(cp_key(ns, parent))
        record = {
            "checkpoint": codec.encode(saved),
            "metadata": codec.encode(meta),
            "parent": parent,
            "blobs": blobs,
            "sources": self._sources(checkpoint_id, saved.get("channel_versions", {}), blobs, parent_record),
        }
        deliberate = meta.get("source") in ("fork", "update")
        # logged with the batch's state.changed events: one append (one transaction) per put
        event = Event("langgraph.checkpoint", {
            "thread_id": str(thread_id), "checkpoint_ns": ns, "checkpoint_id": checkpoint_id,
            "parent_checkpoint_id": parent, "step": meta.get("step"), "source": meta.get("source"),
            "channels": sorted(new_versions),
        }, session_id=sid, source="langgraph")
        key = cp_key(ns, checkpoint_id)
        known = self._heads.get((sid, ns))  # the head as this saver last wrote it: no read needed
        head: Versioned | bool | None = Versioned({"id": known[0]}, known[1]) if known and known[0] == parent else False
        for _ in range(_ATTEMPTS):
            if head is False:
                head = await scope.get_versioned(head_key(ns))
            assert not isinstance(head, bool)
            current = None if head is None else head.value["id"]
            if current is not None and current != parent and current != checkpoint_id and not deliberate:
                if parent is not None or self._seen.get((sid, ns)) == _EMPTY:
                    raise ThreadConflict(thread_id, ns, parent, current)
            try:  # the record and the head move together: a killed process leaves neither
                _, version = await self.kernel.state.write_many([
                    KeyWrite(scope, key, record),
                    KeyWrite(scope, head_key(ns), {"id": checkpoint_id},
                             expected_version=ABSENT if head is None else head.version),
                ], events=[event])
                assert version is not None
                self._heads[(sid, ns)] = (checkpoint_id, version)
                break
            except ConflictError as exc:
                if exc.key != head_key(ns):
                    raise
                head = False  # the head moved while this checkpoint was written: look again
        else:
            raise ThreadConflict(thread_id, ns, parent, None)
        self.cache.put(sid, key, record)
        self._see(sid, ns, checkpoint_id)
        return thread_config(thread_id, ns, checkpoint_id)

    def _sources(
        self,
        checkpoint_id: str, versions: dict[str, Any], blobs: dict[str, list[Any]], parent: dict[str, Any] | None
    ) -> dict[str, str | None]:
        """For each channel, the checkpoint whose record holds its value at its version."""
        parent_versions: dict[str, Any] = {}
        parent_sources: dict[str, Any] = {}
        if parent is not None:
            parent_versions = self.codec.decode(parent["checkpoint"]).get("channel_versions", {})
            parent_sources = parent.get("sources", {})
        sources: dict[str, str | None] = {}
        for channel, version in versions.items():
            if channel in blobs and blobs[channel][0] == version:
                sources[channel] = checkpoint_id
            elif parent_versions.get(channel) == version:
                sources[channel] = parent_sources.get(channel)
            else:
                sources[channel] = None  # found by search when read (not written by LangGraph's loop)
        return sources

    async def _put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        conf = config["configurable"]
        ns = conf.get("checkpoint_ns", "")
        sid = await self.threads.writable(conf["thread_id"], config)
        codec = self.codec
        new = [
            [task_id, WRITES_IDX_MAP.get(channel, idx), channel, codec.encode(value), task_path]
            for idx, (channel, value) in enumerate(writes)
        ]
        await self._scope(sid).update(writes_key(ns, conf["checkpoint_id"]), lambda current: merge_writes(current, new))

    async def _delete_thread(self, thread_id: str) -> None:
        sid = self.threads.sid(thread_id)
        try:
            await self.kernel.sessions.delete(sid)
        except NotFoundError:
            await self.kernel.state.delete_owner("session", sid)
        self.forget(sid)

    def get_next_version(self, current: str | None, channel: None) -> str:
        """``"<32-digit counter>.<random>"``: increasing, and distinct across branches."""
        if current is None:
            number = 0
        elif isinstance(current, int):
            number = current
        else:
            number = int(str(current).split(".")[0])
        return f"{number + 1:032}.{random.random():016}"

