"""PostgreSQL backends for llmspell (``pip install "llmspell[postgres]"``).

Registered as the ``postgres`` plugin. It adds the ``[postgres]`` config section and,
under the name ``postgres``:

* a state backend (``[state] backend = "postgres"``),
* a session backend (``[sessions] backend = "postgres"``),
* an event-log backend (``[events] backend = "postgres"``),
* an event transport over LISTEN/NOTIFY (``[events] transport = "postgres"``),
* an artifact metadata index (``[artifacts] metadata = "postgres"``),

plus the ``llmspell postgres migrate|status`` commands. All backends of one kernel share
one connection pool; every table lives in ``[postgres] schema`` and is created and
upgraded by versioned migrations (:mod:`.migrations`). psycopg is imported only when a
backend is created, so the plugin loads without the extra; selecting a backend without
it fails at startup with the ``pip install`` line to run. ``docs/backends/postgres.md``
is the guide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmspell import hookimpl
from llmspell.services import StashKey

from .config import PostgresConfig

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["PostgresConfig", "database", "DATABASE"]

#: The kernel's shared :class:`~._db.Database` (created by the first backend that needs it).
DATABASE: StashKey[Any] = StashKey("postgres.database")


def database(kernel: Kernel) -> Any:
    """The kernel's :class:`~._db.Database`; raises MissingExtraError without psycopg."""
    from ._db import Database

    db = kernel.stash.get(DATABASE, None)
    if db is None:
        db = Database(kernel.config.section("postgres"))
        kernel.stash[DATABASE] = db
    return db


def _codec(kernel: Kernel) -> Any:
    from llmspell.plugins.events.backend import EventCodec

    return EventCodec.for_kernel(kernel)


def _state(kernel: Kernel) -> Any:
    from .state import PostgresStateBackend

    return PostgresStateBackend(database(kernel))


def _sessions(kernel: Kernel) -> Any:
    from .sessions import PostgresSessionBackend

    return PostgresSessionBackend(database(kernel))


def _event_log(kernel: Kernel) -> Any:
    from .eventlog import PostgresEventLog

    return PostgresEventLog(database(kernel), _codec(kernel))


def _transport(kernel: Kernel) -> Any:
    from .transport import NotifyTransport

    config: PostgresConfig = kernel.config.section("postgres")
    return NotifyTransport(database(kernel), _codec(kernel), channel=config.channel,
                           reconnect_delay=config.reconnect_delay)


def _artifact_index(kernel: Kernel) -> Any:
    from .artifacts import PostgresArtifactIndex

    return PostgresArtifactIndex(database(kernel))


@hookimpl
def llmspell_register_config(register: Any) -> None:
    register("postgres", PostgresConfig, "PostgreSQL connection and schema for the postgres backends")


@hookimpl
def llmspell_register_state_backends(register: Any) -> None:
    register("postgres", _state, "PostgreSQL table, shared by every process and host (extra: postgres)")


@hookimpl
def llmspell_register_session_backends(register: Any) -> None:
    register("postgres", _sessions, "PostgreSQL table with indexed queries (extra: postgres)")


@hookimpl
def llmspell_register_event_backends(register: Any) -> None:
    register("postgres", _event_log, "PostgreSQL tables, gapless per-stream sequences (extra: postgres)")


@hookimpl
def llmspell_register_event_transports(register: Any) -> None:
    register("postgres", _transport, "PostgreSQL LISTEN/NOTIFY to every process (extra: postgres)")


@hookimpl
def llmspell_register_artifact_metadata_backends(register: Any) -> None:
    register("postgres", _artifact_index, "PostgreSQL tables shared across hosts (extra: postgres)")


@hookimpl
def llmspell_register_commands(cli: Any, kernel: Kernel) -> None:
    from .cli import register_commands

    register_commands(cli, database)
