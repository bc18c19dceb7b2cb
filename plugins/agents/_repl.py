"""The ``llmspell chat`` REPL: streaming answers, line history, slash commands, resumable sessions."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmspell.plugins.agents.api import Message
from llmspell.plugins.events.api import EventService
from llmspell.plugins.state.api import StateService

from ._ran import open_session, resolve_agent
from ._templates import history as stored

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["Repl"]

HELP = """commands:
  /session   the session id and how to resume it
  /state     the session's state
  /events    the session's last events
  /history   the conversation so far
  /quit      leave (the conversation stays in the session)"""


def _setup_readline(path: Path) -> Any:
    try:
        import readline
    except ImportError:  # pragma: no cover - not on every platform
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        readline.read_history_file(path)
    except OSError:
        pass
    return readline


class Repl:
    def __init__(self, kernel: Kernel, agent: str | None, session_id: str | None, user: str | None) -> None:
        self.kernel = kernel
        self.agent_name = agent
        self.session_id = session_id
        self.user = user
        self.agent: Any = None

    def say(self, text: str = "") -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    async def history(self) -> list[Message]:
        state = self.kernel.services.find(StateService)
        if state is None or self.session_id is None:
            return []
        key = getattr(self.agent.config, "history_key", None) or f"chat/{self.agent.name}"
        return (await stored.read(state.scope("session", self.session_id), key)).messages

    async def command(self, line: str) -> bool:
        """Run a slash command; False means quit."""
        name = line.split()[0].lower()
        if name in ("/quit", "/exit", "/q"):
            return False
        if name == "/session":
            self.say(f"session {self.session_id}  (resume: llmspell chat {self.agent_name} --session {self.session_id})")
        elif name == "/state":
            state = self.kernel.services.find(StateService)
            if state is None or self.session_id is None:
                self.say("no state service or no session")
            else:
                scope = state.scope("session", self.session_id)
                for key in await scope.list():
                    self.say(f"{key} = {json.dumps(await scope.get(key), default=str)[:200]}")
        elif name == "/events":
            events = self.kernel.services.find(EventService)
            if events is None or self.session_id is None:
                self.say("no event service or no session")
            else:
                found = [e async for e in events.read(self.session_id, from_seq=1)]
                for event in found[-15:]:
                    self.say(f"#{event.seq} {event.type} {json.dumps(event.payload, default=str)[:120]}")
        elif name == "/history":
            for message in await self.history():
                self.say(f"{message.role}: {message.content}")
        else:
            self.say(HELP)
        return True

    async def turn(self, text: str) -> None:
        sys.stdout.write("assistant> ")
        async for event in self.kernel.agents.stream(self.agent, text, session_id=self.session_id, user_id=self.user):
            if event.kind == "delta":
                sys.stdout.write(event.data)
                sys.stdout.flush()
            elif event.kind == "handoff":
                sys.stdout.write(f"\n[handoff {event.agent} -> {event.data['to']}]\nassistant> ")
            elif event.kind == "done" and not event.data.content.strip() == "":
                pass
        self.say()

    async def main(self) -> None:
        readline = _setup_readline(self.kernel.data_dir / "chat" / "history")
        async with self.kernel:
            resuming = self.session_id is not None
            self.session_id = await open_session(self.kernel, self.session_id, self.user, create=True)
            self.agent = await resolve_agent(self.kernel, self.agent_name, None, self.session_id if resuming else None)
            self.agent_name = self.agent.name
            if self.session_id is None:
                from llmspell.ids import new_id

                self.session_id = new_id()
            self.say(f"llmspell chat with {self.agent.name} ({self.agent.type_name}); session {self.session_id}")
            if resuming:
                earlier = [m for m in await self.history() if m.role in ("user", "assistant")]
                self.say(f"resuming: {len(earlier)} earlier messages")
                for message in earlier:
                    self.say(f"  {message.role}: {message.content}")
            self.say("type /help for commands, /quit to leave")
            while True:
                try:
                    line = (await asyncio.to_thread(input, "you> ")).strip()
                except EOFError:
                    break
                if not line:
                    continue
                if line.startswith("/"):
                    if not await self.command(line):
                        break
                    continue
                try:
                    await self.turn(line)
                except Exception as exc:  # keep the REPL alive; show the error
                    self.say(f"\nerror: {exc}")
            if readline is not None:
                try:
                    readline.write_history_file(self.kernel.data_dir / "chat" / "history")
                except OSError:
                    pass
            self.say(f"bye; resume with: llmspell chat {self.agent_name} --session {self.session_id}")
