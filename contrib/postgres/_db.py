"""One connection pool per kernel, shared by every PostgreSQL backend of that kernel.

:class:`Database` opens a psycopg ``AsyncConnectionPool`` (autocommit connections) when
the first backend starts and closes it when the last one stops. Every call goes through
:meth:`Database.connection`, which maps what can go wrong on the way to the server onto
llmspell's errors:

* no connection within ``acquire_timeout`` (server down, pool exhausted), a connection
  lost mid-call, or a call running past ``command_timeout``: :class:`BackendUnavailable`
  naming the server (never the password) and the setting involved;
* tables missing: a clear error saying to run the migrations.

A connection the server closed while it sat idle in the pool (after a server restart)
is noticed before use by a non-blocking look at its socket and replaced, so the first
call after a restart does not fail for that reason. A call that fails *during* a write
is reported, not retried: the write may or may not have been applied, and only the
caller can decide (a compare-and-set tells by the version).
"""

from __future__ import annotations

import asyncio
import contextlib
import select
from typing import Any

from llmspell.errors import BackendUnavailable, ConfigError, MissingExtraError

from .config import PostgresConfig
from .migrations import LATEST, check_level, level, migrate, quote_schema

__all__ = ["Database", "import_psycopg", "where"]


def import_psycopg() -> Any:
    """The psycopg module, or MissingExtraError naming the extra to install."""
    try:
        import psycopg
        import psycopg_pool  # noqa: F401
    except ImportError as exc:
        module = "psycopg-pool" if "pool" in str(exc) else "psycopg"
        raise MissingExtraError("the PostgreSQL backends", "postgres", module) from None
    return psycopg


