"""ADK's real Runner on the llmspell services, compared with ADK's in-memory services."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from google.adk.artifacts import InMemoryArtifactService  # noqa: E402
from google.adk.sessions import InMemorySessionService  # noqa: E402

from llmspell import Kernel  # noqa: E402
from llmspell.contrib.adk import LlmspellArtifactService, LlmspellSessionService  # noqa: E402
from llmspell.contrib.adk.names import session_id  # noqa: E402

from . import scenario  # noqa: E402
from .scenario import APP, USER  # noqa: E402

FILES = ["note.txt", "user:profile.bin"]


@pytest.fixture(autouse=True)
def _quiet_adk() -> None:
    logging.getLogger("google_adk").setLevel(logging.ERROR)


def dump(events: list[Any]) -> list[dict[str, Any]]:
    return [e.model_dump(mode="json", exclude_none=True) for e in events]


async def observe(sessions: Any, artifacts: Any) -> dict[str, Any]:
    """Everything a caller of the two services can see after the scenario."""
    session = await sessions.get_session(app_name=APP, user_id=USER, session_id="s1")
    seen: dict[str, Any] = {
        "state": session.state,
        "events": dump(session.events),
        "last_update_time": session.last_update_time,
        "listed": [(s.id, s.user_id, s.state, s.events) for s in (await sessions.list_sessions(app_name=APP)).sessions],
        "listed_by_user": [s.id for s in (await sessions.list_sessions(app_name=APP, user_id=USER)).sessions],
        "other_user": (await sessions.list_sessions(app_name=APP, user_id="bob")).sessions,
        "user_state": await sessions.get_user_state(app_name=APP, user_id=USER),
        "keys": await artifacts.list_artifact_keys(app_name=APP, user_id=USER, session_id="s1"),
        "user_keys": await artifacts.list_artifact_keys(app_name=APP, user_id=USER),
    }
    for name in FILES:
        where = {"app_name": APP, "user_id": USER, "filename": name, "session_id": "s1"}
        versions = await artifacts.list_versions(**where)
        seen[name] = {
            "versions": versions,
            "parts": [await artifacts.load_artifact(**where, version=v) for v in [*versions, None, 7]],
            "meta": [
                (v.version, v.custom_metadata, v.mime_type) for v in await artifacts.list_artifact_versions(**where)
            ],
            "latest": (await artifacts.get_artifact_version(**where)).version,
        }
    return seen


@pytest.mark.usefixtures("fixed_platform")
async def test_runner_turns_match_the_in_memory_services(tmp_path: Any) -> None:
    memory_sessions, memory_artifacts = InMemorySessionService(), InMemoryArtifactService()
    expected_events = dump(await scenario.run(memory_sessions, memory_artifacts))
    expected = await observe(memory_sessions, memory_artifacts)

    scenario.deterministic()
    async with Kernel(data_dir=tmp_path / "data") as kernel:
        sessions, artifacts = LlmspellSessionService(kernel), LlmspellArtifactService(kernel)
        assert dump(await scenario.run(sessions, artifacts)) == expected_events
        got = await observe(sessions, artifacts)
        assert got == expected
        assert got["state"]["notes"] == ["buy milk", "call Bob"] and "temp:scratch" not in got["state"]

        # ... and all of it is llmspell data, under llmspell's services
        sid = session_id(APP, USER, "s1")
        record = await kernel.sessions.get(sid)
        assert (record.app, record.user_id, record.metadata["adk"]["session_id"]) == (APP, USER, "s1")
        logged = await kernel.events.query("adk.event", stream=sid)
        assert [e.payload["event"]["id"] for e in logged] == [e["id"] for e in expected["events"]]
        assert await kernel.state.scope("session", sid).get("notes") == ["buy milk", "call Bob"]
        assert await kernel.state.scope("user", USER).get("notes/visits") == 2
        assert await kernel.state.scope("app", APP).get("last_note") == "call Bob"
        page = await kernel.artifacts.list(session_id=sid)
        assert [(m.ref.name, m.ref.version) for m in page.items] == [("note.txt", 2)]
        assert await kernel.artifacts.load(page.items[0].ref) == b"call Bob"


async def test_get_session_config_matches_the_in_memory_service(tmp_path: Any) -> None:
    from google.adk.events import Event, EventActions

    stamps = [10.0, 20.0, 20.0, 30.0, 40.0]
    configs = [None, {"num_recent_events": 0}, {"num_recent_events": 1}, {"num_recent_events": 3},
               {"num_recent_events": 10}, {"after_timestamp": 20.0}, {"after_timestamp": 25.0},
               {"after_timestamp": 45.0}, {"after_timestamp": 5.0, "num_recent_events": 2},
               {"after_timestamp": 30.0, "num_recent_events": 4}]

    async def views(service: Any) -> list[Any]:
        session = await service.create_session(app_name=APP, user_id=USER, session_id="cfg")
        for i, stamp in enumerate(stamps):
            event = Event(id=f"e{i}", invocation_id="inv", author="user", timestamp=stamp,
                          actions=EventActions(state_delta={f"k{i}": i}))
            await service.append_event(session, event)
        from google.adk.sessions.base_session_service import GetSessionConfig

        out = []
        for config in configs:
            got = await service.get_session(app_name=APP, user_id=USER, session_id="cfg",
                                            config=None if config is None else GetSessionConfig(**config))
            out.append(([e.id for e in got.events], got.state, got.last_update_time))
        return out

    async with Kernel(data_dir=tmp_path / "data") as kernel:
        assert await views(LlmspellSessionService(kernel)) == await views(InMemorySessionService())
