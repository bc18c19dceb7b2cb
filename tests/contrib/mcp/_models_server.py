"""An MCP server whose tools take the argument types pydantic users write, served on stdio.

Built with the ``mcp`` package's ``MCPServer`` (the FastMCP of MCP SDK 1.x): nested,
optional, enum, union, list-of-model and recursive arguments, so their generated schemas
(``$defs``, ``$ref``, ``anyOf`` with ``null``, ``enum``, a self-referencing model, formats)
reach llmspell exactly as pydantic writes them.
"""

from __future__ import annotations

import enum
from datetime import datetime

from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel, Field

server = MCPServer("models")


class Priority(enum.StrEnum):
    low = "low"
    high = "high"


class Address(BaseModel):
    street: str
    city: str
    zip: str | None = Field(default=None, pattern=r"^\d{5}$")


class Person(BaseModel):
    name: str = Field(min_length=1)
    age: int = Field(ge=0, le=150)
    address: Address | None = None
    tags: set[str] = Field(default_factory=set)


class Comment(BaseModel):
    text: str
    replies: list[Comment] = Field(default_factory=list)


@server.tool()
def register(people: list[Person], priority: Priority = Priority.low, due: datetime | None = None) -> str:
    """Register people (a list of models with a nested optional model)."""
    return f"{len(people)} registered at {priority.value} priority" + (f", due {due.date()}" if due else "")


@server.tool()
def thread(root: Comment) -> int:
    """Count the comments of a thread (a recursive model)."""

    def count(c: Comment) -> int:
        return 1 + sum(count(r) for r in c.replies)

    return count(root)


@server.tool()
def pick(choice: int | str | list[int], limit: int = Field(default=3, gt=0, multiple_of=3)) -> str:
    """Echo a union-typed choice."""
    return f"{type(choice).__name__}:{choice}:{limit}"


if __name__ == "__main__":
    server.run("stdio")
