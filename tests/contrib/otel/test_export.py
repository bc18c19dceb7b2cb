"""Tracing configured the standard OpenTelemetry way: OTLP from OTEL_* variables, the app's provider."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from llmspell import Kernel
from llmspell.contrib.otel import Tracing
from llmspell.errors import ConfigError


class Collector:
    """A minimal OTLP/HTTP trace receiver on the loopback interface."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                collector.requests.append(request)
                collector.paths.append(self.path)
                collector.headers.append({k.lower(): v for k, v in self.headers.items()})
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def spans(self) -> list[tuple[str, dict[str, object]]]:
        out = []
        for request in self.requests:
            for resource_spans in request.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        out.append((span.name, resource))
        return out


@pytest.fixture
def collector() -> Iterator[Collector]:
    found = Collector()
    found.thread.start()
    yield found
    found.server.shutdown()
    found.server.server_close()


async def test_spans_reach_an_otlp_collector_named_by_the_standard_variables(
    make_kernel, collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "shop-agents")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
    kernel = make_kernel({"otel": {"enabled": True, "use_global": False}})
    async with kernel:
        await kernel.run(kernel.agents.create("chat", name="helper"), "hello")
    # the kernel's own provider flushed its batch when the kernel stopped
    names = [name for name, _ in collector.spans()]
    assert "run helper" in names and "invoke_agent helper" in names and "chat offline" in names
    resource = collector.spans()[0][1]
    assert resource["service.name"] == "shop-agents"
    assert resource["deployment.environment"] == "test"
    assert collector.paths == ["/v1/traces"] * len(collector.paths)
    assert collector.headers[0]["x-tenant"] == "acme"


async def test_service_name_defaults_to_llmspell(make_kernel, collector, monkeypatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{collector.url}/v1/traces")
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    async with make_kernel({"otel": {"enabled": True, "use_global": False}}) as kernel:
        await kernel.run(kernel.agents.create("chat", name="helper"), "hello")
        assert kernel.service(Tracing).flush()
        assert collector.spans()[0][1]["service.name"] == "llmspell"


def test_traces_join_the_applications_own_provider(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import asyncio, json, sys
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from llmspell import Kernel

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)

        async def main():
            async with Kernel({"otel": {"enabled": True}}, data_dir=sys.argv[1]) as kernel:
                with trace.get_tracer("app").start_as_current_span("handle request"):
                    await kernel.run(kernel.agents.create("chat", name="helper"), "hi")
            spans = {s.context.span_id: s for s in exporter.get_finished_spans()}
            print(json.dumps({s.name: spans[s.parent.span_id].name if s.parent else None
                              for s in spans.values()}))

        asyncio.run(main())
        """
    )
    env = {"PATH": "/usr/bin:/bin", "OTEL_TRACES_EXPORTER": "otlp",
           "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}  # would fail loudly if used
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "data")], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    parents = json.loads(out.stdout)
    assert parents["handle request"] is None
    assert parents["run helper"] == "handle request"
    assert parents["invoke_agent helper"] == "run helper"
    assert "127.0.0.1:9" not in out.stderr


def test_bad_exporter_settings_fail_the_build_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as info:
        Kernel({"otel": {"enabled": True, "exporter": "zipkin"}}, data_dir=tmp_path)
    assert "otel" in str(info.value) and "exporter must be one of otlp, console, none; got 'zipkin'" in str(info.value)

    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "jaeger")
    with pytest.raises(ConfigError) as info:
        Kernel({"otel": {"enabled": True}}, data_dir=tmp_path)
    assert "OTEL_TRACES_EXPORTER: 'jaeger' is not one of otlp, console, none" in str(info.value)
    Kernel({"otel": {"enabled": False}}, data_dir=tmp_path)  # not enabled: the variable is not ours to check


async def test_otel_sdk_disabled_turns_tracing_off(make_kernel, monkeypatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    async with make_kernel({"otel": {"enabled": True, "exporter": "none"}}) as kernel:
        assert kernel.services.find(Tracing) is None
        assert kernel.dispatcher.observers == ()
