"""Seeing inside: the console's first render of a big session, and the cost of tracing.

* **Console**: a session with 10,000 events (plus state and an artifact) on the embedded
  defaults, served by a real ``llmspell console`` process. Measured: the server's full
  answer for the session page (the newest 100 events; pages of older ones on request)
  over loopback HTTP, and the first contentful paint of that page in headless Chromium
  (navigation start to the first pixels, as the browser reports it).
* **Tracing**: one ``kernel.run`` turn (a chat agent on the offline model, one model call,
  memory backends) with the ``otel`` plugin disabled, and enabled with spans going through
  a batch span processor to an exporter that drops them.

Run: ``python benchmarks/bench_observe.py`` (``--quick`` for a short run). Chromium:
``LLMSPELL_CHROMIUM`` (default ``/usr/bin/chromium``).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _timing import percentile, summarize, table, time_async, time_sync  # noqa: E402

from llmspell import Kernel  # noqa: E402
from llmspell.plugins.events.api import Event  # noqa: E402

QUICK = "--quick" in sys.argv
EVENTS = 10_000
PAGE_ROUNDS = 20 if QUICK else 100
PAINT_ROUNDS = 5 if QUICK else 20
TURNS = 300 if QUICK else 3000
MEMORY = {"state": {"backend": "memory"}, "events": {"backend": "memory"}, "sessions": {"backend": "memory"},
          "artifacts": {"backend": "memory", "metadata": "memory"}, "plugins": {"autoload": False}}
CHROMIUM = os.environ.get("LLMSPELL_CHROMIUM", "/usr/bin/chromium")


# -- the console ------------------------------------------------------------------------


async def fill(data: Path) -> str:
    async with Kernel(data_dir=data, env={}) as kernel:
        session = await kernel.sessions.create(user_id="ada", app="bench", title="10,000 events")
        for start in range(0, EVENTS - 1, 500):
            batch = [Event("note.added", {"n": i, "text": f"note {i}"}, session_id=session.id, stream=session.id,
                           source="bench") for i in range(start, min(start + 500, EVENTS - 1))]
            await kernel.events.publish_many(batch)
        for i in range(20):
            await session.state.set(f"key/{i}", {"i": i})  # 20 more events: state.changed
        await kernel.artifacts.save("report.md", b"# report\n" * 100, session_id=session.id)
        return str(session.id)


def start_console(data: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMSPELL_")}
    process = subprocess.Popen(
        [sys.executable, "-c", "from llmspell.plugins.cli import main; main()", "--data-dir", str(data), "console",
         "--port", "0", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    assert process.stdout is not None
    return process, json.loads(process.stdout.readline())


def page_times(info: dict[str, Any], sid: str) -> tuple[list[float], int, int]:
    import httpx

    base = info["url"].split("?")[0].rstrip("/")
    headers = {"Authorization": f"Bearer {info['token']}"}
    samples = []
    with httpx.Client(base_url=base, headers=headers) as client:
        first = client.get(f"/sessions/{sid}")  # warm: templates compiled, connections open
        assert first.status_code == 200 and first.text.count('<tr data-seq="') == 100, first.status_code
        for _ in range(PAGE_ROUNDS):
            began = time.perf_counter()
            answer = client.get(f"/sessions/{sid}")
            samples.append(time.perf_counter() - began)
            assert answer.status_code == 200
        older = client.get(f"/sessions/{sid}", params={"before": 5000})
        assert older.status_code == 200
    return samples, len(first.content), EVENTS + 20


def paint_times(info: dict[str, Any], sid: str) -> list[float]:
    from playwright.sync_api import sync_playwright

    base = info["url"].split("?")[0].rstrip("/")
    samples = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page()
        page.goto(info["url"])  # the token becomes a cookie
        page.goto(f"{base}/sessions/{sid}")  # warm
        for _ in range(PAINT_ROUNDS):
            page.goto(f"{base}/sessions/{sid}")
            paint = page.evaluate(
                "() => new Promise(done => { const p = performance.getEntriesByName('first-contentful-paint');"
                " if (p.length) return done(p[0].startTime);"
                " new PerformanceObserver(l => done(l.getEntries()[0].startTime)).observe({type: 'paint', buffered: true}); })"
            )
            samples.append(float(paint) / 1000)
        browser.close()
    return samples


def console_rows() -> list[list[Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        began = time.perf_counter()
        sid = asyncio.run(fill(data))
        print(f"filled a session with {EVENTS + 21} events in {time.perf_counter() - began:.1f} s", file=sys.stderr)
        process, info = start_console(data)
        try:
            served, size, count = page_times(info, sid)
            painted = paint_times(info, sid) if os.path.exists(CHROMIUM) else []
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
    rows = [["session page, server answer (100 newest events)", f"{count:,}", f"{size / 1024:.0f} KiB",
             statistics.median(served) * 1000, percentile(served, 99) * 1000]]
    if painted:
        rows.append(["session page, first contentful paint in Chromium", f"{count:,}", f"{size / 1024:.0f} KiB",
                     statistics.median(painted) * 1000, max(painted) * 1000])
    return rows


# -- tracing ------------------------------------------------------------------------------


class DropSpans:
    """A span exporter that does nothing (what is measured is producing the spans)."""

    def export(self, spans: Any) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


async def turns(traced: bool) -> list[float]:
    config: dict[str, Any] = dict(MEMORY)
    if traced:
        config["otel"] = {"enabled": True, "exporter": "none", "use_global": False}
    with tempfile.TemporaryDirectory() as tmp:
        async with Kernel(config, data_dir=tmp, env={}) as kernel:
            if traced:
                from llmspell.contrib.otel import Tracing

                kernel.service(Tracing).add_exporter(DropSpans(), batch=True)
            agent = kernel.agents.create("chat", name="helper", max_history_messages=4)
            session = await kernel.sessions.create(user_id="bench")
            for _ in range(50):
                await kernel.run(agent, "hello", session=session)
            return await time_async(lambda: kernel.run(agent, "hello", session=session), rounds=TURNS)


def sdk_span() -> dict[str, float]:
    """For scale: the OpenTelemetry SDK alone, one span with six attributes, made current and ended."""
    from opentelemetry import context, trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(DropSpans()))  # type: ignore[arg-type]
    tracer = provider.get_tracer("bench")
    attributes = {"session.id": "s" * 36, "user.id": "ada", "llmspell.invocation_id": "i" * 36,
                  "llmspell.correlation_id": "c" * 36, "gen_ai.agent.name": "helper", "gen_ai.operation.name": "chat"}

    def one() -> None:
        span = tracer.start_span("invoke_agent helper", attributes=attributes)
        token = context.attach(trace.set_span_in_context(span))
        context.detach(token)
        span.end()

    samples = time_sync(one, rounds=200 if QUICK else 1000, inner=20)
    provider.shutdown()
    return summarize(samples)


def tracing_rows() -> list[list[Any]]:
    off = summarize(asyncio.run(turns(False)))
    on = summarize(asyncio.run(turns(True)))
    span = sdk_span()
    return [
        ["otel disabled", off["median_us"], off["p99_us"], "-"],
        ["otel enabled, no-op exporter", on["median_us"], on["p99_us"], on["median_us"] - off["median_us"]],
        ["for scale: the SDK alone, one span (6 attributes)", span["median_us"], span["p99_us"], "-"],
    ]


def main() -> None:
    print(table("Console: first render of a session with 10,000 events",
                ["page", "events in the session", "page size", "median ms", "p99 / max ms"], console_rows()))
    print(table("Tracing: one kernel.run turn (chat agent, offline model, memory backends)",
                ["tracing", "median us", "p99 us", "overhead us (median)"], tracing_rows()))


if __name__ == "__main__":
    main()
