"""Versioned schema migrations: the only way llmspell's PostgreSQL tables come to exist.

Every table lives in the configured schema (``[postgres] schema``). The schema carries
a ``llmspell_migrations`` table with one row per applied migration. :func:`migrate`
applies the missing ones in order, all in one transaction under an advisory lock, so
several processes starting at once apply each migration exactly once and a failed
migration leaves the schema at its previous level. A database at a level newer than
this code knows is refused instead of being misread. Never edit a released migration:
append a new one.

``llmspell postgres migrate`` runs the same function; ``llmspell postgres status`` and
``llmspell doctor`` report the level.
"""

from __future__ import annotations

from typing import Any

import attrs

from llmspell.errors import SchemaVersionError

__all__ = ["Migration", "MIGRATIONS", "LATEST", "migrate", "level", "quote_schema"]


@attrs.frozen
class Migration:
    """One step: ``sql`` with ``{s}`` standing for the quoted schema name."""

    version: int
    name: str
    sql: str


_INITIAL = r"""
CREATE TABLE {s}.state (
    key text COLLATE "C" PRIMARY KEY,
    version bigint NOT NULL,
    data bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE {s}.sessions (
    id text COLLATE "C" PRIMARY KEY,
    app text COLLATE "C" NOT NULL,
    user_id text COLLATE "C",
    status text COLLATE "C" NOT NULL,
    parent_id text COLLATE "C",
    tags text[] COLLATE "C" NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL,
    last_active_at timestamptz NOT NULL,
    expires_at timestamptz,
    version bigint NOT NULL,
    record bytea NOT NULL
);
CREATE INDEX sessions_created ON {s}.sessions (created_at DESC, id DESC);
CREATE INDEX sessions_user ON {s}.sessions (user_id, created_at DESC, id DESC);
CREATE INDEX sessions_app ON {s}.sessions (app, created_at DESC, id DESC);
CREATE INDEX sessions_status ON {s}.sessions (status, created_at DESC, id DESC);
CREATE INDEX sessions_parent ON {s}.sessions (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX sessions_active ON {s}.sessions (last_active_at);
CREATE INDEX sessions_expires ON {s}.sessions (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX sessions_tags ON {s}.sessions USING gin (tags);

CREATE TABLE {s}.events (
    stream text COLLATE "C" NOT NULL,
    seq bigint NOT NULL,
    id text COLLATE "C" NOT NULL UNIQUE,
    type text COLLATE "C" NOT NULL,
    time timestamptz NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (stream, seq)
);
CREATE INDEX events_time ON {s}.events (time, stream, seq);
CREATE INDEX events_type_time ON {s}.events (type, time);
CREATE TABLE {s}.event_streams (
    stream text COLLATE "C" PRIMARY KEY,
    last_seq bigint NOT NULL,
    last_time timestamptz
);
CREATE TABLE {s}.event_snapshots (
    stream text COLLATE "C" NOT NULL,
    name text COLLATE "C" NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (stream, name)
);
CREATE TABLE {s}.event_spill (
    id text PRIMARY KEY,
    data bytea NOT NULL,
    created timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX event_spill_created ON {s}.event_spill (created);
CREATE TABLE {s}.event_group_claims (
    grp text COLLATE "C" NOT NULL,
    event_id text COLLATE "C" NOT NULL,
    claimed timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (grp, event_id)
);
CREATE INDEX event_group_claims_claimed ON {s}.event_group_claims (claimed);

-- One round trip per append: skips stored ids, bumps each stream's counter (row lock,
-- streams in name order so concurrent batches cannot deadlock), checks the expected
-- last sequence, inserts the new rows. Returns one row per input (o_data set for the
-- ids that were already stored).
CREATE FUNCTION {s}.append_events(
    p_streams text[], p_ids text[], p_types text[], p_times timestamptz[], p_data bytea[], p_expected bigint
) RETURNS TABLE (o_ord bigint, o_stream text, o_seq bigint, o_data bytea)
LANGUAGE plpgsql AS $fn$
DECLARE
    v_dups text[];
    v_names text[] := '{}';
    v_bases bigint[] := '{}';
    v_stream text;
    v_count bigint;
    v_time timestamptz;
    v_last bigint;
BEGIN
    SELECT coalesce(array_agg(e.id), '{}') INTO v_dups FROM {s}.events e WHERE e.id = ANY(p_ids);
    FOR v_stream, v_count, v_time IN
        SELECT t.s, count(*), max(t.tm)
        FROM unnest(p_streams, p_ids, p_times) AS t(s, i, tm)
        WHERE NOT (t.i = ANY(v_dups))
        GROUP BY t.s ORDER BY t.s COLLATE "C"
    LOOP
        INSERT INTO {s}.event_streams AS es (stream, last_seq, last_time)
        VALUES (v_stream, v_count, v_time)
        ON CONFLICT (stream) DO UPDATE
            SET last_seq = es.last_seq + excluded.last_seq,
                last_time = greatest(es.last_time, excluded.last_time)
        RETURNING es.last_seq INTO v_last;
        IF p_expected IS NOT NULL AND v_last - v_count <> p_expected THEN
            RAISE EXCEPTION 'stream % is at seq %', v_stream, v_last - v_count
                USING ERRCODE = 'LS409', DETAIL = (v_last - v_count)::text;
        END IF;
        v_names := v_names || v_stream;
        v_bases := v_bases || (v_last - v_count);
    END LOOP;
    IF p_expected IS NOT NULL AND cardinality(v_names) = 0 THEN
        SELECT coalesce(max(es.last_seq), 0) INTO v_last FROM {s}.event_streams es WHERE es.stream = p_streams[1];
        IF v_last <> p_expected THEN
            RAISE EXCEPTION 'stream % is at seq %', p_streams[1], v_last
                USING ERRCODE = 'LS409', DETAIL = v_last::text;
        END IF;
    END IF;
    RETURN QUERY
    WITH inp AS (
        SELECT t.s, t.i, t.ty, t.tm, t.d, t.n
        FROM unnest(p_streams, p_ids, p_types, p_times, p_data) WITH ORDINALITY AS t(s, i, ty, tm, d, n)
        WHERE NOT (t.i = ANY(v_dups))
    ), numbered AS (
        SELECT inp.*, b.base + row_number() OVER (PARTITION BY inp.s ORDER BY inp.n) AS q
        FROM inp JOIN unnest(v_names, v_bases) AS b(s, base) ON b.s = inp.s
    ), ins AS (
        INSERT INTO {s}.events (stream, seq, id, type, time, data)
        SELECT numbered.s, numbered.q, numbered.i, numbered.ty, numbered.tm, numbered.d FROM numbered
        RETURNING 1
    )
    SELECT numbered.n, numbered.s, numbered.q, NULL::bytea FROM numbered
    UNION ALL
    SELECT t.n, e.stream::text, e.seq, e.data
    FROM unnest(p_ids) WITH ORDINALITY AS t(i, n) JOIN {s}.events e ON e.id = t.i
    WHERE t.i = ANY(v_dups);
END
$fn$;

CREATE TABLE {s}.artifacts (
    scope text COLLATE "C" NOT NULL,
    owner text COLLATE "C" NOT NULL,
    name text COLLATE "C" NOT NULL,
    last_version integer NOT NULL,
    latest integer,
    acl bytea,
    PRIMARY KEY (scope, owner, name)
);
CREATE TABLE {s}.artifact_versions (
    scope text COLLATE "C" NOT NULL,
    owner text COLLATE "C" NOT NULL,
    name text COLLATE "C" NOT NULL,
    version integer NOT NULL,
    blob text COLLATE "C" NOT NULL,
    content_type text COLLATE "C" NOT NULL,
    created timestamptz NOT NULL,
    tags text[] COLLATE "C" NOT NULL DEFAULT '{}',
    record bytea NOT NULL,
    PRIMARY KEY (scope, owner, name, version)
);
CREATE INDEX artifact_versions_blob ON {s}.artifact_versions (blob);
CREATE INDEX artifact_versions_created ON {s}.artifact_versions (created);
CREATE INDEX artifact_versions_tags ON {s}.artifact_versions USING gin (tags);
CREATE TABLE {s}.artifact_blobs (
    key text COLLATE "C" PRIMARY KEY,
    key_id text,
    record bytea NOT NULL
);
CREATE TABLE {s}.artifact_leases (
    token text COLLATE "C" PRIMARY KEY,
    blob text COLLATE "C" NOT NULL,
    expires timestamptz NOT NULL
);
CREATE INDEX artifact_leases_blob ON {s}.artifact_leases (blob);
CREATE TABLE {s}.artifact_ended_sessions (
    session_id text COLLATE "C" PRIMARY KEY,
    ended timestamptz NOT NULL
);
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "state, sessions, event log, artifact index", _INITIAL),
)
#: The level this code creates and understands.
LATEST = MIGRATIONS[-1].version


def quote_schema(schema: str) -> str:
    """The schema as a quoted identifier (the name is validated by the config)."""
    return '"' + schema.replace('"', '""') + '"'


async def level(conn: Any, schema: str) -> int | None:
    """The schema's migration level; None when the schema or its migrations table is missing."""
    cur = await conn.execute("SELECT to_regclass(%s)", (f"{quote_schema(schema)}.llmspell_migrations",))
    row = await cur.fetchone()
    if row is None or row[0] is None:
        return None
    cur = await conn.execute(f"SELECT coalesce(max(version), 0) FROM {quote_schema(schema)}.llmspell_migrations")
    found = await cur.fetchone()
    return int(found[0]) if found else 0


def check_level(schema: str, current: int | None) -> None:
    """Refuse a schema written by newer code."""
    if current is not None and current > LATEST:
        raise SchemaVersionError(
            f"PostgreSQL schema {schema!r} is at migration {current}, but this llmspell knows migrations "
            f"up to {LATEST}; upgrade llmspell on this host"
        )


async def migrate(conn: Any, schema: str, *, dry_run: bool = False) -> list[Migration]:
    """Apply the missing migrations in one transaction; returns those applied (or due, with ``dry_run``).

    ``conn`` is an autocommit psycopg connection.
    """
    s = quote_schema(schema)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"llmspell.migrate:{schema}",))
        current = await level(conn, schema)
        check_level(schema, current)
        due = [m for m in MIGRATIONS if m.version > (current or 0)]
        if dry_run or not due:
            return due
        if current is None:
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
            await conn.execute(
                f"CREATE TABLE {s}.llmspell_migrations (version integer PRIMARY KEY, name text NOT NULL, "
                "applied_at timestamptz NOT NULL DEFAULT now())"
            )
        for migration in due:
            await conn.execute(migration.sql.replace("{s}", s))
            await conn.execute(
                f"INSERT INTO {s}.llmspell_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
    return due
