"""The ``sqlite`` metadata index (the default): one SQLite file in WAL mode.

Records are JSON made by :mod:`llmspell.serde` (with their schema version); the columns
beside them exist only to filter and order queries. Every method is one transaction
(``BEGIN IMMEDIATE`` for writes), so several processes can share one index. The SQL is
plain enough to port to PostgreSQL for an index shared across hosts.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from llmspell import serde
from llmspell.errors import IntegrityError
from llmspell.plugins._values import check_schema_version
from llmspell.plugins.artifacts.api import ArtifactAcl, ArtifactId, ArtifactMeta, ArtifactPage
from llmspell.plugins.artifacts.backend import (
    ArtifactQuery,
    BlobRecord,
    StartAlias,
    decode_cursor,
    encode_cursor,
)

__all__ = ["SqliteArtifactIndex"]

SCHEMA = 2
"""2: the database may hold ``store_small_blobs``, the filesystem blob store's small blobs
(see ``_blobs_fs``); code that reads only version 1 would not find them, so it refuses."""
SMALL_BLOBS_DDL = (
    "CREATE TABLE IF NOT EXISTS store_small_blobs("
    "key TEXT PRIMARY KEY, data BLOB NOT NULL, modified REAL NOT NULL) WITHOUT ROWID"
)
_DDL = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS artifacts(
    scope TEXT NOT NULL, owner TEXT NOT NULL, name TEXT NOT NULL,
    last_version INTEGER NOT NULL, latest INTEGER, acl TEXT,
    PRIMARY KEY(scope, owner, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS versions(
    scope TEXT NOT NULL, owner TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL,
    blob TEXT NOT NULL, content_type TEXT NOT NULL, created_us INTEGER NOT NULL, record TEXT NOT NULL,
    PRIMARY KEY(scope, owner, name, version)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS versions_blob ON versions(blob);
CREATE INDEX IF NOT EXISTS versions_created ON versions(created_us);
CREATE TABLE IF NOT EXISTS tags(
    scope TEXT NOT NULL, owner TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL, tag TEXT NOT NULL,
    PRIMARY KEY(scope, owner, name, version, tag)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tags_tag ON tags(tag);
CREATE TABLE IF NOT EXISTS blobs(key TEXT PRIMARY KEY, key_id TEXT, record TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases(token TEXT PRIMARY KEY, blob TEXT NOT NULL, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS leases_blob ON leases(blob);
CREATE TABLE IF NOT EXISTS ended_sessions(session_id TEXT PRIMARY KEY, ended_us INTEGER NOT NULL);
""" + SMALL_BLOBS_DDL + ";\n"
_BATCH = 500


def _us(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000)



