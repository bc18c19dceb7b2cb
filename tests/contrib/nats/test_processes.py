"""Many OS processes on one NATS server: counters on KV, one event stream, the bus, work sharing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.contrib import _scenarios as sc
from tests.contrib._services import NATS_URL


def config(tmp_path: Path, prefix: str, **tables: Any) -> dict[str, Any]:
    nats = {"servers": NATS_URL, "prefix": prefix, "ack_wait": 2.0, "group_batch": 16}
    out = sc.base_config(tmp_path, "nats", {"nats": nats})
    for name, values in tables.items():
        out[name] = {**out.get(name, {}), **values}
    return out


@pytest.mark.slow
def test_eight_processes_update_one_counter(tmp_path: Path, nats_prefix: str) -> None:
    sc.concurrent_updates(tmp_path, config(tmp_path, nats_prefix, state={"backend": "nats", "update_retries": 2000}))


@pytest.mark.slow
def test_four_processes_append_to_one_stream(tmp_path: Path, nats_prefix: str) -> None:
    sc.concurrent_appends(tmp_path, config(tmp_path, nats_prefix, events={"backend": "nats"}))


def test_a_subscriber_in_another_process_receives_events_in_order(tmp_path: Path, nats_prefix: str) -> None:
    sc.cross_process_delivery(tmp_path, config(tmp_path, nats_prefix, events={"transport": "nats"}))


@pytest.mark.slow
def test_three_workers_share_the_work_exactly_once(tmp_path: Path, nats_prefix: str) -> None:
    sc.work_sharing(tmp_path, config(tmp_path, nats_prefix, events={"transport": "nats"}))


@pytest.mark.slow
def test_a_killed_worker_loses_nothing(tmp_path: Path, nats_prefix: str) -> None:
    sc.work_sharing(tmp_path, config(tmp_path, nats_prefix, events={"transport": "nats"}), kill=True)
