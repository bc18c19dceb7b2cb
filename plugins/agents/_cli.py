"""Commands: ``llmspell agents types|list|describe``, ``llmspell run``, ``llmspell chat``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from llmspell import serde

from ._ran import open_session, resolve_agent
from ._schema import config_schema

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["register_commands", "resolve_agent", "open_session"]


def parse_settings(tools: tuple[str, ...], settings: tuple[str, ...]) -> dict[str, Any]:
    """``--tool NAME`` and ``--set key=value`` (value read as TOML, else as a string)."""
    import tomllib

    config: dict[str, Any] = {}
    for item in settings:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not key=value", param_hint="--set")
        try:
            config[key.strip()] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            config[key.strip()] = raw
    if tools:
        config["tools"] = [*config.get("tools", []), *tools]
    return config


def _output_dict(output: Any) -> dict[str, Any]:
    return {
        "agent": output.agent, "content": output.content, "data": serde.converter.unstructure(output.data),
        "transfer_to": output.transfer_to, "trail": list(output.trail), "saved": [str(r) for r in output.saved],
        "metadata": {k: str(v) for k, v in output.metadata.items()},
    }


def register_commands(cli: click.Group) -> None:
    from llmspell.plugins.cli.api import console, echo_json, pass_kernel, pass_reader, run

    @cli.group("agents")
    def agents_group() -> None:
        """Agent types and agents."""

    @agents_group.command("types")
    @click.option("--json", "as_json", is_flag=True)
    @pass_reader
    def types_cmd(kernel: Kernel, as_json: bool) -> None:
        """Registered agent types and the plugin that registered each."""
        rows = [{"type": str(r.name), "plugin": r.plugin, "description": r.description}
                for r in kernel.registry("agent_type")]
        if as_json:
            echo_json({"types": rows})
            return
        for row in rows:
            console.print(f"[bold]{row['type']:<11}[/bold] {row['description']}  [dim]({row['plugin']})[/dim]")

    @agents_group.command("list")
    @click.option("--capability", help="Only agents with this capability.")
    @click.option("--type", "type_name", help="Only agents of this type.")
    @click.option("--json", "as_json", is_flag=True)
    @pass_reader
    def list_cmd(kernel: Kernel, capability: str | None, type_name: str | None, as_json: bool) -> None:
        """Agents defined by the spec files of [agents] specs."""

        async def go() -> list[dict[str, Any]]:
            async with kernel:
                return list(kernel.agents.describe(kernel.agents.find(capability=capability, type=type_name)))

        rows = run(go())
        if as_json:
            echo_json({"agents": rows})
            return
        if not rows:
            console.print("no agents defined (add spec files to [agents] specs)")
        for row in rows:
            console.print(f"[bold]{row['name']}[/bold] ({row['type']}) {', '.join(row['capabilities'])}: {row['description']}")

    @agents_group.command("describe")
    @click.argument("type_name")
    @pass_reader
    def describe_cmd(kernel: Kernel, type_name: str) -> None:
        """An agent type's description and config schema (JSON Schema)."""

        async def go() -> Any:
            async with kernel:
                return kernel.agents.agent_class(type_name)

        cls = run(go())
        echo_json({"type": type_name, "class": f"{cls.__module__}:{cls.__qualname__}",
                   "description": (cls.__doc__ or "").strip(), "capabilities": list(cls.default_capabilities),
                   "config_schema": config_schema(cls.Config)})

    @cli.command("run")
    @click.argument("agent")
    @click.argument("text")
    @click.option("--session", "session_id", help="Run in this session (resumed if suspended).")
    @click.option("--new-session", is_flag=True, help="Start a session; its id is printed on stderr.")
    @click.option("--user", help="User id for the run.")
    @click.option("--tool", "tools", multiple=True, help="A tool for an agent created from a type (repeatable).")
    @click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="Config of an agent created from a type.")
    @click.option("--stream", is_flag=True, help="Print the answer as it is produced.")
    @click.option("--json", "as_json", is_flag=True)
    @pass_kernel
    def run_cmd(kernel: Kernel, agent: str, text: str, session_id: str | None, new_session: bool, user: str | None,
                tools: tuple[str, ...], settings: tuple[str, ...], stream: bool, as_json: bool) -> None:
        """Run AGENT (an agent type, a defined agent, or one that ran in --session) on TEXT."""
        config = parse_settings(tools, settings)

        async def go() -> Any:
            async with kernel:
                sid = await open_session(kernel, session_id, user, create=new_session)
                target = await resolve_agent(kernel, agent, config, session_id)
                if new_session and sid is None:
                    from llmspell.ids import new_id

                    sid = new_id()
                if new_session:
                    click.echo(f"session: {sid}", err=True)
                if not stream:
                    return await kernel.run(target, text, session_id=sid, user_id=user)
                output = None
                async for event in kernel.agents.stream(target, text, session_id=sid, user_id=user):
                    if event.kind == "delta":
                        sys.stdout.write(event.data)
                        sys.stdout.flush()
                    elif event.kind == "done":
                        output = event.data
                sys.stdout.write("\n")
                return output

        output = run(go())
        if as_json:
            echo_json(_output_dict(output))
        elif not stream:
            click.echo(output.content)
            for ref in output.saved:
                click.echo(f"saved artifact: {ref}")

    @cli.command("chat")
    @click.argument("agent", required=False)
    @click.option("--session", "session_id", help="Resume this session (with the agent that last ran in it).")
    @click.option("--user", help="User id for the conversation.")
    @pass_kernel
    def chat_cmd(kernel: Kernel, agent: str | None, session_id: str | None, user: str | None) -> None:
        """Talk to AGENT in a REPL; the conversation persists in a session.

        AGENT is an agent type, an agent of [agents] specs, or an agent that ran in the
        session (also one made in code); without it, the agent that last ran in the
        session, else a new chat agent.

        Commands: /session, /state, /events, /history, /help, /quit.
        """
        from ._repl import Repl

        run(Repl(kernel, agent, session_id, user).main())
