"""A real compiled LangGraph graph on the llmspell checkpointer, across two processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import langgraph  # noqa: F401 - in the dev extra: a missing one is an error, not a silent skip
import pytest

from llmspell import Kernel  # noqa: E402

WORKER = Path(__file__).parent / "_graph_worker.py"


def _run(mode: str, data_dir: Path, thread: str, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(WORKER), mode, str(data_dir), thread],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
async def test_interrupted_graph_resumes_in_a_second_process(tmp_path: Path, llmspell_env: dict[str, str]) -> None:
    data = tmp_path / "data"
    first = _run("start", data, "review-42", llmspell_env)
    assert first["interrupt"] == {"question": "approve?", "draft": "draft: hello"}
    assert first["next"] == ["review"]

    second = _run("resume", data, "review-42", llmspell_env)
    assert second["pid"] != first["pid"]
    assert second["waiting_for"] == ["review"]
    assert second["notes"] == ["drafted", "reviewed:yes", "published"]
    assert second["messages"] == [["HumanMessage", "hello"], ["AIMessage", "draft: hello"]]
    assert second["approved"] is True

    async with Kernel(data_dir=data, env=llmspell_env) as kernel:
        session = await kernel.sessions.get("review-42")
        assert session.app == "langgraph" and session.user_id == "u1"
        # the first process died holding the thread; the second recovered and resumed it
        recovered = await kernel.events.query("session.interrupted", stream="review-42")
        assert len(recovered) == 1
        logged = await kernel.events.query("langgraph.checkpoint", stream="review-42")
        assert len(logged) == second["checkpoints"]
        assert {e.payload["checkpoint_id"] for e in logged} == {
            k.rpartition("/")[2] for k in await session.state.list("langgraph/cp/")
        }
