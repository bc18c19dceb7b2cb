"""The OpenAI-compatible provider against a real HTTP server on 127.0.0.1 started by the test.

The server speaks the chat-completions protocol from a script of answers; nothing in the
client is patched.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx  # noqa: F401 - in the dev extra: a missing one is an error, not a silent skip
import pytest
import pytest_asyncio

from llmspell.errors import MissingExtraError
from llmspell.plugins.agents.api import Message, ProviderError, ProviderTimeout, ToolCall, ToolSpec
from llmspell.plugins.agents.backend import ModelRequest


def completion(content="", tool_calls=(), finish="stop"):
    message = {"role": "assistant", "content": content or None}
    if tool_calls:
        message["tool_calls"] = [
            {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": args}}
            for i, (name, args) in enumerate(tool_calls)
        ]
    return {"id": "cmpl-1", "model": "test-model", "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 3}}


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.script = []
        self.requests = []

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        status, payload, delay = self.server.script.pop(0) if self.server.script else (500, {"error": "no script"}, 0)
        time.sleep(delay)
        try:
            if isinstance(payload, list):  # server-sent events
                self.send_response(status)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for event in payload:
                    line = event if isinstance(event, str) else json.dumps(event)
                    self.wfile.write(f"data: {line}\n\n".encode())
                    self.wfile.flush()
                return
            raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def server():
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest_asyncio.fixture
async def kernel(make_kernel, server):
    config = {"openai": {"base_url": server.base_url, "api_key": "sk-test", "model": "test-model", "timeout": 0.5,
                         "max_retries": 1, "backoff": 0.01}}
    async with make_kernel(config) as k:
        yield k


@pytest.fixture
def provider(kernel):
    return kernel.agents.provider("openai")


def request(text="hi", tools=()):
    return ModelRequest((Message.system("be brief"), Message.user(text)), tools=tuple(tools))


async def test_success(kernel, server, provider):
    server.script.append((200, completion("Hello!"), 0))
    ctx = await kernel.context()
    response = await provider.complete(request(), ctx)
    assert response.content == "Hello!" and response.model == "test-model"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (11, 3)
    sent = server.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["Authorization"] == "Bearer sk-test"
    assert sent["body"]["model"] == "test-model"
    assert sent["body"]["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]


async def test_tool_call_round_trip_through_an_agent(kernel, server):
    server.script += [
        (200, completion(tool_calls=[("calculator", '{"expression": "6*7"}')], finish="tool_calls"), 0),
        (200, completion("The answer is 42."), 0),
    ]
    agent = kernel.agents.create("tool", name="t", provider="openai", tools=["calculator"])
    out = await kernel.run(agent, "what is six times seven?")
    assert out.content == "The answer is 42."
    first, second = (r["body"] for r in server.requests)
    assert first["tools"][0]["function"]["name"] == "calculator"
    assert first["tools"][0]["function"]["parameters"]["required"] == ["expression"]
    assert second["messages"][-2]["tool_calls"][0]["function"] == {"name": "calculator",
                                                                  "arguments": '{"expression": "6*7"}'}
    assert second["messages"][-1] == {"role": "tool", "content": "42", "tool_call_id": "call_0", "name": "calculator"}


async def test_streaming_sse_text_and_tool_calls(kernel, server, provider):
    chunks = [
        {"model": "test-model", "choices": [{"delta": {"role": "assistant", "content": "Hel"}}]},
        {"choices": [{"delta": {"content": "lo"}}]},
        {"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "call_a", "function": {"name": "calc", "arguments": '{"expr'}}]}}]},
        {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": 'ession": "1+1"}'}}]}, "finish_reason": "tool_calls"}]},
        "[DONE]",
    ]
    server.script.append((200, chunks, 0))
    ctx = await kernel.context()
    got = [c async for c in provider.stream(request(tools=[ToolSpec("calc")]), ctx)]
    assert [c.delta for c in got[:-1]] == ["Hel", "lo"]
    final = got[-1].response
    assert final.content == "Hello" and final.finish_reason == "tool_calls"
    assert final.tool_calls == (ToolCall("calc", {"expression": "1+1"}, id="call_a"),)
    assert server.requests[0]["body"]["stream"] is True


async def test_streaming_through_kernel_stream(kernel, server):
    server.script.append((200, [{"choices": [{"delta": {"content": w}}]} for w in ("a ", "b ", "c")] + ["[DONE]"], 0))
    agent = kernel.agents.create("chat", name="c", provider="openai")
    events = [e async for e in kernel.agents.stream(agent, "go")]
    assert [e.data for e in events if e.kind == "delta"] == ["a ", "b ", "c"]
    assert events[-1].data.content == "a b c"


async def test_timeout_retries_then_fails(kernel, server, provider):
    server.script += [(200, completion("late"), 1.0), (200, completion("late again"), 1.0)]
    ctx = await kernel.context()
    with pytest.raises(ProviderTimeout, match=r"/v1/chat/completions did not answer within 0.5 s \(2 attempts\)"):
        await provider.complete(request(), ctx)
    assert len(server.requests) == 2


async def test_run_deadline_shortens_the_request_timeout(kernel, server, provider):
    server.script += [(200, completion("late"), 1.0)] * 2
    ctx = (await kernel.context()).with_timeout(0.5)
    with pytest.raises(ProviderTimeout, match=r"within 0.\d+ s, the time left before the run's deadline \(attempt 1\)"):
        await provider.complete(request(), ctx)
    # never a second attempt (the first may not have reached the server on a loaded machine)
    assert len(server.requests) <= 1


async def test_http_500_is_retried(kernel, server, provider):
    server.script += [(500, {"error": "overloaded"}, 0), (200, completion("recovered"), 0)]
    ctx = await kernel.context()
    assert (await provider.complete(request(), ctx)).content == "recovered"
    assert len(server.requests) == 2


async def test_http_500_every_time_fails_clearly(kernel, server, provider):
    server.script += [(500, {"error": "boom"}, 0), (503, {"error": "still down"}, 0)]
    ctx = await kernel.context()
    with pytest.raises(ProviderError, match=r'answered HTTP 503; 2 attempts: \{"error": "still down"\}'):
        await provider.complete(request(), ctx)


async def test_http_401_is_not_retried(kernel, server, provider):
    server.script += [(401, {"error": "bad key"}, 0)]
    ctx = await kernel.context()
    with pytest.raises(ProviderError, match="answered HTTP 401"):
        await provider.complete(request(), ctx)
    assert len(server.requests) == 1


async def test_malformed_json(kernel, server, provider):
    server.script += [(200, b"<html>proxy error</html>", 0)]
    ctx = await kernel.context()
    with pytest.raises(ProviderError, match="answered malformed JSON: b'<html>proxy error"):
        await provider.complete(request(), ctx)
    server.script += [(200, completion(tool_calls=[("calc", "{not json")]), 0)]
    with pytest.raises(ProviderError, match="tool call arguments are not valid JSON"):
        await provider.complete(request(), ctx)
    server.script += [(200, {"choices": []}, 0)]
    with pytest.raises(ProviderError, match="unexpected answer shape"):
        await provider.complete(request(), ctx)
    server.script += [(200, ["{broken"], 0)]
    with pytest.raises(ProviderError, match="streamed malformed JSON"):
        async for _ in provider.stream(request(), ctx):
            pass


async def test_unreachable_server(make_kernel):
    config = {"openai": {"base_url": "http://127.0.0.1:9/v1", "max_retries": 1, "backoff": 0.01, "timeout": 1}}
    async with make_kernel(config) as kernel:
        provider = kernel.agents.provider("openai")
        with pytest.raises(ProviderError, match=r"is unreachable \(ConnectError"):
            await provider.complete(request(), await kernel.context())


async def test_missing_extra_says_what_to_install(kernel, provider, monkeypatch, make_kernel):
    monkeypatch.setitem(sys.modules, "httpx", None)
    with pytest.raises(MissingExtraError, match=r'pip install "llmspell\[openai\]"'):
        provider.client()
    async with make_kernel({"agents": {"provider": "openai"}}) as fresh:
        with pytest.raises(MissingExtraError, match="OpenAI-compatible model provider needs the 'httpx' package"):
            fresh.agents.create("chat", name="c")


def test_bad_config_is_reported_at_build(make_kernel):
    from llmspell.errors import ConfigError

    with pytest.raises(ConfigError, match="base_url must start with http"):
        make_kernel({"openai": {"base_url": "localhost:11434"}})
