"""Export and import of sessions as JSON lines, and the report behind ``sessions show``.

An export is one JSON document per line, each tagged with ``kind``:

* ``header``: format name and version, and the session record;
* ``state``: one key of the session's state with its value and version;
* ``event``: one event of the session's stream, with its id, type, time and sequence;
* ``artifact``: one version of a session artifact: its metadata, access list and blob
  record. A blob of at most :data:`SHIPPED` stored bytes travels in the line (``data``,
  base64, as the blob store holds it); a larger one is a *reference*: the bytes stay in
  the blob store, which is content-addressed, so an import into a kernel sharing the
  store, or holding the same blob, resolves it.

Importing recreates all of it in another data directory: the session record (without a
process lease), the state with its versions, the events with their ids and sequence
numbers, and the artifact references with their version numbers.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

import attrs
import orjson

from llmspell import serde
from llmspell.errors import ValidationError
from llmspell.plugins._values import check_schema_version, check_user_id
from llmspell.plugins.artifacts.api import (
    ArtifactAcl,
    ArtifactId,
    ArtifactMeta,
    ArtifactScope,
    ArtifactService,
)
from llmspell.plugins.artifacts.backend import BlobRecord, check_blob_key, check_name
from llmspell.plugins.events.api import Event, EventService
from llmspell.plugins.sessions.api import PENDING, SCHEMA_VERSION, Session, SessionStatus, check_session_id
from llmspell.plugins.state.api import StateItem, StateService, check_key

if TYPE_CHECKING:
    from llmspell import Kernel

    from ._manager import SessionManager

S = SessionStatus

__all__ = ["FORMAT", "export_session", "import_session", "describe"]

FORMAT = "llmspell.session"
SHIPPED = 16 * 1024
"""The largest blob (stored bytes) an export carries itself; larger ones are references."""


async def export_session(kernel: Kernel, session_id: str) -> AsyncIterator[bytes]:
    """The session as JSON lines (each ends with a newline)."""
    session = await kernel.sessions.get(session_id)
    record = session.replace(lease=None)
    yield _line({"kind": "header", "format": FORMAT, "schema_version": SCHEMA_VERSION,
                 "session": serde.unstructure(record)})
    state = kernel.services.find(StateService)
    if state is not None:
        for item in await state.export_owner("session", session_id):
            yield _line({"kind": "state", **serde.unstructure(item)})
    events = kernel.services.find(EventService)
    if events is not None:
        await events.flush()
        async for event in events.read(session_id):
            yield _line({"kind": "event", "event": event.as_dict()})
    artifacts = kernel.services.find(ArtifactService)
    if artifacts is not None:
        store = getattr(artifacts, "store", None)
        async for meta, acl, blob in _artifact_versions(artifacts, session_id):
            line = {"kind": "artifact", "meta": serde.unstructure(meta), "acl": serde.unstructure(acl),
                    "blob": serde.unstructure(blob)}
            if store is not None and blob is not None and blob.stored_size <= SHIPPED:
                data = b"".join([chunk async for chunk in store.read(blob.key)])
                line["data"] = base64.b64encode(data).decode("ascii")
            yield _line(line)


async def _artifact_versions(artifacts: ArtifactService, session_id: str) -> AsyncIterator[tuple[Any, Any, Any]]:
    cursor = None
    while True:
        page = await artifacts.list(session_id=session_id, all_versions=True, limit=1000, cursor=cursor)
        acls: dict[Any, Any] = {}
        for meta in sorted(page.items, key=lambda m: (m.ref.name, m.ref.version)):
            if meta.ref.id not in acls:
                acls[meta.ref.id] = await artifacts.index.get_acl(meta.ref.id)
            yield meta, acls[meta.ref.id], await artifacts.index.get_blob(meta.blob)
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _line(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data) + b"\n"


async def import_session(manager: SessionManager, lines: Iterable[bytes | str]) -> Session:
    """Recreate an exported session; fails if a session with its id already exists.

    The whole file is read and checked before anything is written: every line's shape,
    the session id, state keys and versions, event sequence numbers (1, 2, 3 ...) and
    ids, artifact names, version numbers (1, 2, 3 ... per name, kept as exported), blob
    keys, sizes and hashes, and that every referenced blob is in this kernel's blob
    store. Everything lands in the imported session only: each event's stream and
    session, and each artifact's scope, are the session's own, whatever the file says.
    The write is all or nothing: the record is stored as ``importing`` (invisible)
    first and gets its exported status with the last write; a failure removes what was
    written, and a crash leaves a record that startup recovery removes.
    """
    kernel = manager.kernel
    header, items, events, artifacts = _parse(kernel, lines)
    try:
        session = serde.structure(header["session"], Session)
    except Exception as exc:  # noqa: BLE001 - a malformed record, reported as the header's
        lines_ = "; ".join(serde.describe_structure_error(exc, "session"))
        raise ValidationError(f"session export header: {lines_}") from None
    sid = check_session_id(session.id, "exported session id")
    if session.user_id is not None:
        check_user_id(session.user_id, "exported session user id")
    check_user_id(session.app, "exported session app name")
    if session.status in PENDING:
        raise ValidationError(f"the exported session is {session.status.value}; only a finished export can be imported")
    items = _check_items(items)
    events = _check_events(sid, session.user_id, events)
    artifacts = await _check_artifacts(kernel, session, artifacts)
    await _check_empty(kernel, sid)

    record = session.replace(status=S.IMPORTING, lease=manager.leases.lease(manager.now()), version=0)
    async with manager.pending.work(record):
        if events:  # appended as they were: same ids, same sequence numbers
            result = await kernel.events.log.append(events, expected_last_seq=0)
            if result.duplicates:
                taken = ", ".join(sorted(result.duplicates)[:3])
                raise ValidationError(f"event id(s) {taken} of the export are already in this event log")
        if items:  # quietly: the events above already tell the state's history
            await kernel.state.import_owner("session", sid, items, quiet=True)
        for meta, acl, blob, data in artifacts:
            if data is not None:  # a blob this store lacks, shipped in the export
                writer = await kernel.artifacts.store.writer()
                await writer.write(data)
                await writer.commit(blob.key)
            stored = await kernel.artifacts.index.commit(meta, acl=acl, blob=blob)
            if stored.ref.version != meta.ref.version:
                raise ValidationError(
                    f"artifact {meta.ref.name!r} would get version {stored.ref.version} here, "
                    f"not its exported {meta.ref.version}: versions of that name were used here before"
                )
        # no lease (no process here holds it) and no cleanup history (no hook ran for it here)
        final = await manager.pending.finish(
            sid, lambda current: session.replace(lease=None, cleaned=(), version=current.version)
        )
    return manager._bind(final)


def _parse(kernel: Kernel, lines: Iterable[bytes | str]) -> tuple[dict[str, Any], list[StateItem], list[Event], list[Any]]:
    header: dict[str, Any] | None = None
    items: list[StateItem] = []
    events: list[Event] = []
    artifacts: list[tuple[ArtifactMeta, ArtifactAcl, BlobRecord, bytes | None]] = []
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            data = orjson.loads(raw)
            kind = data.pop("kind")
            if kind == "header":
                if header is not None:
                    raise ValueError("a second header line")
                if data.get("format") != FORMAT:
                    raise ValueError(f"not a session export (format {data.get('format')!r})")
                check_schema_version("session export", int(data["schema_version"]), SCHEMA_VERSION)
                header = data
            elif kind == "state":
                items.append(serde.structure(data, StateItem))
            elif kind == "event":
                events.append(_event(kernel, data["event"]))
            elif kind == "artifact":
                shipped = data.get("data")
                if shipped is not None and not isinstance(shipped, str):
                    raise ValueError("an artifact's data is base64 text")
                artifacts.append((serde.structure(data["meta"], ArtifactMeta),
                                  serde.structure(data["acl"], ArtifactAcl),
                                  serde.structure(data["blob"], BlobRecord),
                                  None if shipped is None else base64.b64decode(shipped, validate=True)))
            else:
                raise ValueError(f"unknown line kind {kind!r}")
        except ValidationError:
            raise
        except Exception as exc:  # noqa: BLE001 - any malformed line is reported with its number
            raise ValidationError(f"session export line {number}: {exc}") from None
    if header is None:
        raise ValidationError("session export has no header line")
    return header, items, events, artifacts


def _check_items(items: list[StateItem]) -> list[StateItem]:
    seen: set[str] = set()
    for item in items:
        check_key(item.key)
        if item.key in seen:
            raise ValidationError(f"session export: state key {item.key!r} appears twice")
        seen.add(item.key)
        if isinstance(item.version, bool) or not isinstance(item.version, int) or item.version < 1:
            raise ValidationError(f"session export: state key {item.key!r} has version {item.version!r}")
        serde.check_json(item.value, f"$.state[{item.key!r}]")
    return items


def _check_events(sid: str, user_id: str | None, events: list[Event]) -> list[Event]:
    """The events in order, each moved into the imported session's stream."""
    ordered = sorted(events, key=lambda e: e.seq or 0)
    ids: set[str] = set()
    out = []
    for number, event in enumerate(ordered, 1):
        if event.seq != number:
            raise ValidationError(
                f"session export: event sequence numbers must run 1, 2, 3 ... without gaps; "
                f"found {event.seq!r} where {number} belongs"
            )
        if event.id in ids:
            raise ValidationError(f"session export: event id {event.id!r} appears twice")
        ids.add(event.id)
        event.check()
        out.append(attrs.evolve(event, stream=sid, session_id=sid))
    return out


