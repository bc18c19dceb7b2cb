"""A run's journal: the events of its stream, folded into what a replay needs.

Entries (event types, payloads):

* ``run.started``: ``agent``, ``input``, ``session_id``, ``user_id``;
* ``run.call.intent``: ``key``, ``kind``, ``name``, ``path``, ``args``, ``idempotency_key``
  (written before a tool's body runs);
* ``run.call.done``: ``key`` and ``result`` (``rejected``: the message a rejection gave the
  agent) or ``error`` (the call raised);
* ``run.paused``: ``items`` (pending items); ``run.decided``: ``item``, ``key``,
  ``decision``, ``by``, ``note``; ``run.resumed``: ``by``;
* ``run.finished``: ``status`` (``completed``, ``failed``) and ``error``.

Every append names the last sequence number it read (``expected_last_seq``): two
processes that resume the same run cannot both write, so they cannot both execute.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from llmspell import serde
from llmspell.errors import ConflictError, LlmspellError
from llmspell.plugins._process import ended, this_process
from llmspell.plugins.events.api import Event, EventService

from .api import PendingItem, RunRecord, stream_of

__all__ = ["Journal", "JournalConflict", "digest", "expired", "fold"]


def owner() -> dict[str, Any]:
    """This process, as a journal records who runs a run."""
    host, pid, start = this_process()
    return {"host": host, "pid": pid, "start": start}


def gone(who: dict[str, Any] | None) -> bool:
    """Whether the process ``who`` ran on this host and has ended (a pid reused since counts as ended)."""
    return who is not None and ended(who["host"], who["pid"], who["start"]) is not None


def digest(value: Any) -> str:
    """A short, stable digest of JSON data (the arguments a call was made with)."""
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()[:24]


class JournalConflict(LlmspellError):
    """Another process wrote to the run's journal since this one read it (it resumed the run)."""


class Journal:
    """The journal of one run: what it recorded, and fenced appends to it."""

    __slots__ = ("decided", "entries", "events", "finished", "intents", "items", "outcomes", "owner",
                 "pending", "run_id", "seq", "started", "stream", "waiting")

    def __init__(self, events: EventService | None, run_id: str) -> None:
        self.events = events
        self.run_id = run_id
        self.stream = stream_of(run_id)
        self.seq = 0
        self.entries: list[Event] = []
        self.started: dict[str, Any] | None = None
        self.outcomes: dict[str, dict[str, Any]] = {}
        """Journal key -> the ``run.call.done`` payload of the call."""
        self.intents: dict[str, dict[str, Any]] = {}
        """Journal key -> the ``run.call.intent`` payload of a call not yet done."""
        self.pending: dict[str, PendingItem] = {}
        """Pending item id -> the item, for items not decided yet."""
        self.decided: dict[str, dict[str, Any]] = {}
        """Journal key -> the ``run.decided`` payload not yet acted on (no outcome for the key yet)."""
        self.items: int = 0
        """How many pending items the run has had (the next one is numbered after)."""
        self.finished: dict[str, Any] | None = None
        self.owner: dict[str, Any] | None = None
        """The process that last started or resumed the run."""
        self.waiting = False
        """Paused and not resumed since (decisions may have been recorded meanwhile)."""

    async def load(self) -> Journal:
        """Read the whole stream and fold it."""
        assert self.events is not None
        self.entries = [event async for event in self.events.read(self.stream)]
        for event in self.entries:
            self._apply(event)
        return self

    def _apply(self, event: Event) -> None:
        data, kind = event.payload, event.type
        self.seq = event.seq or self.seq
        if kind == "run.started":
            self.started = data
            self.owner = data.get("owner")
        elif kind == "run.call.intent":
            self.intents[data["key"]] = data
        elif kind == "run.call.done":
            self.outcomes[data["key"]] = data
            self.intents.pop(data["key"], None)
            self.decided.pop(data["key"], None)
        elif kind == "run.resumed":
            self.waiting = False
            self.owner = data.get("owner")
        elif kind == "run.paused":
            self.waiting = True
            for raw in data["items"]:
                item = serde.structure(raw, PendingItem)
                self.pending[item.id] = item
                self.items += 1
        elif kind == "run.decided":
            decided = self.pending.pop(data["item"], None)
            if decided is not None:
                self.decided[decided.step] = data
        elif kind == "run.finished":
            self.finished = data

    async def append(self, *entries: tuple[str, dict[str, Any]]) -> None:
        """Append entries in one batch after the last one read; another writer in between
        (the run resumed elsewhere) raises :class:`LlmspellError` and nothing is written."""
        if self.started is None and entries and entries[0][0] != "run.started":
            raise LlmspellError(f"run {self.run_id}: the journal must begin with run.started")
        assert self.events is not None
        events = [Event(kind, payload, stream=self.stream) for kind, payload in entries]
        try:
            stored = (await self.events.log.append(events, expected_last_seq=self.seq)).events
        except ConflictError:
            raise JournalConflict(
                f"run {self.run_id} was changed by another process (resumed elsewhere?) while this one ran it; "
                "this process stops here and executes nothing more"
            ) from None
        for event in stored:
            self._apply(event)
            self.entries.append(event)

    def record(self) -> RunRecord:
        """The run as listed."""
        started = self.started or {}
        status, error = "running", None
        if self.finished is not None:
            status, error = self.finished["status"], self.finished.get("error")
        elif self.pending or self.waiting:
            status = "paused"
        elif gone(self.owner):
            status = "interrupted"
        first = self.entries[0].time if self.entries else None
        last = self.entries[-1].time if self.entries else None
        return RunRecord(
            self.run_id, status, started.get("agent", ""), started.get("session_id"), started.get("user_id"),
            first, last, tuple(self.pending.values()), error,
        )


def fold(run_id: str, events: Sequence[Event]) -> RunRecord:
    """The record of a run from its journal events (for listings)."""
    journal = Journal(None, run_id)
    for event in events:
        journal._apply(event)
        journal.entries.append(event)
    return journal.record()


def expired(item: PendingItem, now: datetime) -> bool:
    return item.expires_at is not None and item.expires_at <= now
