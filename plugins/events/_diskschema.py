"""The tables of the ``diskcache`` event log, their schema version, and the migrations.

Version 2 (this one)::

    llmspell_events(stream, seq, id UNIQUE, type, time, data, by_id)  PRIMARY KEY (stream, seq)
        + a partial index on time over the events whose by_id is NULL (see _timeorder)
    llmspell_event_streams(stream PRIMARY KEY, last_seq, last_time)
    llmspell_event_snapshots(stream, name, data)  PRIMARY KEY (stream, name)
    llmspell_event_meta(key PRIMARY KEY, value)   -- 'schema_version'

Version 1 had no ``by_id`` column and a full index on ``time``. Opening a version 1 log
migrates it in one write transaction (so a crash leaves version 1 intact, and processes
opening it at once migrate it once): the column is added (NULL in every existing row,
so no row is rewritten), the partial index is built, which covers the existing events,
and the full index is dropped. A log of a newer version is refused.
"""

from __future__ import annotations

from typing import Any

from llmspell.plugins._values import check_schema_version

__all__ = ["SCHEMA_VERSION", "ensure_schema"]

SCHEMA_VERSION = 2

_TABLES = """
CREATE TABLE IF NOT EXISTS llmspell_events (
    stream TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL,
    time INTEGER NOT NULL, data BLOB NOT NULL, by_id INTEGER, PRIMARY KEY (stream, seq)) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS llmspell_events_id ON llmspell_events (id);
CREATE INDEX IF NOT EXISTS llmspell_events_time_x ON llmspell_events (time) WHERE by_id IS NULL;
CREATE TABLE IF NOT EXISTS llmspell_event_streams (
    stream TEXT PRIMARY KEY, last_seq INTEGER NOT NULL, last_time INTEGER) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS llmspell_event_snapshots (
    stream TEXT NOT NULL, name TEXT NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (stream, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS llmspell_event_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

#: Statements that bring a log from the key's version to the next one.
_MIGRATIONS = {
    1: """
ALTER TABLE llmspell_events ADD COLUMN by_id INTEGER;
CREATE INDEX llmspell_events_time_x ON llmspell_events (time) WHERE by_id IS NULL;
DROP INDEX llmspell_events_time;
""",
}


def _script(con: Any, script: str) -> None:
    for statement in script.split(";"):
        if statement.strip():
            con.execute(statement)


def ensure_schema(con: Any) -> int:
    """Create the tables or migrate them to :data:`SCHEMA_VERSION`; returns the version found.

    Call inside a write transaction (``BEGIN IMMEDIATE``) on ``con``.
    """
    found = con.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'llmspell_event_meta'"
    ).fetchone()
    if found is None:
        _script(con, _TABLES)
        con.execute("INSERT INTO llmspell_event_meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
        return SCHEMA_VERSION
    (stored,) = con.execute("SELECT value FROM llmspell_event_meta WHERE key = 'schema_version'").fetchone()
    check_schema_version("event log", stored, SCHEMA_VERSION)
    version = stored
    while version < SCHEMA_VERSION:
        _script(con, _MIGRATIONS[version])
        version += 1
    if version != stored:
        con.execute("UPDATE llmspell_event_meta SET value = ? WHERE key = 'schema_version'", (version,))
    return int(stored)
