"""The ``offline`` model provider: deterministic, no network, no keys.

It answers from, in order:

1. **the script**: responses queued with :meth:`OfflineProvider.script` (text,
   :class:`~llmspell.plugins.agents.api.ToolCall`, or a whole :class:`~llmspell.plugins.agents.api.ModelResponse`),
   consumed one per call, so a test can play any conversation;
2. **tool rules**: an answer from the tool results just returned, or a tool call when the
   user's words fit one of the offered tools (arithmetic -> ``calculator``, "transfer to
   X" -> ``transfer_to_X``, "remember"/"recall" -> ``state_set``/``state_get``,
   "search"/"find" -> a search tool);
3. **configured replies**: ``[agents] replies = {"regex" = "answer"}`` matched against the
   last user message (``{0}``, ``{1}`` ... are the regex groups);
4. **other rules**: planning, summaries, code, and a small conversation memory ("my name
   is ...") that make the templates and demos behave sensibly;
5. a fixed acknowledgement of the user's words.

The same request always gets the same answer. Streaming yields the answer word by word.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

from llmspell.context import ExecutionContext
from llmspell.plugins.agents.api import Message, ModelResponse, ToolCall, Usage
from llmspell.plugins.agents.backend import ModelChunk, ModelRequest

__all__ = ["OfflineProvider", "Rule"]

Rule = Callable[[ModelRequest], ModelResponse | None]
_ARITH = re.compile(r"(-?\d+(?:\.\d+)?(?:\s*(?:\*\*|[-+*/%^])\s*\(?-?\d+(?:\.\d+)?\)?)+)")


def _reply(text: str = "", calls: Iterable[ToolCall] = (), request: ModelRequest | None = None) -> ModelResponse:
    calls = tuple(calls)
    prompt = sum(len(m.content.split()) for m in request.messages) if request else 0
    return ModelResponse(
        Message.assistant(text, calls), finish_reason="tool_calls" if calls else "stop",
        usage=Usage(prompt, len(text.split())), model="offline",
    )


def _last_user(request: ModelRequest) -> str:
    for message in reversed(request.messages):
        if message.role == "user":
            return message.content
    return ""


def _system(request: ModelRequest) -> str:
    """The instruction: the first message when it is a system message (later system
    messages, such as conversation summaries, are context, not instructions)."""
    first = request.messages[0] if request.messages else None
    return first.content.lower() if first is not None and first.role == "system" else ""


def _tools(request: ModelRequest) -> set[str]:
    return {t.name for t in request.tools}


# -- rules ----------------------------------------------------------------------------------------


def _readable(content: str) -> str:
    """A tool result for a person: search hits (objects with ``text``) as their texts."""
    try:
        value = json.loads(content)
    except ValueError:
        return content
    if isinstance(value, list) and value and all(isinstance(v, dict) and "text" in v for v in value):
        return " ".join(str(v["text"]) for v in value)
    if isinstance(value, list) and not value:
        return "nothing"
    return content


def after_tools(request: ModelRequest) -> ModelResponse | None:
    """After tool results: answer with them."""
    if not request.messages or request.messages[-1].role != "tool":
        return None
    results = []
    for message in reversed(request.messages):
        if message.role != "tool":
            break
        results.append(f"{message.name} returned {_readable(message.content)}")
    return _reply("; ".join(reversed(results)).rstrip(".") + ".", request=request)


def tool_calls(request: ModelRequest) -> ModelResponse | None:
    """Pick a tool from the user's words when one fits."""
    text = _last_user(request)
    tools = _tools(request)
    lowered = text.lower()
    for name in sorted(tools):
        if name.startswith("transfer_to_"):
            target = name.removeprefix("transfer_to_")
            if re.search(rf"\b(transfer|hand ?off|route|send)\b.*\b{re.escape(target.lower())}\b", lowered):
                return _reply(calls=[ToolCall(name, {"reason": text})], request=request)
    if "calculator" in tools:
        match = _ARITH.search(text)
        if match:
            return _reply(calls=[ToolCall("calculator", {"expression": match.group(1).replace("^", "**")})], request=request)
    match = re.search(r"\bremember (?:that )?(?:my )?([\w ]+?) is (.+?)[.!]?$", text, re.I)
    if match and "state_set" in tools:
        key = match.group(1).strip().replace(" ", "_").lower()
        return _reply(calls=[ToolCall("state_set", {"key": key, "value": match.group(2)})], request=request)
    match = re.search(r"\b(?:recall|what is) (?:my )?([\w ]+?)\??$", text, re.I)
    if match and "state_get" in tools:
        return _reply(calls=[ToolCall("state_get", {"key": match.group(1).strip().replace(" ", "_").lower()})],
                      request=request)
    searchers = sorted(t for t in tools if "search" in t or "lookup" in t or t == "notes")
    if searchers and re.search(r"\b(search|look up|find|research)\b", lowered):
        return _reply(calls=[ToolCall(searchers[0], {"query": text})], request=request)
    return None


