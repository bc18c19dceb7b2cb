"""Export and import of sessions as JSON lines, and the report behind ``sessions show``.

An export is one JSON document per line, each tagged with ``kind``:

* ``header``: format name and version, and the session record;
* ``state``: one key of the session's state with its value and version;
* ``event``: one event of the session's stream, with its id, type, time and sequence;
* ``artifact``: one version of a session artifact: its metadata, access list and blob
  record (a *reference*: the bytes stay in the blob store, which is content-addressed,
  so an import into a kernel sharing the store, or holding the same blob, resolves it).

Importing recreates all of it in another data directory: the session record (without a
process lease), the state with its versions, the events with their ids and sequence
numbers, and the artifact references with their version numbers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import orjson

from llmspell import serde
from llmspell.artifacts import ArtifactAcl, ArtifactMeta, ArtifactService, BlobRecord
from llmspell.errors import ValidationError
from llmspell.events import Event, EventService
from llmspell.sessions import SCHEMA_VERSION, Session
from llmspell.state import StateItem, StateService

__all__ = ["FORMAT", "export_session", "import_session", "describe"]

FORMAT = "llmspell.session"


async def export_session(kernel: Any, session_id: str) -> AsyncIterator[bytes]:
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
        async for meta, acl, blob in _artifact_versions(artifacts, session_id):
            yield _line({"kind": "artifact", "meta": serde.unstructure(meta), "acl": serde.unstructure(acl),
                         "blob": serde.unstructure(blob)})


async def _artifact_versions(artifacts: Any, session_id: str) -> AsyncIterator[tuple[Any, Any, Any]]:
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


async def import_session(kernel: Any, lines: Iterable[bytes | str]) -> Session:
    """Recreate an exported session; fails if a session with its id already exists."""
    header: dict[str, Any] | None = None
    items: list[StateItem] = []
    events: list[Event] = []
    artifacts: list[tuple[ArtifactMeta, ArtifactAcl, BlobRecord]] = []
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            data = orjson.loads(raw)
            kind = data.pop("kind")
            if kind == "header":
                if data.get("format") != FORMAT:
                    raise ValueError(f"not a session export (format {data.get('format')!r})")
                serde.check_schema_version("session export", int(data["schema_version"]), SCHEMA_VERSION)
                header = data
            elif kind == "state":
                items.append(serde.structure(data, StateItem))
            elif kind == "event":
                events.append(_event(kernel, data["event"]))
            elif kind == "artifact":
                artifacts.append((serde.structure(data["meta"], ArtifactMeta),
                                  serde.structure(data["acl"], ArtifactAcl),
                                  serde.structure(data["blob"], BlobRecord)))
            else:
                raise ValueError(f"unknown line kind {kind!r}")
        except ValidationError:
            raise
        except Exception as exc:  # noqa: BLE001 - any malformed line is reported with its number
            raise ValidationError(f"session export line {number}: {exc}") from None
    if header is None:
        raise ValidationError("session export has no header line")
    session = serde.structure(header["session"], Session)
    if await kernel.sessions.find(session.id) is not None:
        raise ValidationError(f"session {session.id!r} already exists here; delete it first")
    stored = await kernel.sessions.backend.put(session.replace(lease=None, version=0), expected_version=0)
    if events:  # appended as they were: same ids, same sequence numbers
        await kernel.events.log.append(sorted(events, key=lambda e: e.seq or 0))
    if items:  # quietly: the events above already tell the state's history
        await kernel.state.import_owner("session", session.id, items, quiet=True)
    index = getattr(kernel.services.find(ArtifactService), "index", None)
    for meta, acl, blob in artifacts:
        if index is None:
            raise ValidationError("the export holds artifacts but this kernel has no artifact service")
        await index.commit(meta, acl=acl, blob=blob)
    return kernel.sessions._bind(stored)


def _event(kernel: Any, data: dict[str, Any]) -> Event:
    from llmspell._eventcodec import EventCodec

    return EventCodec.for_kernel(kernel).from_data(data, data.get("stream"), data.get("seq"))


async def describe(kernel: Any, session_id: str, last: int) -> dict[str, Any]:
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
