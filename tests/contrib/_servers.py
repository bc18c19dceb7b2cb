"""Private Redis and NATS servers on spare ports, for tests that stop and restart them."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest


def spare_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, up: bool = True, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            if up:
                return
        except OSError:
            if not up:
                return
        time.sleep(0.05)
    raise AssertionError(f"port {port} did not {'open' if up else 'close'} within {timeout}s")


class Server:
    """A server process that can be killed and started again on the same port and data."""

    def __init__(self, argv: list[str], port: int, log: Path) -> None:
        self.argv = argv
        self.port = port
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT)
        wait_port(self.port)

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


def redis_server(tmp_path: Path) -> Server:
    """redis-server with an append-only file synced on every write: acknowledged means on disk."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    port = spare_port()
    data = tmp_path / "redis-data"
    data.mkdir()
    argv = [exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data), "--appendonly", "yes",
            "--appendfsync", "always", "--save", ""]
    return Server(argv, port, tmp_path / "redis.log")


def nats_server(tmp_path: Path) -> Server:
    """nats-server with JetStream storing in its own directory."""
    exe = shutil.which("nats-server")
    if exe is None:
        pytest.fail("nats-server is not installed")
    port = spare_port()
    data = tmp_path / "nats-data"
    data.mkdir()
    argv = [exe, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(data)]
    return Server(argv, port, tmp_path / "nats.log")