async def _check_artifacts(kernel: Kernel, session: Session, artifacts: list[Any]) -> list[Any]:
    """Artifact versions moved into the session's scope, checked against the blob store."""
    if not artifacts:
        return []
    service = kernel.services.find(ArtifactService)
    index, store = getattr(service, "index", None), getattr(service, "store", None)
    if index is None or store is None:
        raise ValidationError("the export holds artifacts but this kernel has no artifact service")
    scope = ArtifactScope.session(session.id)
    owner = f"user:{session.user_id}" if session.user_id else None
    out = []
    versions: dict[str, list[int]] = {}
    for meta, acl, blob, data in sorted(artifacts, key=lambda a: (a[0].ref.name, a[0].ref.version)):
        name = check_name(meta.ref.name)
        where = f"session export: artifact {name!r} version {meta.ref.version}"
        versions.setdefault(name, []).append(meta.ref.version)
        check_blob_key(meta.blob)
        if blob.key != meta.blob:
            raise ValidationError(f"{where}: its blob record is for {blob.key!r}, not its blob {meta.blob!r}")
        if (blob.sha256, blob.size, blob.codecs) != (meta.sha256, meta.size, meta.codecs):
            raise ValidationError(f"{where}: its hash, size or codecs differ from its blob record's")
        if isinstance(meta.size, bool) or meta.size < 0 or blob.stored_size < 0:
            raise ValidationError(f"{where}: negative size")
        info = await store.stat(blob.key)
        if data is not None:  # the blob's bytes came with the export: they must be the blob described
            if len(data) != blob.stored_size or len(data) > SHIPPED:
                raise ValidationError(f"{where}: its data holds {len(data)} bytes, the export says {blob.stored_size} "
                                      f"(an export carries blobs of at most {SHIPPED} bytes)")
            # a blob's key is its content's sha256 (with its codecs' tag): plain bytes are checked
            # here; coded ones are checked against that sha256 when they are loaded
            if blob.codecs and not blob.key.startswith(f"{blob.sha256}-"):
                raise ValidationError(f"{where}: its blob key {blob.key} is not the address of its content")
            if not blob.codecs and (blob.key != blob.sha256 or hashlib.sha256(data).hexdigest() != blob.sha256):
                raise ValidationError(f"{where}: its data does not hash to its blob key {blob.key}")
        if info is None and data is None:
            raise ValidationError(f"{where}: its blob {blob.key} is not in this kernel's blob store")
        if info is not None and info.size != blob.stored_size:
            raise ValidationError(f"{where}: its blob holds {info.size} bytes, the export says {blob.stored_size}")
        known = await index.get_blob(blob.key)
        if known is not None and (known.sha256, known.size, known.stored_size, known.codecs, known.key_id) != (
            blob.sha256, blob.size, blob.stored_size, blob.codecs, blob.key_id
        ):
            raise ValidationError(f"{where}: its blob record differs from the one this kernel holds for {blob.key}")
        id_ = ArtifactId(scope.kind, scope.id, name)
        acl = attrs.evolve(acl, id=id_, owned_by=owner or acl.owned_by)
        out.append((attrs.evolve(meta, ref=id_.at(meta.ref.version)), acl, blob, data if info is None else None))
    for name, numbers in versions.items():
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValidationError(
                f"session export: artifact {name!r} has versions {numbers}; an import keeps version "
                "numbers, so they must run 1, 2, 3 ..."
            )
    return out


