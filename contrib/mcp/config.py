"""The ``[mcp]`` configuration section: the MCP servers whose tools agents can use.

Example ``llmspell.toml``::

    [mcp.servers.files]                # tools appear as files_read, files_write ...
    command = "python"
    args = ["-m", "my_mcp_server"]
    env = { ROOT = "/srv/data" }
    timeout = 30                       # seconds one tool call may take

    [mcp.servers.search]
    url = "http://127.0.0.1:8765/mcp"  # streamable HTTP
    token_env = "SEARCH_MCP_TOKEN"     # sent as Authorization: Bearer <token>
    prefix = ""                        # use the server's tool names as they are
    tools = ["web_search"]             # only these

    [mcp.serve]                        # llmspell mcp serve
    principal = "user:alice"           # the served tools act as alice (default: anonymous)
    # token: set LLMSPELL_MCP_SERVE__TOKEN (default: a new one per start, printed on stderr)
"""

from __future__ import annotations

import os

import attrs

from llmspell.context import Principal
from llmspell.errors import ConfigError

__all__ = ["McpServerConfig", "McpServeConfig", "McpConfig", "token_from"]

MIN_TOKEN = 16


def token_from(token: str | None, token_env: str | None, what: str, *, required: bool) -> str | None:
    """The token given directly, else the one in the environment variable ``token_env``.

    ``required``: an unset variable is a :class:`ConfigError` naming it (else: None).
    """
    if token:
        return token
    value = os.environ.get(token_env, "") if token_env else ""
    if value and len(value) < MIN_TOKEN:
        raise ConfigError([f"{what}: the token in {token_env} must be at least {MIN_TOKEN} characters long"])
    if not value and required and token_env:
        raise ConfigError([f"{what}: the environment variable {token_env} (token_env) is not set"])
    return value or None


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
    token: str | None = attrs.field(default=None, repr=False)
    """Bearer token sent to the ``url`` server (``Authorization: Bearer``)."""
    token_env: str | None = None
    """Name of an environment variable holding that token (keeps it out of the file)."""
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


def _principal(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    Principal.parse(value)  # a ValidationError (system:..., malformed) names the problem


def _token(instance: object, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None and len(value) < MIN_TOKEN:
        raise ValueError(f"token must be at least {MIN_TOKEN} characters long")


@attrs.frozen
class McpServeConfig:
    """``[mcp.serve]``: how ``llmspell mcp serve`` offers llmspell's agents and tools."""

    principal: str = attrs.field(default="anonymous", validator=_principal)
    """Who the served tools act as: ``anonymous`` (owns nothing), ``user:<id>``, ``app:<name>``
    or ``agent:<name>``; never the system."""
    token: str | None = attrs.field(default=None, repr=False, validator=_token)
    """``--http``: the bearer token every request must carry (default: a new random one
    per start, printed on stderr); best set through ``LLMSPELL_MCP_SERVE__TOKEN``.
    Required, with ``--allow-remote``, to listen beyond loopback."""


@attrs.frozen
class McpConfig:
    """``[mcp]``: MCP servers by name, and the settings of ``llmspell mcp serve``."""

    servers: dict[str, McpServerConfig] = attrs.Factory(dict)
    serve: McpServeConfig = attrs.Factory(McpServeConfig)
