"""Which agents ran in a session: recorded in the session's metadata, read back to resume.

The first time an agent runs in a session (per process), its type and config go to the
session's metadata under ``"llmspell:agents"`` (no event, no state key), so that
``llmspell chat --session ID`` and ``llmspell run NAME --session ID`` can rebuild an agent
that was made in code.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from llmspell import serde
from llmspell.errors import NotFoundError
from llmspell.plugins.sessions.api import SessionService

__all__ = ["METADATA_KEY", "record", "ran_in"]

log = logging.getLogger("llmspell.agents")

METADATA_KEY = "llmspell:agents"


async def record(kernel: Any, agent: Any, session_id: str) -> None:
    """Remember that ``agent`` ran in ``session_id`` (its type, config and when)."""
    sessions = kernel.services.find(SessionService)
    if sessions is None:
        return
    entry: dict[str, Any] = {"type": agent.type_name, "ran_at": datetime.now(UTC).isoformat()}
    try:
        config = serde.converter.unstructure(agent.config)
        serde.check_json(config, "$.config")
        entry["config"] = config
    except Exception:  # noqa: BLE001 - a config that is not JSON is left out, the type still helps
        log.debug("the config of agent %s is not JSON; recorded without it", agent.name)

    def add(session: Any) -> Any:
        metadata = dict(session.metadata)
        ran = dict(metadata.get(METADATA_KEY) or {})
        ran[agent.name] = entry
        metadata[METADATA_KEY] = ran
        return session.replace(metadata=metadata)

    try:
        await sessions.update(session_id, add)
    except NotFoundError:  # a bare session id (no session record): nothing to remember it in
        return
    except Exception:  # a failing record never fails the run
        log.exception("could not record agent %s in session %s", agent.name, session_id)


async def ran_in(kernel: Any, session_id: str) -> dict[str, dict[str, Any]]:
    """The agents recorded in ``session_id``, most recent first: name -> record."""
    sessions = kernel.services.find(SessionService)
    if sessions is None:
        return {}
    try:
        session = await sessions.get(session_id)
    except NotFoundError:
        return {}
    ran = session.metadata.get(METADATA_KEY)
    found = {k: v for k, v in (ran or {}).items() if isinstance(v, dict) and isinstance(v.get("type"), str)}
    return dict(sorted(found.items(), key=lambda kv: str(kv[1].get("ran_at", "")), reverse=True))
