"""Which agents ran in a session: recorded in the session's metadata, read back to resume.

The first time an agent runs in a session (per process), its type and config go to the
session's metadata under ``"llmspell:agents"`` (no event, no state key), so that
``llmspell chat --session ID`` and ``llmspell run NAME --session ID`` can rebuild an agent
that was made in code: :func:`resolve_agent` finds or rebuilds it, :func:`open_session`
opens (or resumes) the session it runs in.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from llmspell import serde
from llmspell.errors import NotFoundError, UnknownNameError
from llmspell.plugins.sessions.api import SessionService

if TYPE_CHECKING:
    from llmspell import Kernel

    from .api import BaseAgent

__all__ = ["METADATA_KEY", "record", "ran_in", "resolve_agent", "open_session"]

log = logging.getLogger("llmspell.agents")

METADATA_KEY = "llmspell:agents"


async def record(kernel: Kernel, agent: BaseAgent, session_id: str) -> None:
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


async def ran_in(kernel: Kernel, session_id: str) -> dict[str, dict[str, Any]]:
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


async def resolve_agent(
    kernel: Kernel, name: str | None, config: dict[str, Any] | None = None, session_id: str | None = None
) -> Any:
    """The agent ``name``: one defined in ``[agents] specs``, one that ran in the session
    (rebuilt from its recorded type and config), or a new agent of the type ``name``.

    Without a name, the agent that last ran in the session, else a ``chat`` agent.
    """
    agents = kernel.agents
    recorded = await ran_in(kernel, session_id) if session_id else {}
    if name is None:
        name = next(iter(recorded), "chat")
    defined = sorted(a.name for a in agents.list())
    if name in defined or name in recorded:
        if config:
            raise click.UsageError(f"{name!r} is a defined agent; --tool/--set apply to agent types only")
        if name in defined:
            return agents.get(name)
        entry = recorded[name]
        return agents.create(entry["type"], name=name, **entry.get("config", {}))
    types = sorted(str(r.name) for r in kernel.registry("agent_type"))
    if name in types or ":" in name:
        return agents.create(name, name=name.rpartition(":")[2].lower() if ":" in name else name, **(config or {}))
    # the known names: agent types, agents of [agents] specs, agents that ran in the session
    raise UnknownNameError("agent or agent type", name, {*types, *defined, *recorded})


async def open_session(kernel: Kernel, session_id: str | None, user: str | None, *, create: bool) -> str | None:
    """Resume ``session_id`` (or create a session) through the session service, if one is loaded."""
    sessions = kernel.services.find(SessionService)
    if sessions is None:
        return session_id
    if session_id is None:
        if not create:
            return None
        session = await sessions.create(user_id=user, app="llmspell-cli")
        return str(session.id)
    session = await sessions.get(session_id)
    if str(getattr(session, "status", "active")) in ("suspended", "interrupted"):
        await sessions.resume(session_id)
    return session_id
