"""Factory, builder, spec files, registry and discovery, dependency injection."""

from __future__ import annotations

import json
import subprocess
import textwrap

import attrs
import pytest

from llmspell.errors import (
    ConfigError,
    DuplicateNameError,
    MissingExtraError,
    UnknownNameError,
    ValidationError,
)
from llmspell.hooks import HookCall
from llmspell.plugins.agents import BaseAgent, OfflineProvider, inject
from llmspell.plugins.agents._schema import config_schema
from llmspell.plugins.agents.api import AgentOutput
from llmspell.plugins.tools import tool

from .agent_helpers import Echo


def test_config_errors_name_path_value_and_allowed(kernel):
    with pytest.raises(ConfigError) as info:
        kernel.agents.create("chat", name="c", max_history_tokens="lots", trim_strategy="forget", colour="red")
    text = str(info.value)
    assert "agent 'c' of type 'chat'" in text
    assert "unknown key(s) colour (allowed:" in text and "max_history_tokens" in text
    with pytest.raises(ConfigError) as info:
        kernel.agents.create("chat", name="c", max_history_tokens="lots")
    assert "max_history_tokens: expected an integer, got str 'lots'" in str(info.value)
    with pytest.raises(ConfigError, match="trim_strategy 'forget' is not one of \\['drop', 'summarise'\\]"):
        kernel.agents.create("chat", name="c", trim_strategy="forget")
    with pytest.raises(ConfigError, match="max_tool_calls must be at least 1, got 0"):
        kernel.agents.create("tool", name="t", max_tool_calls=0)
    assert kernel.agents.list() == []  # nothing half-created


def test_unknown_type_lists_registered_ones(kernel):
    with pytest.raises(UnknownNameError) as info:
        kernel.agents.create("chatt")
    assert "unknown agent type 'chatt'; registered:" in str(info.value)
    assert {"chat", "research", "code", "tool", "echo", "parallel", "router", "guard"} <= set(info.value.known)


def test_types_come_from_plugins_with_their_plugin(kernel):
    registry = kernel.registry("agent_type")
    assert registry.registration("echo").plugin == "echo-plugin"
    assert registry.registration("chat").plugin == "agents"


def test_dynamic_module_class(kernel):
    agent = kernel.agents.create("tests.agents.agent_helpers:Echo", name="dyn", prefix="dynamic")
    assert isinstance(agent, Echo) and agent.config.prefix == "dynamic"
    with pytest.raises(ValidationError, match="cannot load agent type .tests.agents.agent_helpers:Nope."):
        kernel.agents.create("tests.agents.agent_helpers:Nope")
    with pytest.raises(ValidationError, match="is not an agent class"):
        kernel.agents.create("json:dumps")
    kernel.agents.register_type("echo2", Echo, "registered at run time")
    assert kernel.agents.create("echo2").type_name == "echo"


def test_names_are_unique_and_generated(kernel):
    first = kernel.agents.create("echo")
    second = kernel.agents.create("echo")
    assert (first.name, second.name) == ("echo-1", "echo-2")
    with pytest.raises(DuplicateNameError, match="agent 'echo-1' is registered twice"):
        kernel.agents.create("echo", name="echo-1")
    with pytest.raises(ValidationError, match="non-empty string"):
        kernel.agents.create("echo", name="  ")


def test_registry_discovery(kernel):
    kernel.agents.create("echo", name="e1", capabilities=["translate"])
    kernel.agents.create("chat", name="c1")
    kernel.agents.create("research", name="r1")
    assert [a.name for a in kernel.agents.find(capability="echo")] == ["e1"]
    assert [a.name for a in kernel.agents.find(capability="translate")] == ["e1"]
    assert [a.name for a in kernel.agents.find(capability="tools")] == ["r1"]
    assert [a.name for a in kernel.agents.find(capability="memory")] == ["c1"]
    kernel.agents.create("chat", name="c2", tools=["calculator"])  # having tools is a capability
    assert [a.name for a in kernel.agents.find(capability="tools")] == ["r1", "c2"]
    assert [a.name for a in kernel.agents.find(type="research")] == ["r1"]
    assert kernel.agents.get("c1").name == "c1"
    assert kernel.agents.get(kernel.agents.get("r1").id).name == "r1"  # by id too
    with pytest.raises(UnknownNameError, match="unknown agent 'zz'; registered: c1, c2, e1, r1"):
        kernel.agents.get("zz")


@attrs.define(eq=False, kw_only=True)
class Needy(BaseAgent):
    """Declares its dependencies by type; the factory injects them."""

    type_name = "needy"
    dispatcher_kind: object = inject(OfflineProvider)

    async def execute(self, request, ctx):
        names = sorted(self.tools)
        peers = sorted(self.peers)
        return AgentOutput(content=f"provider={self.provider.name} tools={names} peers={peers}")


async def test_dependencies_injected_by_declared_type(kernel):
    kernel.agents.create("echo", name="helper")
    agent = kernel.agents.create(Needy, name="n", tools=["calculator", "helper"], agents=["helper"])
    out = await kernel.run(agent, "go")
    assert out.content == "provider=offline tools=['calculator', 'helper'] peers=['helper']"
    assert agent.tools["helper"].agent is kernel.agents.get("helper")  # an agent as a tool
    with pytest.raises(UnknownNameError, match="unknown tool 'nope'"):
        kernel.agents.create(Needy, name="n2", tools=["nope"])
    with pytest.raises(UnknownNameError, match="unknown model provider 'gpt'"):
        kernel.agents.create("chat", name="c", provider="gpt")


