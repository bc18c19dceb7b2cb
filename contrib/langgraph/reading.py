"""Reading checkpoints back: records to ``CheckpointTuple``, channel values, pending writes.

Checkpoint records never change once written (pruning may copy values into a kept
record, which leaves its content the same), so the records a checkpoint's values are
spread over are cached per process as JSON bytes: a read that hits the cache costs one
backend round trip for the checkpoint itself, its writes and the thread's head.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import orjson
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import CheckpointTuple, PendingWrite, writes_sort_key

from .records import ValueCodec, cp_key, cp_prefix

__all__ = ["RecordCache", "build_tuple", "pending_writes", "merge_writes", "thread_config"]

_CACHE = 8192


class RecordCache:
    """Checkpoint records by (session id, key), as JSON bytes; least recently used go first."""

    def __init__(self, size: int = _CACHE) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._blobs: dict[tuple[str, str], dict[str, bytes]] = {}

    def put(self, sid: str, key: str, record: Mapping[str, Any]) -> None:
        self._items[(sid, key)] = orjson.dumps(record)
        self._blobs[(sid, key)] = {ch: orjson.dumps(entry) for ch, entry in record.get("blobs", {}).items()}
        self._items.move_to_end((sid, key))
        if len(self._items) > self.size:
            gone, _ = self._items.popitem(last=False)
            self._blobs.pop(gone, None)

    def blob(self, sid: str, key: str, channel: str) -> list[Any] | bool | None:
        """The stored entry of one channel in a cached record (False: record not cached)."""
        blobs = self._blobs.get((sid, key))
        if blobs is None:
            return False
        raw = blobs.get(channel)
        return None if raw is None else orjson.loads(raw)

    def keep(self, sid: str, key: str, record: Mapping[str, Any]) -> None:
        """Cache ``record`` unless it is cached already (records never change)."""
        if (sid, key) not in self._items:
            self.put(sid, key, record)

    def get(self, sid: str, key: str) -> dict[str, Any] | None:
        raw = self._items.get((sid, key))
        return None if raw is None else orjson.loads(raw)

    def forget(self, sid: str) -> None:
        for item in [k for k in self._items if k[0] == sid]:
            del self._items[item]
            self._blobs.pop(item, None)


def thread_config(thread_id: Any, ns: str, checkpoint_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint_id}}


def pending_writes(codec: ValueCodec, stored: list[list[Any]] | None) -> list[PendingWrite]:
    """Stored writes ``[task_id, idx, channel, value, task_path]`` in ``writes_sort_key`` order."""
    if not stored:
        return []
    ordered = sorted(stored, key=lambda w: writes_sort_key(w[4], w[0], w[1]))
    return [(w[0], w[2], codec.decode(w[3])) for w in ordered]


def merge_writes(current: list[list[Any]] | None, new: list[list[Any]]) -> list[list[Any]]:
    """Add ``new`` writes to ``current``: a regular write of a (task, idx) already stored is
    skipped (writes are idempotent), a special one (error, interrupt ...) replaces it."""
    merged = list(current or [])
    where = {(w[0], w[1]): i for i, w in enumerate(merged)}
    for write in new:
        slot = where.get((write[0], write[1]))
        if slot is None:
            where[(write[0], write[1])] = len(merged)
            merged.append(write)
        elif write[1] < 0:
            merged[slot] = write
    return merged


async def _sources(
    scope: Any, cache: RecordCache, sid: str, ns: str, wanted: set[str]
) -> dict[str, dict[str, Any]]:
    """The records of checkpoints ``wanted`` (from the cache, else one round trip)."""
    found: dict[str, dict[str, Any]] = {}
    missing = []
    for checkpoint_id in wanted:
        record = cache.get(sid, cp_key(ns, checkpoint_id))
        if record is None:
            missing.append(cp_key(ns, checkpoint_id))
        else:
            found[checkpoint_id] = record
    if missing:
        loaded = await scope.get_many(missing)
        for key, record in loaded.items():
            cache.put(sid, key, record)
            found[key.rpartition("/")[2]] = record
    return found


async def _search(scope: Any, ns: str, channel: str, version: Any) -> list[Any] | None:
    """Find the stored value of ``channel`` at ``version`` among every record of ``ns``."""
    async for item in scope.scan(cp_prefix(ns)):
        entry = item.value.get("blobs", {}).get(channel)
        if entry is not None and entry[0] == version:
            return entry
    return None


async def channel_values(
    scope: Any, cache: RecordCache, codec: ValueCodec, sid: str, ns: str, checkpoint_id: str,
    record: Mapping[str, Any], versions: Mapping[str, Any],
) -> dict[str, Any]:
    """The values of the channels of one checkpoint at their versions."""
    sources: dict[str, Any] = record.get("sources", {})
    own: dict[str, Any] = record.get("blobs", {})
    entries: dict[str, Any] = {}
    others = set()
    for channel in versions:
        source = sources.get(channel)
        if source in (None, checkpoint_id):
            continue
        hit = cache.blob(sid, cp_key(ns, source), channel)
        if hit is False:
            others.add(source)
        else:
            entries[channel] = hit
    records = await _sources(scope, cache, sid, ns, others) if others else {}
    values: dict[str, Any] = {}
    for channel, version in versions.items():
        source = sources.get(channel)
        if source == checkpoint_id or (source is None and channel in own):
            entry = own.get(channel)
        elif channel in entries:
            entry = entries[channel]
        elif source is not None and source in records:
            entry = records[source].get("blobs", {}).get(channel)
        else:
            entry = await _search(scope, ns, channel, version)
        if entry is None or entry[0] != version or entry[1] is None:
            continue  # never stored, or stored as empty
        values[channel] = codec.decode(entry[1])
    return values


async def build_tuple(
    scope: Any, cache: RecordCache, codec: ValueCodec, sid: str, thread_id: Any, ns: str,
    checkpoint_id: str, record: Mapping[str, Any], writes: list[list[Any]] | None,
) -> CheckpointTuple:
    """A ``CheckpointTuple`` from a checkpoint record and its stored writes."""
    checkpoint = codec.decode(record["checkpoint"])
    checkpoint["channel_values"] = await channel_values(
        scope, cache, codec, sid, ns, checkpoint_id, record, checkpoint.get("channel_versions", {})
    )
    parent = record.get("parent")
    return CheckpointTuple(
        config=thread_config(thread_id, ns, checkpoint_id),
        checkpoint=checkpoint,
        metadata=codec.decode(record["metadata"]),
        parent_config=thread_config(thread_id, ns, parent) if parent else None,
        pending_writes=pending_writes(codec, writes),
    )
