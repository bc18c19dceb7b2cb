"""A chat agent's conversation in a session's state, appended turn by turn.

Under the history key ``K`` (``chat/<agent name>`` unless ``history_key`` says otherwise):

* ``K`` is the *head*: ``{"format": 2, "log": id, "turns": n, "head": [messages]}``, the
  messages before the first turn (a summary and the messages kept when the history was
  trimmed, or a conversation stored in the earlier layout) and how many turns follow;
* ``K/000000``, ``K/000001`` ... hold the messages each turn added, written once.

A turn stores its messages under ``K/<n>`` and the head with ``turns = n + 1`` in one
all-or-nothing :meth:`~llmspell.plugins.state.api.StateService.write_many` that also
compares the head's version: of two turns of one session that ran at the same time, the
second reads the first's messages and appends its own after them. So a turn writes only
what it added, whatever the length of the conversation.

Trimming starts a new *log* (a new id): the head holds the trimmed history, turn 0 the
turn's messages, and the turns of the old log are deleted in the same write.

The earlier layout, ``K`` holding the whole conversation as one list, is still read; the
next turn stores it in this layout (as the head of a new log).

A reader keeps what it has structured per session and key (:class:`Cache`): the turns of
one log never change once written, so a turn reads and structures only the turns written
since it last looked (by another process), not the whole conversation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from llmspell import serde
from llmspell.errors import ConflictError, IntegrityError
from llmspell.ids import new_id
from llmspell.plugins.agents.api import Message
from llmspell.plugins.state.api import ABSENT, KeyWrite, StateScope, StateService

__all__ = ["Cache", "Loaded", "FORMAT", "estimate_tokens", "read", "append", "turn_key"]

#: The ``format`` of a head record (the earlier layout, a bare list, has none).
FORMAT = 2
#: Sessions whose conversation one agent keeps structured (the least recently used go first).
CACHED_SESSIONS = 64
#: Attempts of a turn to append after other turns of the same session wrote first.
APPEND_ATTEMPTS = 16


def estimate_tokens(messages: Sequence[Message]) -> int:
    return sum(len(m.content) // 4 + 4 for m in messages)


def turn_key(key: str, turn: int) -> str:
    return f"{key}/{turn:06d}"


def _messages(data: Any, where: str) -> list[Message]:
    if type(data) is not list:
        raise IntegrityError(f"{where} is not a list of messages: {data!r:.80}")
    return [serde.structure(m, Message) for m in data]


@attrs.define
class Loaded:
    """A conversation as read: its messages and where the next turn goes."""

    messages: list[Message]
    version: int
    """The head's version (0: no conversation yet)."""
    log: str | None = None
    """The log id (None: nothing stored yet, or the earlier layout)."""
    turns: int = 0
    tokens: int = 0
    """:func:`estimate_tokens` of ``messages``."""


@attrs.define
class _Entry:
    log: str
    turns: int
    messages: list[Message]
    tokens: int


class Cache:
    """Structured conversations of one agent, by (session, key), the most recent last."""

    def __init__(self, size: int = CACHED_SESSIONS) -> None:
        self.size = size
        self.entries: dict[tuple[str, str], _Entry] = {}

    def get(self, slot: tuple[str, str], log: str, turns: int) -> _Entry | None:
        entry = self.entries.pop(slot, None)
        if entry is None or entry.log != log or entry.turns > turns:
            return None
        self.entries[slot] = entry
        return entry

    def put(self, slot: tuple[str, str], entry: _Entry) -> None:
        self.entries.pop(slot, None)
        if len(self.entries) >= self.size:
            del self.entries[next(iter(self.entries))]
        self.entries[slot] = entry


def _head(value: Any, key: str) -> tuple[str, int, Any]:
    if (
        type(value) is not dict
        or value.get("format") != FORMAT
        or type(value.get("log")) is not str
        or type(value.get("turns")) is not int
        or value["turns"] < 0
    ):
        raise IntegrityError(f"the conversation head {key!r} is not a format-{FORMAT} head: {value!r:.120}")
    return value["log"], value["turns"], value.get("head", [])


async def read(scope: StateScope, key: str, cache: Cache | None = None) -> Loaded:
    """The conversation stored under ``key`` of ``scope`` (see the module docstring)."""
    item = await scope.get_versioned(key)
    if item is None:
        return Loaded([], ABSENT)
    if type(item.value) is list:  # the earlier layout: the whole conversation in one record
        messages = _messages(item.value, f"the conversation {key!r}")
        return Loaded(messages, item.version, tokens=estimate_tokens(messages))
    log, turns, head = _head(item.value, key)
    slot = (scope.owner, key)
    entry = cache.get(slot, log, turns) if cache is not None else None
    if entry is None:
        base = _messages(head, f"the head of the conversation {key!r}")
        entry = _Entry(log, 0, base, estimate_tokens(base))
    if entry.turns < turns:
        keys = [turn_key(key, i) for i in range(entry.turns, turns)]
        found = await scope.get_many(keys)
        messages, tokens = list(entry.messages), entry.tokens  # the cached entry changes only when all is read
        for name in keys:
            if name not in found:
                raise IntegrityError(f"turn {name!r} of the conversation {key!r} ({turns} turns) is missing")
            new = _messages(found[name], f"turn {name!r}")
            messages += new
            tokens += estimate_tokens(new)
        entry = _Entry(log, turns, messages, tokens)
    if cache is not None:
        cache.put(slot, entry)
    return Loaded(list(entry.messages), item.version, log, turns, entry.tokens)


def _writes(scope: StateScope, key: str, loaded: Loaded, added: list[Message],
            head: list[Message] | None) -> tuple[list[KeyWrite], _Entry]:
    data = serde.unstructure(added, list[Message])
    if head is None and loaded.log is not None:  # the common case: one more turn
        record = {"format": FORMAT, "log": loaded.log, "turns": loaded.turns + 1}
        writes = [KeyWrite(scope, turn_key(key, loaded.turns), data),
                  KeyWrite(scope, key, record, expected_version=loaded.version)]
        return writes, _Entry(loaded.log, loaded.turns + 1, [*loaded.messages, *added],
                              loaded.tokens + estimate_tokens(added))
    base = loaded.messages if head is None else head  # trimmed, or the earlier layout
    log = new_id()
    record = {"format": FORMAT, "log": log, "turns": 1, "head": serde.unstructure(base, list[Message])}
    writes = [KeyWrite(scope, turn_key(key, 0), data), KeyWrite(scope, key, record, expected_version=loaded.version)]
    writes += [KeyWrite(scope, turn_key(key, i), delete=True) for i in range(1, loaded.turns)]
    return writes, _Entry(log, 1, [*base, *added], estimate_tokens(base) + estimate_tokens(added))


async def append(state: StateService, scope: StateScope, key: str, loaded: Loaded, added: list[Message], *,
                 head: list[Message] | None = None, cache: Cache | None = None) -> None:
    """Store the messages one turn ``added`` after the conversation ``loaded``.

    ``head``: the history was trimmed to ``head`` (a new log starts). When another turn of
    the session wrote first, its messages are read and ours appended after them.
    """
    slot = (scope.owner, key)
    for _ in range(APPEND_ATTEMPTS):
        writes, entry = _writes(scope, key, loaded, added, head)
        try:
            await state.write_many(writes)
        except ConflictError:
            loaded, head = await read(scope, key, cache), None  # theirs first, then ours
            continue
        if cache is not None:
            cache.put(slot, entry)
        return
    raise ConflictError(key, expected=loaded.version, current_version=None, current_value=None)
