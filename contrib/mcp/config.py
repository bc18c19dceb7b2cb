"""The ``[mcp]`` configuration section: the MCP servers whose tools agents can use.

Example ``llmspell.toml``::

    [mcp.servers.files]                # tools appear as files_read, files_write ...
    command = "python"
    args = ["-m", "my_mcp_server"]
    env = { ROOT = "/srv/data" }
    timeout = 30                       # seconds one tool call may take

    [mcp.servers.search]
    url = "http://127.0.0.1:8765/mcp"  # streamable HTTP
    prefix = ""                        # use the server's tool names as they are
    tools = ["web_search"]             # only these
"""

from __future__ import annotations

import attrs

__all__ = ["McpServerConfig", "McpConfig"]


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be a positive number of seconds, got {value!r}")


@attrs.frozen
class McpServerConfig:
    """One MCP server: a command to run (stdio) or a URL (streamable HTTP)."""

    command: str | None = None
    """Program that serves MCP on its stdin and stdout."""
    args: list[str] = attrs.Factory(list)
    env: dict[str, str] = attrs.Factory(dict)
    """Extra environment variables for the command."""
    cwd: str | None = None
    url: str | None = None
    """Streamable-HTTP endpoint, instead of ``command``."""
    timeout: float = attrs.field(default=30.0, validator=_positive)
    """Seconds one tool call may take before it fails with a clear error."""
    connect_timeout: float = attrs.field(default=30.0, validator=_positive)
    """Seconds to start (or reach) the server and list its tools."""
    prefix: str | None = None
    """Prefix of the llmspell tool names (default: ``<server name>_``)."""
    tools: list[str] = attrs.Factory(list)
    """Only these of the server's tools (default: all of them)."""
    required: bool = True
    """Fail kernel startup when the server cannot be reached (else: warn, skip its tools)."""

    def __attrs_post_init__(self) -> None:
        if (self.command is None) == (self.url is None):
            raise ValueError("an MCP server needs exactly one of command (stdio) or url (streamable HTTP)")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {self.url!r}")


@attrs.frozen
class McpConfig:
    """``[mcp]``: MCP servers by name."""

    servers: dict[str, McpServerConfig] = attrs.Factory(dict)