def where(dsn: str) -> str:
    """``host:port/dbname`` of a connection string, without user or password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(dsn)
    except Exception:  # noqa: BLE001 - a malformed DSN is reported when connecting
        return "the configured server"
    host = parts.get("host") or "localhost"
    port = parts.get("port") or "5432"
    return f"{host}:{port}/{parts.get('dbname') or parts.get('user') or ''}"


def _alive(conn: Any) -> bool:
    """Whether an idle connection is usable: its socket has nothing to read (else the server closed it)."""
    if conn.closed or conn.broken:
        return False
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    return not readable


async def _idle_connection_alive(conn: Any) -> None:
    """Pool check on checkout (see :func:`_alive`); raising makes the pool replace the connection."""
    if not _alive(conn):
        raise BackendUnavailable("the server closed this idle connection")


class _Checkout:
    """One call's connection: taken from the kernel's idle list or the pool, given back after.

    The whole call (waiting for a connection and the work) has ``command_timeout +
    acquire_timeout``: past it the call is cancelled and :class:`BackendUnavailable` raised.
    (A timer handle rather than ``asyncio.timeout``: this runs on every call, and costs a
    third of it.) A cancellation from elsewhere stays a cancellation.
    """

    __slots__ = ("_cancelling", "_conn", "_db", "_expired", "_pool", "_task", "_timer")

    def __init__(self, db: Database) -> None:
        self._db = db
        self._task: asyncio.Task[Any]
        self._conn: Any = None
        self._expired = False

    def _expire(self) -> None:
        self._expired = True
        self._task.cancel()

    async def __aenter__(self) -> Any:
        db = self._db
        pool = self._pool = db._pool
        if pool is None:
            raise BackendUnavailable(f"the PostgreSQL pool for {db.where} is not open (kernel not started?)")
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a PostgreSQL call needs to run in an asyncio task")
        self._task, self._cancelling = task, task.cancelling()
        self._timer = loop.call_at(loop.time() + db.config.command_timeout + db.config.acquire_timeout, self._expire)
        try:
            self._conn = await db._take(pool)
        except BaseException as exc:
            self._timer.cancel()
            mapped = self._mapped(exc)
            if mapped is exc:
                raise
            raise mapped from None
        return self._conn

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        failed: BaseException | None = None
        try:
            if self._conn is not None:
                await self._db._give(self._pool, self._conn)
        except BaseException as error:
            failed = error
        finally:
            self._timer.cancel()
        problem = exc if exc is not None else failed
        if problem is None:
            if self._expired:  # the timer went off as the call ended: take its cancellation back
                self._expired = False
                self._task.uncancel()
            return
        mapped = self._mapped(problem)
        if mapped is not problem:
            raise mapped from None
        if exc is None:
            raise problem

    def _mapped(self, exc: BaseException) -> BaseException:
        """``exc`` as llmspell reports it (itself when it is not the server's or the timer's)."""
        db = self._db
        if self._expired:  # the timer's cancellation is taken back; the caller's, if any, stays
            self._expired = False
            if self._task.uncancel() <= self._cancelling and isinstance(exc, asyncio.CancelledError):
                db._recheck()
                return BackendUnavailable(
                    f"PostgreSQL at {db.where} did not answer within {db.config.command_timeout}s "
                    "([postgres] command_timeout)"
                )
        return db._unavailable(exc) or exc


class Database:
    """The pool, the schema name and error mapping for one kernel's PostgreSQL backends."""

    def __init__(self, config: PostgresConfig) -> None:
        import_psycopg()
        self.config = config
        self.schema = config.schema
        self.s = quote_schema(config.schema)
        """The quoted schema, to put in SQL text."""
        self.where = where(config.dsn)
        self._pool: Any = None
        self._users = 0
        self._lock = asyncio.Lock()
        self._checking: asyncio.Task[None] | None = None
        self._idle: list[Any] = []
        self._waiting = 0
        """Calls of this kernel waiting for a connection from the pool."""
        """Connections checked out of the pool and idle: reused without the pool's bookkeeping."""

    # -- lifecycle ---------------------------------------------------------------------

    async def acquire(self) -> None:
        """Open the pool (first user) and bring the schema to the current migration."""
        async with self._lock:
            if self._users == 0:
                await self._open()
            self._users += 1

    async def release(self) -> None:
        """Close the pool when the last user is done."""
        async with self._lock:
            if self._users == 0:
                return
            self._users -= 1
            if self._users == 0:
                await self.close_pool()

    async def _configure(self, conn: Any) -> None:
        ms = int(self.config.command_timeout * 1000)
        await conn.execute(f"SET statement_timeout = {ms}")

    async def _open(self) -> None:
        await self.open_pool()
        try:
            await self.ensure_schema()
        except BaseException:
            await self.close_pool()
            raise

    async def open_pool(self) -> None:
        """Open the connection pool only (the CLI's migrate and status use this)."""
        from psycopg_pool import AsyncConnectionPool

        config = self.config
        pool = AsyncConnectionPool(
            config.dsn,
            min_size=config.min_size,
            max_size=config.max_size,
            kwargs={"autocommit": True, "connect_timeout": max(1, round(config.connect_timeout))},
            configure=self._configure,
            check=_idle_connection_alive,
            timeout=config.acquire_timeout,
            reconnect_timeout=max(config.acquire_timeout, 60.0),
            name=f"llmspell-{self.schema}",
            open=False,
        )
        try:
            await pool.open(wait=True, timeout=config.connect_timeout)
        except Exception as exc:
            await pool.close(timeout=0)
            cause: BaseException = await _why_not(config) or exc
            raise BackendUnavailable(
                f"cannot connect to PostgreSQL at {self.where} within {config.connect_timeout}s "
                f"([postgres] dsn, connect_timeout): {_reason(cause)}"
            ) from None
        self._pool = pool

    async def close_pool(self) -> None:
        pool, self._pool = self._pool, None
        idle, self._idle = self._idle, []
        for conn in idle:
            await pool.putconn(conn)
        if self._checking is not None:
            self._checking.cancel()
            self._checking = None
        if pool is not None:
            await pool.close()

    async def ensure_schema(self) -> None:
        """Migrate (``auto_migrate``) or check that the schema is at the current level."""
        async with self.connection() as conn:
            if self.config.auto_migrate:
                await migrate(conn, self.schema)
                return
            current = await level(conn, self.schema)
        check_level(self.schema, current)
        if current != LATEST:
            raise ConfigError([
                f"postgres.schema: schema {self.schema!r} at {self.where} is at migration {current or 0} "
                f"of {LATEST}; run `llmspell postgres migrate` (or set [postgres] auto_migrate = true)"
            ])

    # -- calls -------------------------------------------------------------------------

    def connection(self) -> _Checkout:
        """``async with db.connection() as conn``: a pooled autocommit connection, with
        timeouts and errors mapped (see the module doc)."""
        return _Checkout(self)

    def _unavailable(self, exc: BaseException) -> Exception | None:
        """The llmspell error for what went wrong with a call, or None to let it through."""
        import psycopg

        if isinstance(exc, psycopg.errors.UndefinedTable):
            return ConfigError([
                f"postgres.schema: a table is missing in schema {self.schema!r} at {self.where} ({exc}); "
                "run `llmspell postgres migrate`"
            ])
        if isinstance(exc, psycopg.errors.QueryCanceled):
            return BackendUnavailable(
                f"PostgreSQL at {self.where} cancelled a call that ran past {self.config.command_timeout}s "
                "([postgres] command_timeout)"
            )
        if isinstance(exc, psycopg.OperationalError):
            self._recheck()
            return BackendUnavailable(f"PostgreSQL at {self.where} is unavailable: {_reason(exc)}")
        return None

    async def _take(self, pool: Any) -> Any:
        """A connection from this kernel's idle list (no pool round trip), else from the pool."""
        idle = self._idle
        while idle:
            conn = idle.pop()
            if _alive(conn):
                return conn
            await pool.putconn(conn)  # the pool discards it
        self._waiting += 1
        try:
            return await pool.getconn()
        finally:
            self._waiting -= 1

    async def _give(self, pool: Any, conn: Any) -> None:
        from psycopg.pq import TransactionStatus

        if (self._pool is pool and not self._waiting and not conn.closed
                and conn.info.transaction_status == TransactionStatus.IDLE):
            self._idle.append(conn)
        else:  # callers wait in the pool, or broken, mid-transaction, pool gone: the pool takes it
            await pool.putconn(conn)

    def _recheck(self) -> None:
        """Drop the pool's dead idle connections in the background after a failure."""
        pool = self._pool
        if pool is None or (self._checking is not None and not self._checking.done()):
            return
        with contextlib.suppress(RuntimeError):
            self._checking = asyncio.get_running_loop().create_task(_check(pool))

    async def health(self) -> list[str]:
        """Problems with the connection or the schema level, each saying what to do."""
        try:
            async with self.connection() as conn:
                current = await level(conn, self.schema)
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            return [f"PostgreSQL at {self.where}: {exc}"]
        if current is None:
            return [f"PostgreSQL schema {self.schema!r} at {self.where} has no tables; run `llmspell postgres migrate`"]
        if current < LATEST:
            return [
                f"PostgreSQL schema {self.schema!r} at {self.where} is at migration {current} of {LATEST}; "
                "run `llmspell postgres migrate`"
            ]
        if current > LATEST:
            return [
                f"PostgreSQL schema {self.schema!r} at {self.where} is at migration {current}, newer than this "
                f"llmspell ({LATEST}); upgrade llmspell"
            ]
        return []


async def _why_not(config: PostgresConfig) -> BaseException | None:
    """The error of one direct connection attempt (the pool only says that it timed out)."""
    import psycopg

    try:
        async with asyncio.timeout(config.connect_timeout):
            conn = await psycopg.AsyncConnection.connect(config.dsn, connect_timeout=max(1, round(config.connect_timeout)))
        await conn.close()
    except Exception as exc:  # noqa: BLE001 - returned, reported by the caller
        return exc
    return None


async def _check(pool: Any) -> None:
    with contextlib.suppress(Exception):
        await pool.check()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