def plan(request: ModelRequest) -> ModelResponse | None:
    if "plan" not in _system(request):
        return None
    topic = _last_user(request).strip().rstrip("?.!")
    steps = [f"What is {topic}?", f"Why does {topic} matter?", f"What are open questions about {topic}?"]
    return _reply("\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1)), request=request)


def summary(request: ModelRequest) -> ModelResponse | None:
    system = _system(request)
    if "summar" not in system and "synthes" not in system:
        return None
    sentences = []
    for message in request.messages[1:]:
        for line in message.content.splitlines():
            line = re.sub(r"^\s*-\s*[^:]*\?:\s*", "", line).strip()  # "- question?: answer" -> answer
            if not line or line.endswith(":") or re.match(r"^(topic|findings):", line, re.I):
                continue
            line = re.sub(r"^\w+ returned ", "", line)
            sentences += [p.strip() for p in re.split(r"(?<=[.!?])\s+", line) if len(p.strip()) > 3]
    text = " ".join(dict.fromkeys(s.rstrip(";") for s in sentences))
    return _reply(text[:1200] or "Nothing to summarise.", request=request)


def code(request: ModelRequest) -> ModelResponse | None:
    if "python" not in _system(request):
        return None
    task = _last_user(request).strip().splitlines()[0][:200]
    words = re.findall(r"[a-z]+", task.lower())
    name = "_".join(w for w in words if w not in {"a", "an", "the", "write", "function", "that", "to"})[:40] or "solve"
    body = (
        f'"""{task}"""\n\n\n'
        f"def {name}(text: str) -> str:\n"
        f'    """Return ``text`` with surrounding whitespace removed and words title-cased."""\n'
        f"    return \" \".join(word.capitalize() for word in text.split())\n\n\n"
        f"def test_{name}() -> None:\n"
        f"    assert {name}(\"  hello   world \") == \"Hello World\"\n"
    )
    return _reply(f"```python\n{body}```", request=request)


def memory(request: ModelRequest) -> ModelResponse | None:
    text = _last_user(request)
    said = " ".join(m.content for m in request.messages if m.role in ("user", "system"))
    match = re.search(r"\bmy name is (\w+)", text, re.I)
    if match:
        return _reply(f"Nice to meet you, {match.group(1)}.", request=request)
    if re.search(r"\bwhat(?:'s| is) my name\b", text, re.I):
        found = re.findall(r"\bmy name is (\w+)", said, re.I)
        answer = f"Your name is {found[-1]}." if found else "You have not told me your name."
        return _reply(answer, request=request)
    if re.search(r"\bwhat did (?:i|we) (?:say|talk about)\b", text, re.I):
        earlier = [m.content for m in request.messages if m.role == "user"][:-1]
        return _reply("Earlier you said: " + " | ".join(earlier[-5:]) if earlier else "This is our first exchange.",
                      request=request)
    return None


def acknowledge(request: ModelRequest) -> ModelResponse:
    text = _last_user(request).strip()
    turns = sum(1 for m in request.messages if m.role == "user")
    return _reply(f"(offline model, turn {turns}) You said: {text}", request=request)


DEFAULT_RULES: tuple[Rule, ...] = (after_tools, tool_calls, plan, summary, code, memory)


class OfflineProvider:
    """A deterministic model provider for tests and demos (see the module docstring)."""

    name = "offline"

    def __init__(self, replies: Mapping[str, str] | None = None, rules: Iterable[Rule] = DEFAULT_RULES) -> None:
        self._script: deque[Any] = deque()
        self._replies = [(re.compile(p, re.I), r) for p, r in (replies or {}).items()]
        self.rules = list(rules)
        self.requests: list[ModelRequest] = []
        self._replies_at = 2 if self.rules[:2] == [after_tools, tool_calls] else 0

    def script(self, *items: str | ToolCall | list[ToolCall] | ModelResponse) -> OfflineProvider:
        """Queue answers used before any rule, one per call, in order."""
        self._script.extend(items)
        return self

    def add_rule(self, rule: Rule, *, first: bool = True) -> None:
        self.rules.insert(0, rule) if first else self.rules.append(rule)

    def answer(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        if self._script:
            item = self._script.popleft()
            if isinstance(item, ModelResponse):
                return item
            if isinstance(item, ToolCall):
                return _reply(calls=[item], request=request)
            if isinstance(item, list):
                return _reply(calls=item, request=request)
            return _reply(str(item), request=request)
        text = _last_user(request)
        for i, rule in enumerate(self.rules):
            if i == self._replies_at:
                for pattern, reply in self._replies:
                    match = pattern.search(text)
                    if match:
                        return _reply(reply.format(*match.groups()), request=request)
            response = rule(request)
            if response is not None:
                return response
        return acknowledge(request)

    async def complete(self, request: ModelRequest, ctx: ExecutionContext) -> ModelResponse:
        return self.answer(request)

    async def stream(self, request: ModelRequest, ctx: ExecutionContext) -> AsyncIterator[ModelChunk]:
        response = self.answer(request)
        words = response.content.split(" ")
        for i, word in enumerate(words):
            yield ModelChunk(delta=word if i == len(words) - 1 else word + " ")
        yield ModelChunk(response=response)