async def test_builder(kernel):
    seen = []

    @tool
    def shout(text: str) -> str:
        """Upper-case a text."""
        return text.upper()

    kernel.agents.create("echo", name="peer")
    agent = (
        kernel.agents.builder("tool", "built")
        .description("built fluently").capabilities("demo").system("Use tools.")
        .tools("calculator", shout).agents("peer").limits(max_tool_calls=3, deadline=10)
        .on("model_after", lambda call: seen.append(call.result.finish_reason)).build()
    )
    assert agent.config.tools == ["calculator", "shout"] and agent.config.agents == ["peer"]
    assert agent.config.max_tool_calls == 3 and agent.config.deadline == 10.0
    assert agent.description == "built fluently" and "demo" in agent.capabilities
    out = await kernel.run(agent, "what is 6*7")
    assert out.content == "calculator returned 42."
    assert seen == ["tool_calls", "stop"]  # the agent's own callback saw both model calls


SPEC = """
[[agent]]
name = "triage"
type = "tool"
system = "Route the user."
agents = ["billing"]

[[agent]]
name = "billing"
type = "chat"
capabilities = ["billing"]
max_history_tokens = 500
"""


def test_spec_file_toml_creates_dependencies_first(kernel, tmp_path):
    path = tmp_path / "agents.toml"
    path.write_text(SPEC)
    created = kernel.agents.from_spec(path)
    assert [a.name for a in created] == ["billing", "triage"]
    assert kernel.agents.get("triage").peers["billing"] is kernel.agents.get("billing")


def test_spec_file_yaml(kernel, tmp_path):
    import yaml  # noqa: F401 - in the dev extra: a missing one is an error, not a silent skip
    path = tmp_path / "agents.yaml"
    path.write_text("agent:\n  - name: y\n    type: echo\n    prefix: yaml\n")
    assert kernel.agents.from_spec(path)[0].config.prefix == "yaml"


def test_spec_errors(kernel, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[[agent]]\nname = "x"\ntype = "chat"\nmax_steps = "many"\n')
    with pytest.raises(ConfigError) as info:
        kernel.agents.from_spec(path)
    assert str(path) in str(info.value) and "agent 'x': max_steps: expected an integer" in str(info.value)
    path.write_text('[[agent]]\nname = "a"\ntype = "tool"\nagents = ["b"]\n[[agent]]\nname = "b"\ntype = "tool"\nagents = ["a"]\n')
    with pytest.raises(ConfigError, match="a cycle"):
        kernel.agents.from_spec(path)
    path.write_text("agent = 3")
    with pytest.raises(ConfigError, match=r"expected a list of \[\[agent\]\] tables"):
        kernel.agents.from_spec(path)


def test_yaml_without_pyyaml_says_which_extra(kernel, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "yaml", None)
    path = tmp_path / "a.yaml"
    path.write_text("agent: []")
    with pytest.raises(MissingExtraError, match=r'pip install "llmspell\[yaml\]"'):
        kernel.agents.from_spec(path)


async def test_specs_loaded_at_startup_from_config(make_kernel, tmp_path):
    path = tmp_path / "agents.toml"
    path.write_text(SPEC)
    async with make_kernel({"agents": {"specs": [str(path)]}}) as kernel:
        assert sorted(a.name for a in kernel.agents.list()) == ["billing", "triage"]


def test_config_schema_is_json_schema(kernel):
    schema = config_schema(kernel.agents.agent_class("chat").Config)
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["properties"]["max_history_tokens"] == {
        "type": "integer", "default": 2000,
        "description": "Budget of the history sent to the model (4 characters a token, estimated).",
    }
    assert schema["properties"]["provider"] == {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None,
                                                "description": "Model provider name; None takes ``[agents] provider``."}
    assert schema["properties"]["tools"] == {"type": "array", "items": {"type": "string"}, "default": [],
                                             "description": "Tools (or agents, as tools) this agent may call, by name."}


def test_agents_cli_types_and_describe(llmspell_env, tmp_path):
    def cli(*args):
        return subprocess.run(["llmspell", "--data-dir", str(tmp_path / "d"), *args], env=llmspell_env,
                              capture_output=True, text=True, check=True, cwd=tmp_path).stdout

    types = {t["type"]: t for t in json.loads(cli("agents", "types", "--json"))["types"]}
    assert {"chat", "research", "code", "tool", "sequential", "parallel", "loop", "router"} <= set(types)
    described = json.loads(cli("agents", "describe", "research"))
    assert described["config_schema"]["properties"]["report_name"]["default"] == "report.md"
    spec = tmp_path / "agents.toml"
    spec.write_text(SPEC)
    cfg = tmp_path / "llmspell.toml"
    cfg.write_text(textwrap.dedent(f"""
        [agents]
        specs = ["{spec}"]
    """))
    listed = json.loads(cli("-c", str(cfg), "agents", "list", "--json", "--capability", "billing"))
    assert [a["name"] for a in listed["agents"]] == ["billing"]


async def test_agent_created_point_gets_the_agent(kernel):
    got = []
    kernel.hooks.register("agent_created", lambda call: got.append(call.args["agent"]))
    agent = kernel.agents.create("echo", name="x")
    await kernel.agents.initialize(agent)
    assert got == [agent] and isinstance(HookCall, type)
