"""The tools of published MCP servers load with their schemas whole and are validated by them.

Three real servers on stdio: ``mcp-server-time`` and ``mcp-server-fetch`` from the package
index, and ``_models_server.py`` whose pydantic arguments (nested, optional, enum, union,
list of models, recursive) give ``$defs``/``$ref``/``anyOf``/``format``/``uniqueItems``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from llmspell.contrib.mcp import POOL
from llmspell.plugins.agents.api import ToolCall

MODELS = Path(__file__).parent / "_models_server.py"
SERVERS = {
    "time": {"command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "Etc/UTC"]},
    "fetch": {"command": sys.executable, "args": ["-m", "mcp_server_fetch"]},
    "models": {"command": sys.executable, "args": [str(MODELS)]},
}


def settings() -> dict[str, Any]:
    return {"mcp": {"servers": {name: {**spec, "timeout": 60} for name, spec in SERVERS.items()}}}


def tool_reply(kernel: Any) -> str:
    return [m for m in kernel.agents.provider().requests[-1].messages if m.role == "tool"][-1].content


async def test_every_tool_of_three_servers_loads_with_its_schema_unchanged(make_kernel: Any) -> None:
    async with make_kernel(settings()) as kernel:
        tools = {t.name: t for t in kernel.stash[POOL].tools}
        assert {"time_get_current_time", "time_convert_time", "fetch_fetch", "models_register", "models_thread",
                "models_pick"} <= set(tools)
        remote = {c.name: {t.name: t for t in c.tools} for c in kernel.stash[POOL].connections.values()}
        for tool in tools.values():
            served = remote[tool.connection.name][tool.remote].input_schema
            assert tool.parameters == served  # nothing inlined, dropped or loosened
        assert "$defs" in tools["models_thread"].parameters


BAD_CALLS = [
    ("time_get_current_time", {}, ["$.timezone: required but missing"]),
    ("fetch_fetch", {"url": "", "max_length": 0}, ['$.url: "" is shorter than 1 character',
                                                         "$.max_length: 0 is less than the minimum of 1"]),
    ("models_register", {"people": [{"name": "", "age": 200, "address": {"city": "Lyon", "zip": "x"},
                                         "tags": ["a", "a"]}], "priority": "urgent", "due": "soon"},
         ['$.people[0].name: "" is shorter than 1 character', "$.people[0].age: 200 is greater than the maximum of 150",
          "$.people[0].address: ", '$.people[0].tags: ["a","a"] has non-unique elements',
          '$.priority: "urgent" is not one of "low" or "high"', "$.due: "]),
    ("models_thread", {"root": {"text": "a", "replies": [{"text": "b", "replies": [{"replies": []}]}]}},
         ["$.root.replies[0].replies[0].text: required but missing"]),
    ("models_pick", {"choice": 1.5, "limit": 4}, ["$.choice: 1.5 is not valid under any of the schemas",
                                                      "$.limit: 4 is not a multiple of 3"]),
]


async def test_a_bad_call_is_refused_before_the_server_with_every_problem(make_kernel: Any) -> None:
    async with make_kernel(settings()) as kernel:
        for tool, arguments, problems in BAD_CALLS:
            kernel.agents.provider().script(ToolCall(tool, arguments), "sorry")
            agent = kernel.agents.builder("tool", f"caller-{tool}").tools(tool).build()
            assert (await kernel.run(agent, "go")).content == "sorry"
            reply = tool_reply(kernel)
            assert reply.startswith(f"error: invalid arguments for tool {tool!r}: ")
            for problem in problems:
                assert problem in reply, reply


async def test_good_calls_reach_the_servers_through_kernel_run(make_kernel: Any) -> None:
    calls = [
        ToolCall("models_register", {"people": [{"name": "Ada", "age": 36, "address": {"street": "1 Rue", "city": "Lyon",
                                     "zip": "69001"}, "tags": ["a", "b"]}, {"name": "Bo", "age": 3}],
                                     "priority": "high", "due": "2026-12-24T10:00:00Z"}),
        ToolCall("models_thread", {"root": {"text": "a", "replies": [{"text": "b", "replies": [{"text": "c"}]}]}}),
        ToolCall("models_pick", {"choice": [1, 2], "limit": 6}),
        ToolCall("time_convert_time", {"source_timezone": "Europe/Paris", "time": "12:00",
                                       "target_timezone": "Asia/Tokyo"}),
    ]
    async with make_kernel(settings()) as kernel:
        kernel.agents.provider().script(*calls, "done")
        agent = kernel.agents.builder("tool", "caller").tools(*{c.name for c in calls}).build()
        assert (await kernel.run(agent, "go")).content == "done"
        replies = [m.content for m in kernel.agents.provider().requests[-1].messages if m.role == "tool"]
        assert replies[:3] == ["2 registered at high priority, due 2026-12-24", "3", "list:[1, 2]:6"]
        assert json.loads(replies[3])["target"]["timezone"] == "Asia/Tokyo"


async def test_the_same_schemas_work_as_output_schema(make_kernel: Any) -> None:
    async with make_kernel(settings()) as kernel:
        schemas = {t.name: t.parameters for t in kernel.stash[POOL].tools}
        agent = kernel.agents.create("tool", name="writer", output_schema=schemas["models_thread"])
        provider = kernel.agents.provider()
        provider.script('{"root": {"text": "a", "replies": [{"replies": []}]}}',
                        '{"root": {"text": "a", "replies": [{"text": "b"}]}}')
        out = await kernel.run(agent, "write a thread")
        assert out.data == {"root": {"text": "a", "replies": [{"text": "b"}]}}
        feedback = [m.content for m in provider.requests[-1].messages if m.role == "user"][-1]
        assert feedback.endswith("$.root.replies[0].text: required but missing")
        for name, schema in schemas.items():
            kernel.agents.create("tool", name=f"out-{name}", output_schema=schema)


def test_llmspell_mcp_tools_lists_them(tmp_path: Path, llmspell_env: dict[str, str]) -> None:
    config = tmp_path / "llmspell.toml"
    lines = []
    for name, spec in SERVERS.items():
        lines += [f"[mcp.servers.{name}]", f"command = {json.dumps(spec['command'])}", f"args = {json.dumps(spec['args'])}"]
    config.write_text("\n".join(lines) + "\n")
    exe = shutil.which("llmspell", path=str(Path(sys.executable).parent))
    assert exe is not None
    done = subprocess.run([exe, "-c", str(config), "--data-dir", str(tmp_path / "data"), "mcp", "tools", "--json"],
                          env=llmspell_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    listed = {t["name"]: t for t in json.loads(done.stdout)["tools"]}
    assert listed["models_thread"]["parameters"]["$defs"]["Comment"]["properties"]["replies"]["items"] == {
        "$ref": "#/$defs/Comment"}
    assert {"time_get_current_time", "fetch_fetch", "models_register", "models_pick"} <= set(listed)
