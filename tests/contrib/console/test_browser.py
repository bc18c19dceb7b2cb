"""The console end to end in real headless Chromium (Debian's ``chromium``, driven by Playwright).

The browser is never downloaded: Playwright starts the system's Chromium
(``LLMSPELL_CHROMIUM``, else Debian's ``chromium``). Where there is none, a run as root
with apt-get installs Debian's package first (``scripts/browser.sh``, as CI does); else
these tests are skipped, and fail under ``LLMSPELL_REQUIRE_SERVICES=1``. ``LLMSPELL_CONSOLE_SCREENSHOTS=DIR`` saves the screenshots there
(``docs/images`` holds the ones in ``docs/console.md``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.contrib._services import chromium

from .conftest import Console, kernel
from .conftest import run_async as run

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium()
    with sync_playwright() as playwright:
        found = playwright.chromium.launch(executable_path=executable, headless=True, args=FLAGS)
        yield found
        found.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    yield opened
    context.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("LLMSPELL_CONSOLE_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def snap(page: Page, shots: Path, name: str) -> None:
    target = shots / f"console-{name}.png"
    page.screenshot(path=str(target), full_page=True)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_refused_without_the_token(page: Page, console: Console) -> None:
    for path in ("/", "/sessions", f"/sessions/{console.session}", f"/sessions/{console.session}/live",
                 f"/sessions/{console.session}/download/report.md", "/plugins", "/static/console.js"):
        response = page.goto(console.page(path))
        assert response is not None and response.status == 403, path
    expect(page.locator("h1")).to_have_text("403 Forbidden")
    wrong = console.token[:-1] + ("A" if console.token[-1] != "A" else "B")
    response = page.goto(console.page(f"/sessions?token={wrong}"))
    assert response is not None and response.status == 403
    assert page.context.cookies() == []


def test_find_a_session_see_state_and_events_live_and_download(page: Page, console: Console, shots: Path) -> None:
    response = page.goto(console.url)
    assert response is not None and response.ok
    assert page.url == console.page("/sessions")  # the token left the address bar for a cookie
    expect(page.locator("#sessions tbody tr")).to_have_count(6)
    snap(page, shots, "sessions")

    # find the demo's session: filter by user
    page.fill("input[name=user]", "ada")
    page.click("button[type=submit]")
    rows = page.locator("#sessions tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("demo")
    page.fill("input[name=user]", "bob")
    page.select_option("select[name=status]", "active")
    page.click("button[type=submit]")
    expect(page.locator("#sessions tbody tr")).to_have_count(2)
    page.fill("input[name=user]", "ada")
    page.select_option("select[name=status]", "")
    page.click("button[type=submit]")
    page.click(f"#sessions a:text('{console.session}')")
    expect(page).to_have_url(console.page(f"/sessions/{console.session}"))

    # its metadata, state with versions, events
    expect(page.locator("#metadata")).to_contain_text("ada")
    state = page.locator("#state")
    expect(state).to_contain_text("chat/billing")
    expect(state).to_contain_text("research/last_topic")
    expect(state.locator("tr", has_text="research/last_topic")).to_contain_text("v1")
    timeline = page.locator("#timeline")
    for kind in ("session.created", "agent.run.finished", "agent.handoff", "state.changed"):
        expect(timeline).to_contain_text(kind)
    expect(page.locator("#live")).to_have_class("live on")
    before = page.locator("#timeline tbody tr").count()
    snap(page, shots, "session")

    # a new event, written by another process through the services, appears live
    async def publish() -> int:
        async with kernel(console.data) as k:
            event = await k.events.publish("note.added", {"text": "<b>refund</b> confirmed by a human"},
                                           session_id=console.session, source="tests")
            return int(event.seq)

    seq = run(publish())
    fresh = page.locator(f"#timeline tbody tr[data-seq='{seq}']")
    expect(fresh).to_be_visible(timeout=10_000)
    expect(fresh).to_contain_text("note.added")
    expect(fresh).to_contain_text("<b>refund</b> confirmed by a human")  # shown as text, not markup
    assert fresh.locator("b").count() == 0
    expect(page.locator("#timeline tbody tr")).to_have_count(before + 1)
    expect(page.locator("#event-count")).to_have_text(str(seq))
    assert page.locator("#timeline tbody tr").first.get_attribute("data-seq") == str(seq)

    # the state key's versions
    page.click("#state a:text('research/last_topic')")
    expect(page.locator("#current-version")).to_have_text("1")
    expect(page.locator("#versions")).to_contain_text("v1")

    # download the artifact and compare its bytes with what the service holds
    page.go_back()
    with page.expect_download() as info:
        page.locator("#artifacts tr", has_text="report.md").locator("a.download").click()
    download = info.value
    got = Path(download.path()).read_bytes()

    async def original() -> tuple[bytes, str]:
        async with kernel(console.data) as k:
            data = await k.artifacts.load("report.md", session_id=console.session)
            meta = await k.artifacts.stat("report.md", session_id=console.session)
            return data, meta.sha256

    data, sha = run(original())
    assert got == data and hashlib.sha256(got).hexdigest() == sha
    assert download.suggested_filename == "report.md"

    # the artifact page previews the text
    page.click("#artifacts a:text('report.md')")
    expect(page.locator("#preview")).to_contain_text("# Research: refunds for double charges")
    snap(page, shots, "artifact")


def test_run_tree_and_plugins(page: Page, console: Console, shots: Path) -> None:
    page.goto(console.url)
    page.goto(console.page(f"/sessions/{console.session}/runs"))
    trace = page.locator("section.trace", has_text="triage")
    expect(trace.locator("tr.node")).to_have_count(3)
    names = trace.locator("tr.node .name").all_inner_texts()
    assert names == ["front", "triage", "billing"]
    depths = [trace.locator("tr.node").nth(i).get_attribute("data-depth") for i in range(3)]
    assert depths == ["0", "1", "1"]  # triage and billing ran inside the guard, one after the other
    expect(trace).to_contain_text("handoff from triage")
    reviews = page.locator("section.trace", has_text="reviews")
    assert [reviews.locator("tr.node").nth(i).get_attribute("data-depth") for i in range(3)] == ["0", "1", "1"]
    bar = trace.locator(".bar-fill").first
    assert bar.evaluate("el => el.style.width") == "100%"  # placed by the script, not inline styles
    snap(page, shots, "runs")

    page.click("text=Plugins & hooks")
    plugins = page.locator("#plugins")
    for name in ("events", "state", "sessions", "artifacts", "agents", "console", "otel"):
        expect(plugins).to_contain_text(name)
    hooks = page.locator("#hooks")
    expect(hooks).to_contain_text("agent_initialize")
    expect(hooks.locator("tr", has_text="agent_initialize")).to_contain_text("closed")
    expect(page.locator("#backends")).to_contain_text("diskcache")
    snap(page, shots, "plugins")


def test_suspend_resume_and_delete_behind_a_confirmation(page: Page, console: Console, shots: Path) -> None:
    target = console.others["target"]

    async def status() -> str | None:
        async with kernel(console.data) as k:
            found = await k.sessions.list(user_id="dave")
            return found.items[0].status.value if found.items else None

    page.goto(console.url)
    page.goto(console.page(f"/sessions/{target}"))
    page.click("text=Suspend…")
    expect(page.locator("h1")).to_contain_text("Suspend session")
    assert run(status()) == "active"  # nothing happens before the confirmation
    snap(page, shots, "confirm")
    page.click("#confirm")
    expect(page.locator("#session-status")).to_have_text("suspended")
    assert run(status()) == "suspended"
    page.click("text=Resume…")
    page.click("#confirm")
    expect(page.locator("#session-status")).to_have_text("active")
    assert run(status()) == "active"
    page.click("text=Delete…")
    page.click("text=Cancel")
    assert run(status()) == "active"
    page.click("text=Delete…")
    page.click("#confirm")
    expect(page.locator(".flash")).to_have_text("Session deleted.")
    assert run(status()) is None
    response = page.goto(console.page(f"/sessions/{target}"))
    assert response is not None and response.status == 404
