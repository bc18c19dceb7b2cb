"""A ``llmspell worker --setup`` target: a grouped trigger that records each job's ``n``."""

from __future__ import annotations

import os
from typing import Any

from llmspell.plugins.events.api import Event


def setup(kernel: Any) -> None:
    path = os.environ["LLMSPELL_TEST_HANDLED"]

    def record(event: Event) -> None:
        with open(path, "a") as out:
            out.write(f"{event.payload['n']}\n")

    kernel.events.triggers.add("job.*", record, group="setup-jobs", name="record")
