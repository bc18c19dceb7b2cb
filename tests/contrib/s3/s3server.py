"""A local S3-protocol server for the tests: moto's standalone server in its own process.

The tests speak real HTTP to it through the real client; nothing is patched.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

BUCKET = "llmspell-test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """``python -m moto.server`` on a free loopback port, stopped on exit."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(self.url + "/moto-api/", timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("the moto S3 server did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[MotoServer]:
    try:
        import moto.server  # noqa: F401
    except ImportError:
        pytest.fail("moto[server] is a dev dependency: pip install -e '.[dev]'")
    server = MotoServer()
    yield server
    server.stop()


def s3_config(server: MotoServer, prefix: str | None = None, **extra: Any) -> dict[str, Any]:
    """The ``[s3]`` section for the test server, with a fresh key prefix."""
    return {
        "s3": {
            "endpoint_url": server.url, "bucket": BUCKET, "region": "us-east-1",
            "prefix": prefix if prefix is not None else f"t-{uuid.uuid4().hex}/",
            "access_key_id": "test", "secret_access_key": "test", "addressing_style": "path",
            "create_bucket": True, **extra,
        }
    }