def _use_wal(db: sqlite3.Connection, timeout: float) -> None:
    """Switch to WAL; processes opening a new index at once may find it briefly locked.

    SQLite can answer the switch with "database is locked" without waiting on its busy
    timeout (another connection is switching at the same moment), so retry until
    ``timeout``; once one process has switched, the mode is persistent and read back.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)

class SqliteArtifactIndex(StartAlias):
    """Artifact metadata in SQLite (WAL mode, ``synchronous=NORMAL``)."""

    def __init__(self, path: str | Path, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._timeout = timeout
        self._db: sqlite3.Connection | None = None
        self._lock = threading.RLock()

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False)
            _use_wal(db, self._timeout)
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_DDL)
            row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                db.execute("INSERT OR IGNORE INTO meta VALUES('schema', ?)", (str(SCHEMA),))
            else:
                check_schema_version("artifact index", int(row[0]), SCHEMA)
                if int(row[0]) < SCHEMA:  # 1 -> 2 adds a table (created above); nothing to convert
                    db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(SCHEMA),))
        except sqlite3.DatabaseError as exc:
            raise IntegrityError(f"cannot open the artifact index at {self.path}: {exc}") from exc
        self._db = db

    async def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @contextmanager
    def _tx(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        if self._db is None:
            raise RuntimeError("the artifact index is not started")
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """For one SELECT: in autocommit mode a statement is its own read transaction, so
        it needs no BEGIN/COMMIT round trips (reads of several statements use :meth:`_tx`)."""
        if self._db is None:
            raise RuntimeError("the artifact index is not started")
        with self._lock:
            yield self._db

    # -- versions -----------------------------------------------------------------------

    small_blobs = False
    """True once the filesystem blob store keeps its small blobs in this database
    (:meth:`share_small_blobs`): :meth:`commit` then takes a small blob's bytes itself."""

    def share_small_blobs(self) -> None:
        self.small_blobs = True

    async def commit(
        self, meta: ArtifactMeta, *, acl: ArtifactAcl, blob: BlobRecord, lease: str | None = None,
        small: bytes | None = None,
    ) -> ArtifactMeta:
        """Assign the next version (see the protocol). ``small``: the bytes of ``blob``, to
        store as the filesystem store's row in the same transaction (only when
        :attr:`small_blobs`): the version and its blob are then committed together."""
        if small is not None and not self.small_blobs:
            raise ValueError("this index does not hold small blobs (share_small_blobs was not called)")
        id_ = meta.ref.id
        key = (id_.scope, id_.owner, id_.name)
        with self._tx(write=True) as db:
            row = db.execute(
                "SELECT last_version, latest, acl FROM artifacts WHERE scope=? AND owner=? AND name=?", key
            ).fetchone()
            version = 1 if row is None else row[0] + 1
            acl_json = row[2] if row is not None and row[1] is not None and row[2] else serde.dumps(attrs.evolve(acl, id=id_)).decode()
            stored = attrs.evolve(meta, ref=id_.at(version))
            db.execute(
                "INSERT INTO artifacts VALUES(?,?,?,?,?,?) ON CONFLICT(scope, owner, name) DO UPDATE SET "
                "last_version=excluded.last_version, latest=excluded.latest, acl=excluded.acl",
                (*key, version, version, acl_json),
            )
            db.execute(
                "INSERT INTO versions VALUES(?,?,?,?,?,?,?,?)",
                (*key, version, stored.blob, stored.content_type, _us(stored.created), serde.dumps(stored).decode()),
            )
            db.executemany("INSERT OR IGNORE INTO tags VALUES(?,?,?,?,?)", [(*key, version, t) for t in stored.tags])
            if small is None:
                db.execute("INSERT OR REPLACE INTO blobs VALUES(?,?,?)", (blob.key, blob.key_id, serde.dumps(blob).decode()))
            else:  # the bytes are the content of the key: (re)writing them also heals a damaged row
                db.execute("INSERT OR REPLACE INTO store_small_blobs VALUES(?,?,?)", (blob.key, small, time.time()))
                db.execute("INSERT OR IGNORE INTO blobs VALUES(?,?,?)", (blob.key, blob.key_id, serde.dumps(blob).decode()))
            if lease is not None:
                db.execute("DELETE FROM leases WHERE token=?", (lease,))
        return stored

    async def get(self, id: ArtifactId, version: int | None = None) -> ArtifactMeta | None:
        with self._read() as db:
            if version is None:
                row = db.execute(
                    "SELECT v.record FROM artifacts a JOIN versions v ON v.scope=a.scope AND v.owner=a.owner "
                    "AND v.name=a.name AND v.version=a.latest WHERE a.scope=? AND a.owner=? AND a.name=?",
                    (id.scope, id.owner, id.name),
                ).fetchone()
            else:
                row = db.execute(
                    "SELECT record FROM versions WHERE scope=? AND owner=? AND name=? AND version=?",
                    (id.scope, id.owner, id.name, version),
                ).fetchone()
        return None if row is None else serde.loads_as(row[0], ArtifactMeta)

    async def versions(self, id: ArtifactId) -> list[ArtifactMeta]:
        with self._read() as db:
            rows = db.execute(
                "SELECT record FROM versions WHERE scope=? AND owner=? AND name=? ORDER BY version",
                (id.scope, id.owner, id.name),
            ).fetchall()
        return [serde.loads_as(r[0], ArtifactMeta) for r in rows]

    async def query(self, query: ArtifactQuery) -> ArtifactPage:
        sql = ["SELECT v.record FROM versions v"]
        if query.latest_only:
            sql.append(
                "JOIN artifacts a ON a.scope=v.scope AND a.owner=v.owner AND a.name=v.name AND a.latest=v.version"
            )
        where: list[str] = []
        args: list[Any] = []
        if query.scope is not None:
            where.append("v.scope=?")
            args.append(query.scope)
        if query.owner is not None:
            where.append("v.owner=?")
            args.append(query.owner)
        if query.prefix:
            where.append("substr(v.name, 1, ?)=?")
            args += [len(query.prefix), query.prefix]
        if query.content_type is not None:
            if query.content_type.endswith("/*"):
                family = query.content_type[:-1]
                where.append("substr(v.content_type, 1, ?)=?")
                args += [len(family), family]
            else:
                where.append("v.content_type=?")
                args.append(query.content_type)
        if query.tag is not None:
            where.append(
                "EXISTS(SELECT 1 FROM tags t WHERE t.scope=v.scope AND t.owner=v.owner AND t.name=v.name "
                "AND t.version=v.version AND t.tag=?)"
            )
            args.append(query.tag)
        if query.created_before is not None:
            where.append("v.created_us<?")
            args.append(_us(query.created_before))
        if query.cursor:
            where.append("(v.scope, v.owner, v.name, v.version) > (?,?,?,?)")
            args += list(decode_cursor(query.cursor))
        if where:
            sql.append("WHERE " + " AND ".join(where))
        sql.append("ORDER BY v.scope, v.owner, v.name, v.version LIMIT ?")
        args.append(query.limit + 1)
        with self._read() as db:
            rows = db.execute(" ".join(sql), args).fetchall()
        items = [serde.loads_as(r[0], ArtifactMeta) for r in rows[: query.limit]]
        more = len(rows) > query.limit
        return ArtifactPage(tuple(items), encode_cursor(items[-1]) if more and items else None)

    async def delete(self, id: ArtifactId, versions: Sequence[int] | None = None) -> list[ArtifactMeta]:
        key = (id.scope, id.owner, id.name)
        with self._tx(write=True) as db:
            rows = db.execute(
                "SELECT version, record FROM versions WHERE scope=? AND owner=? AND name=? ORDER BY version", key
            ).fetchall()
            wanted = None if versions is None else set(versions)
            gone = [(v, r) for v, r in rows if wanted is None or v in wanted]
            for v, _ in gone:
                db.execute("DELETE FROM versions WHERE scope=? AND owner=? AND name=? AND version=?", (*key, v))
                db.execute("DELETE FROM tags WHERE scope=? AND owner=? AND name=? AND version=?", (*key, v))
            left = [v for v, _ in rows if wanted is not None and v not in wanted]
            if left:
                db.execute("UPDATE artifacts SET latest=? WHERE scope=? AND owner=? AND name=?", (max(left), *key))
            else:
                db.execute("UPDATE artifacts SET latest=NULL, acl=NULL WHERE scope=? AND owner=? AND name=?", key)
        return [serde.loads_as(r, ArtifactMeta) for _, r in gone]

    # -- grants -------------------------------------------------------------------------

    async def get_acl(self, id: ArtifactId) -> ArtifactAcl | None:
        with self._read() as db:
            row = db.execute(
                "SELECT acl FROM artifacts WHERE scope=? AND owner=? AND name=? AND latest IS NOT NULL",
                (id.scope, id.owner, id.name),
            ).fetchone()
        return None if row is None or row[0] is None else serde.loads_as(row[0], ArtifactAcl)

    async def put_acl(self, acl: ArtifactAcl) -> None:
        with self._tx(write=True) as db:
            db.execute(
                "UPDATE artifacts SET acl=? WHERE scope=? AND owner=? AND name=? AND latest IS NOT NULL",
                (serde.dumps(acl).decode(), acl.id.scope, acl.id.owner, acl.id.name),
            )

    # -- blobs and leases ---------------------------------------------------------------

    async def lease(self, blob_key: str, token: str, ttl: float) -> None:
        with self._tx(write=True) as db:
            db.execute("DELETE FROM leases WHERE expires<?", (time.time(),))
            db.execute("INSERT OR REPLACE INTO leases VALUES(?,?,?)", (token, blob_key, time.time() + ttl))

    async def release(self, token: str) -> None:
        with self._tx(write=True) as db:
            db.execute("DELETE FROM leases WHERE token=?", (token,))

    async def referenced(self, blob_keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        keys = list(blob_keys)
        now = time.time()
        with self._tx() as db:
            for start in range(0, len(keys), _BATCH):
                batch = keys[start : start + _BATCH]
                marks = ",".join("?" * len(batch))
                found.update(r[0] for r in db.execute(f"SELECT DISTINCT blob FROM versions WHERE blob IN ({marks})", batch))
                found.update(
                    r[0] for r in db.execute(f"SELECT blob FROM leases WHERE expires>? AND blob IN ({marks})", [now, *batch])
                )
        return found

    async def get_blob(self, key: str) -> BlobRecord | None:
        with self._read() as db:
            row = db.execute("SELECT record FROM blobs WHERE key=?", (key,)).fetchone()
        return None if row is None else serde.loads_as(row[0], BlobRecord)

    async def put_blob(self, record: BlobRecord) -> None:
        with self._tx(write=True) as db:
            db.execute("INSERT OR REPLACE INTO blobs VALUES(?,?,?)", (record.key, record.key_id, serde.dumps(record).decode()))

    async def list_blobs(self, *, after: str | None = None, limit: int = 100) -> list[BlobRecord]:
        with self._read() as db:
            rows = db.execute("SELECT record FROM blobs WHERE key>? ORDER BY key LIMIT ?", (after or "", limit)).fetchall()
        return [serde.loads_as(r[0], BlobRecord) for r in rows]

    async def drop_blobs(self, keys: Iterable[str]) -> None:
        with self._tx(write=True) as db:
            db.executemany("DELETE FROM blobs WHERE key=?", [(k,) for k in keys])

    # -- sessions -----------------------------------------------------------------------

    async def end_session(self, session_id: str, at: datetime) -> None:
        with self._tx(write=True) as db:
            db.execute("INSERT OR REPLACE INTO ended_sessions VALUES(?,?)", (session_id, _us(at)))

    async def ended_sessions(self, before: datetime) -> list[str]:
        with self._read() as db:
            rows = db.execute(
                "SELECT session_id FROM ended_sessions WHERE ended_us<? ORDER BY session_id", (_us(before),)
            ).fetchall()
        return [r[0] for r in rows]

    async def forget_session(self, session_id: str) -> None:
        with self._tx(write=True) as db:
            db.execute("DELETE FROM ended_sessions WHERE session_id=?", (session_id,))

    async def health(self) -> list[str]:
        try:
            with self._read() as db:
                db.execute("SELECT count(*) FROM artifacts").fetchone()
        except (sqlite3.Error, RuntimeError) as exc:
            return [f"artifact index {self.path}: {exc}"]
        return []
