"""Faults on a private NATS server: a crash and restart mid-write, a server that is down."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmspell import Kernel
from llmspell.errors import BackendUnavailable, PluginError
from tests.contrib._faults import write_through_restart
from tests.contrib._servers import nats_server, spare_port


def _config(tmp_path: Path, port: int) -> dict:
    return {
        "data_dir": str(tmp_path / "data"),
        "state": {"backend": "nats"}, "sessions": {"backend": "memory"},
        "events": {"backend": "nats"},
        "nats": {"servers": f"nats://127.0.0.1:{port}", "timeout": 1.0, "connect_timeout": 1.0},
    }


@pytest.mark.slow
async def test_acknowledged_writes_survive_a_crash_and_the_kernel_recovers(tmp_path: Path) -> None:
    server = nats_server(tmp_path)
    server.start()
    try:
        await write_through_restart(server, _config(tmp_path, server.port), state=True, events=True, timeout=1.0)
    finally:
        server.kill()


async def test_a_server_that_is_down_fails_the_start_fast_saying_what_to_check(tmp_path: Path) -> None:
    port = spare_port()  # nothing listens there
    kernel = Kernel(_config(tmp_path, port))
    with pytest.raises(PluginError) as info:
        await kernel.start()  # at once: a hang would be stopped by the test timeout and fail
    assert isinstance(info.value.__cause__, BackendUnavailable)
    message = str(info.value)
    assert f"nats://127.0.0.1:{port}" in message and "check that the server runs" in message