async def _check_empty(kernel: Kernel, sid: str) -> None:
    """Refuse when the id is taken, or something is left under it (state, events, artifacts)."""
    if await kernel.sessions.backend.get(sid) is not None:
        raise ValidationError(f"session {sid!r} already exists here; delete it first")
    state = kernel.services.find(StateService)
    if state is not None and await state.export_owner("session", sid):
        raise ValidationError(f"session {sid!r} has state here although it does not exist; refusing to mix")
    events = kernel.services.find(EventService)
    if events is not None and await events.last_seq(sid):
        raise ValidationError(f"session {sid!r} has events here although it does not exist; refusing to mix")
    artifacts = kernel.services.find(ArtifactService)
    if artifacts is not None and (await artifacts.list(session_id=sid, all_versions=True, limit=1)).items:
        raise ValidationError(f"session {sid!r} has artifacts here although it does not exist; refusing to mix")


def _event(kernel: Kernel, data: dict[str, Any]) -> Event:
    from llmspell.plugins.events.backend import EventCodec

    return EventCodec.for_kernel(kernel).from_data(data, data.get("stream"), data.get("seq"))


async def describe(kernel: Kernel, session_id: str, last: int) -> dict[str, Any]:
    """Metadata, state (with versions) and the last ``last`` events of a session."""
    async with kernel:
        session = await kernel.sessions.get(session_id)
        report: dict[str, Any] = {"session": serde.unstructure(session)}
        state = kernel.services.find(StateService)
        if state is not None:
            report["state"] = {
                item.key: {"value": item.value, "version": item.version}
                for item in await state.export_owner("session", session_id)
            }
        events = kernel.services.find(EventService)
        if events is not None:
            top = await events.last_seq(session_id)
            report["events"] = [
                event.as_dict() async for event in events.read(session_id, from_seq=max(1, top - last + 1))
            ]
        return report
