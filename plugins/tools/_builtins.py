"""Built-in tools. None of them touches the network ("http-free"): they compute, or read and
write llmspell's own services through the run's execution context.

* ``calculator``: arithmetic by walking the Python AST of the expression; only numbers,
  ``+ - * / // % **``, parentheses and a few math functions are accepted (no ``eval``,
  no names, no attributes, no calls to anything else; exponents and results are bounded).
* ``state_get`` / ``state_set``: a key of the run's session scope (or ``user``/``app``).
* ``artifact_read`` / ``artifact_write``: an artifact of the run's session (or user).

The state and artifact tools act as the run's principal, never as the system, and
reach only the run's own session and user (see :mod:`.reach`).
* ``notes``: search notes kept in the app state under ``notes/`` (a local knowledge base).
* ``clock``: the current UTC time; ``text_stats``: counts of characters, words and lines.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from llmspell.context import ExecutionContext
from llmspell.errors import ValidationError
from llmspell.plugins.artifacts.api import ArtifactService
from llmspell.plugins.state.api import StateService

from ._base import BaseTool
from ._reach import artifact_place, state_owner

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["Calculator", "StateGet", "StateSet", "ArtifactRead", "ArtifactWrite", "Notes", "Clock", "TextStats",
           "evaluate", "BUILTINS"]

_BIN: dict[type, Callable[[Any, Any], Any]] = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCS: dict[str, Callable[..., Any]] = {"sqrt": math.sqrt, "abs": abs, "round": round, "min": min, "max": max, "log": math.log,
          "log10": math.log10, "exp": math.exp, "sin": math.sin, "cos": math.cos, "tan": math.tan,
          "floor": math.floor, "ceil": math.ceil}
_CONSTS = {"pi": math.pi, "e": math.e, "tau": math.tau}
MAX_EXPONENT = 1000
MAX_MAGNITUDE = 10**100
MAX_LENGTH = 500


def evaluate(expression: str) -> int | float:
    """Evaluate an arithmetic expression safely; :class:`ValidationError` for anything else."""
    if len(expression) > MAX_LENGTH:
        raise ValidationError(f"expression longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(expression.replace("^", "**"), mode="eval")
    except SyntaxError:
        raise ValidationError(f"not an arithmetic expression: {expression!r}") from None

    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
                raise ValidationError(f"exponent {right} is larger than {MAX_EXPONENT}")
            try:
                value = _BIN[type(node.op)](left, right)
            except ZeroDivisionError:
                raise ValidationError("division by zero") from None
            if isinstance(value, complex) or abs(value) > MAX_MAGNITUDE:
                raise ValidationError("result out of range")
            return value
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](walk(node.operand))
        if isinstance(node, ast.Name) and node.id in _CONSTS:
            return _CONSTS[node.id]
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS
                and not node.keywords):
            try:
                return _FUNCS[node.func.id](*(walk(a) for a in node.args))
            except (ValueError, TypeError) as exc:
                raise ValidationError(f"{node.func.id}: {exc}") from None
        raise ValidationError(f"not allowed in an arithmetic expression: {ast.unparse(node)!r}")

    value = walk(tree)
    return int(value) if isinstance(value, float) and value.is_integer() and abs(value) < 2**53 else value


@attrs.define(eq=False, kw_only=True)
class Calculator(BaseTool):
    """Evaluate an arithmetic expression (+ - * / // % ** parentheses, sqrt, log, sin, pi ...)."""

    schema: ClassVar[dict[str, Any]] = {
        "type": "object", "properties": {"expression": {"type": "string", "minLength": 1, "maxLength": MAX_LENGTH}},
        "required": ["expression"], "additionalProperties": False,
    }

    async def invoke(self, arguments: dict[str, Any], ctx: ExecutionContext) -> Any:
        return evaluate(arguments["expression"])


_SCOPE_ARG = {"type": "string", "enum": ["session", "user", "app"], "description": "default: session"}


async def _scope(tool: BaseTool, ctx: ExecutionContext, scope: str | None, key: str, permission: str) -> Any:
    kind, owner = await state_owner(_kernel(tool), ctx, scope, key, permission)
    return ctx.service(StateService).scope(kind, owner)


def _kernel(tool: BaseTool) -> Kernel | None:
    """The kernel that receives audit records (None for a tool not bound to one)."""
    return getattr(tool.manager, "kernel", None)


@attrs.define(eq=False, kw_only=True)
class StateGet(BaseTool):
    """Read a value from durable state (the session's, by default)."""

    schema: ClassVar[dict[str, Any]] = {
        "type": "object", "properties": {"key": {"type": "string", "minLength": 1}, "scope": _SCOPE_ARG},
        "required": ["key"], "additionalProperties": False,
    }

    async def invoke(self, arguments: dict[str, Any], ctx: ExecutionContext) -> Any:
        return await (await _scope(self, ctx, arguments.get("scope"), arguments["key"], "read")).get(arguments["key"])


@attrs.define(eq=False, kw_only=True)
class StateSet(BaseTool):
    """Write a value to durable state (the session's, by default); returns its new version."""

    schema: ClassVar[dict[str, Any]] = {
        "type": "object", "properties": {"key": {"type": "string", "minLength": 1}, "value": {}, "scope": _SCOPE_ARG},
        "required": ["key", "value"], "additionalProperties": False,
    }

    async def invoke(self, arguments: dict[str, Any], ctx: ExecutionContext) -> Any:
        scope = await _scope(self, ctx, arguments.get("scope"), arguments["key"], "write")
        version = await scope.set(arguments["key"], arguments["value"])
        return {"key": arguments["key"], "version": version}


@attrs.define(eq=False, kw_only=True)
class ArtifactRead(BaseTool):
    """Read a text artifact of this session (latest version, or a given one)."""

    schema: ClassVar[dict[str, Any]] = {
        "type": "object", "properties": {"name": {"type": "string", "minLength": 1},
                                         "version": {"type": "integer", "minimum": 1}},
        "required": ["name"], "additionalProperties": False,
    }

    async def invoke(self, arguments: dict[str, Any], ctx: ExecutionContext) -> Any:
        place = await artifact_place(_kernel(self), ctx, arguments["name"], "read")
        version = arguments.get("version") or place.version
        data = await ctx.service(ArtifactService).load(place.name, version=version, **place.where(ctx))
        return data.decode("utf-8", errors="replace")


@attrs.define(eq=False, kw_only=True)
class ArtifactWrite(BaseTool):
    """Save text as a new version of an artifact of this session."""

    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {"name": {"type": "string", "minLength": 1}, "content": {"type": "string"},
                       "content_type": {"type": "string"}},
        "required": ["name", "content"], "additionalProperties": False,
    }

    async def invoke(self, arguments: dict[str, Any], ctx: ExecutionContext) -> Any:
        place = await artifact_place(_kernel(self), ctx, arguments["name"], "write")
        ref = await ctx.service(ArtifactService).save(
            place.name, arguments["content"].encode(), content_type=arguments.get("content_type", "text/plain"),
            **place.where(ctx),
        )
        return str(ref)


