"""Copying, pruning and deleting checkpoints by run: the checkpointer's maintenance.

A checkpoint record keeps only the values its own step changed and points at older
records for the rest (see :mod:`.records`). Before a record is deleted, every record
that stays and points into it gets the values it needs copied in ("inlined"), so no
kept checkpoint ever loses a channel value.

``prune(strategy="keep_latest")`` keeps, per namespace, the latest checkpoint and as
many of its ancestors as the ``DeltaChannel`` history needs: the walk up the parents
stops once every channel of the latest checkpoint has met a stored (non-empty) value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from llmspell.errors import ValidationError
from llmspell.plugins.state.api import KeyWrite

from .records import PREFIX, cp_key, cp_prefix, head_key, ns_of, writes_key

if TYPE_CHECKING:
    from .saver import LlmspellSaver

__all__ = ["copy_thread", "prune", "delete_for_runs"]

STRATEGIES = ("keep_latest", "delete")


async def copy_thread(saver: LlmspellSaver, source: str, target: str) -> None:
    """Copy every checkpoint and write of ``source`` to the new thread ``target``."""
    sid = await saver.threads.readable(source)
    if sid is None:
        return
    state = saver.kernel.state
    if not await state.scope("session", sid).list(PREFIX):
        return
    target_sid = await saver.threads.writable(target, None)
    await state.copy_owner("session", sid, target_sid)
    await saver.kernel.emit(
        "langgraph.thread.copied", {"thread_id": str(source), "target_thread_id": str(target)},
        session_id=target_sid, source="langgraph",
    )


async def _records(scope: Any, ns: str | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """Every checkpoint record of a thread: namespace -> checkpoint id -> record."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    async for item in scope.scan(cp_prefix(ns)):
        item_ns, checkpoint_id = ns_of(item.key)
        out.setdefault(item_ns, {})[checkpoint_id] = item.value
    return out


def _inline(saver: LlmspellSaver, checkpoint_id: str, record: dict[str, Any], records: dict[str, dict[str, Any]]) -> bool:
    """Copy into ``record`` every value it points at in another record; whether it changed."""
    sources: dict[str, Any] = record.get("sources", {})
    blobs: dict[str, Any] = record.setdefault("blobs", {})
    changed = False
    for channel, source in list(sources.items()):
        if source in (None, checkpoint_id):
            continue
        entry = records.get(source, {}).get("blobs", {}).get(channel)
        if entry is not None:
            blobs[channel] = entry
        sources[channel] = checkpoint_id if entry is not None else None
        changed = True
    return changed


async def _drop(
    saver: LlmspellSaver, sid: str, ns: str, records: dict[str, dict[str, Any]], doomed: Iterable[str]
) -> None:
    """Delete the ``doomed`` checkpoints of one namespace, keeping the others whole."""
    doomed = set(doomed)
    if not doomed:
        return
    state = saver.kernel.state
    scope = state.scope("session", sid)
    writes = []  # one all-or-nothing write: no kept checkpoint can lose a value it points at
    for checkpoint_id, record in records.items():
        if checkpoint_id in doomed:
            continue
        if any(record.get("sources", {}).get(ch) in doomed for ch in record.get("sources", {})):
            _inline(saver, checkpoint_id, record, records)
            writes.append(KeyWrite(scope, cp_key(ns, checkpoint_id), record))
    for checkpoint_id in doomed:
        writes.append(KeyWrite(scope, cp_key(ns, checkpoint_id), delete=True))
        writes.append(KeyWrite(scope, writes_key(ns, checkpoint_id), delete=True))
    kept = sorted(set(records) - doomed)
    head = await scope.get(head_key(ns))
    if not kept:
        writes.append(KeyWrite(scope, head_key(ns), delete=True))
    elif head is None or head["id"] in doomed:
        writes.append(KeyWrite(scope, head_key(ns), {"id": kept[-1]}))
    await state.write_many(writes)
    saver.cache.forget(sid)


def _ancestry(saver: LlmspellSaver, latest: str, records: dict[str, dict[str, Any]]) -> set[str]:
    """The latest checkpoint and the ancestors its delta channels need (see the module doc)."""
    codec = saver.codec
    record = records[latest]
    channels = set(codec.decode(record["checkpoint"]).get("channel_versions", {}))
    keep = {latest}
    current: str | None = latest
    while current is not None and current in records and channels:
        record = records[current]
        keep.add(current)
        versions = codec.decode(record["checkpoint"]).get("channel_versions", {})
        for channel in list(channels):
            source = record.get("sources", {}).get(channel)
            entry = records.get(source, {}).get("blobs", {}).get(channel) if source else None
            if entry is not None and entry[0] == versions.get(channel) and entry[1] is not None:
                channels.discard(channel)
        current = record.get("parent")
    return keep


async def prune(saver: LlmspellSaver, thread_ids: Sequence[str], strategy: str) -> None:
    """Keep only the latest checkpoint of each namespace (``keep_latest``), or none (``delete``)."""
    if strategy not in STRATEGIES:
        raise ValidationError(f"unknown prune strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    for thread_id in thread_ids:
        sid = await saver.threads.readable(thread_id)
        if sid is None:
            continue
        scope = saver.kernel.state.scope("session", sid)
        if strategy == "delete":
            await saver.kernel.state.write_many(
                [KeyWrite(scope, key, delete=True) for key in await scope.list(PREFIX)]
            )
            saver.forget(sid)
            continue
        for ns, records in (await _records(scope)).items():
            head = await scope.get(head_key(ns))
            latest = head["id"] if head is not None and head["id"] in records else max(records)
            keep = _ancestry(saver, latest, records)
            for checkpoint_id in keep:
                if _inline(saver, checkpoint_id, records[checkpoint_id], records):
                    await scope.set(cp_key(ns, checkpoint_id), records[checkpoint_id])
            await _drop(saver, sid, ns, records, set(records) - keep)
        await saver.kernel.emit(
            "langgraph.thread.pruned", {"thread_id": str(thread_id), "strategy": strategy},
            session_id=sid, source="langgraph",
        )


async def delete_for_runs(saver: LlmspellSaver, run_ids: Sequence[str]) -> None:
    """Delete every checkpoint (and its writes) made by one of ``run_ids``, in every thread."""
    runs = set(run_ids)
    if not runs:
        return
    async for _, sid in saver.threads.live():
        scope = saver.kernel.state.scope("session", sid)
        for ns, records in (await _records(scope)).items():
            doomed = {
                checkpoint_id for checkpoint_id, record in records.items()
                if saver.codec.decode(record["metadata"]).get("run_id") in runs
            }
            await _drop(saver, sid, ns, records, doomed)