@attrs.define(eq=False, kw_only=True)
class Notes(BaseTool):
    """Search the local knowledge base: notes kept in the app state under keys ``notes/<title>``."""

    schema: ClassVar[dict[str, Any]] = {
        "type": "object", "properties": {"query": {"type": "string", "minLength": 1},
                                         "limit": {"type": "integer", "minimum": 1, "maximum": 50}},
        "required": ["query"], "additionalProperties": False,
    }

    async def invoke(self, arguments: dict[str, Any], ctx: ExecutionContext) -> Any:
        scope = ctx.service(StateService).scope("app")
        words = {w for w in re.findall(r"[a-z0-9]+", arguments["query"].lower()) if len(w) > 2}
        scored = []
        for key in await scope.list("notes/"):
            text = str(await scope.get(key))
            found = set(re.findall(r"[a-z0-9]+", f"{key} {text}".lower()))
            score = len(words & found)
            if score:
                scored.append((-score, key, text))
        scored.sort()
        return [{"title": key.removeprefix("notes/"), "text": text} for _, key, text in scored[: arguments.get("limit", 5)]]


@attrs.define(eq=False, kw_only=True)
class Clock(BaseTool):
    """The current date and time in UTC (ISO 8601)."""

    schema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}, "additionalProperties": False}

    async def invoke(self, arguments: dict[str, Any], ctx: ExecutionContext) -> Any:
        return datetime.now(UTC).isoformat()


@attrs.define(eq=False, kw_only=True)
class TextStats(BaseTool):
    """Count the characters, words and lines of a text."""

    schema: ClassVar[dict[str, Any]] = {
        "type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"],
        "additionalProperties": False,
    }

    async def invoke(self, arguments: dict[str, Any], ctx: ExecutionContext) -> Any:
        text = arguments["text"]
        return {"characters": len(text), "words": len(text.split()), "lines": len(text.splitlines())}


BUILTINS: dict[str, type[BaseTool]] = {
    "calculator": Calculator, "state_get": StateGet, "state_set": StateSet, "artifact_read": ArtifactRead,
    "artifact_write": ArtifactWrite, "notes": Notes, "clock": Clock, "text_stats": TextStats,
}
