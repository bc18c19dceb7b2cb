"""The console against hostile input, over real HTTP with raw (un-normalised) paths.

Unknown ids give 404, malformed ids, hostile artifact names and path tricks give 400 or
404, nothing outside the data directory is ever served, every page escapes what it shows,
and every request needs the token.
"""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from .conftest import Console, kernel, run_async

SECRET = "TOP-SECRET-OUTSIDE-THE-DATA-DIRECTORY"


@attrs.frozen
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Client:
    """Raw HTTP to the console: the path goes out exactly as written."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def get(self, path: str, *, token: bool = True, headers: dict[str, str] | None = None,
            method: str = "GET", body: bytes | None = None) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", self.console.port, timeout=30)
        sent = {"Host": f"127.0.0.1:{self.console.port}", **(headers or {})}
        if token:
            sent.setdefault("Authorization", f"Bearer {self.console.token}")
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            streaming = response.getheader("content-type", "").startswith("text/event-stream")
            data = response.read(200) if streaming else response.read()
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
        finally:
            connection.close()


@pytest.fixture(scope="module")
def client(console: Console) -> Iterator[Client]:
    # a file next to the data directory that no URL may ever reach
    (console.data.parent / "secret.txt").write_text(SECRET)
    (console.data / "secret.txt").write_text(SECRET)  # inside it too: the console serves no files at all
    yield Client(console)


def never_leaks(answer: Answer) -> None:
    assert SECRET not in answer.text
    assert "root:x:0:0" not in answer.text


def test_unknown_session_ids_are_a_clear_404(client: Client) -> None:
    unknown = "01a2107e-0000-7000-8000-000000000000"
    for path in (f"/sessions/{unknown}", f"/sessions/{unknown}/runs", f"/sessions/{unknown}/live",
                 f"/sessions/{unknown}/state?key=x", f"/sessions/{unknown}/artifact/report.md",
                 f"/sessions/{unknown}/download/report.md", f"/sessions/{unknown}/raw/x.png",
                 f"/sessions/{unknown}/delete"):
        answer = client.get(path)
        assert answer.status == 404, path
        assert f"session &#39;{unknown}&#39; does not exist" in answer.text, path


def test_unknown_artifacts_keys_and_pages_are_404(client: Client, console: Console) -> None:
    sid = console.session
    for path in (f"/sessions/{sid}/artifact/nope.md", f"/sessions/{sid}/download/nope.md",
                 f"/sessions/{sid}/artifact/report.md?version=99", f"/sessions/{sid}/state?key=nope",
                 f"/sessions/{sid}/explode", "/nothing/here", "/static/app.py", "/static/console.css.bak"):
        answer = client.get(path)
        assert answer.status == 404, (path, answer.status)
        never_leaks(answer)


HOSTILE_NAMES = [
    "../../secret.txt", "..%2F..%2Fsecret.txt", "%2e%2e/%2e%2e/secret.txt", "%2E%2E%2F%2E%2E%2Fsecret.txt",
    "notes/../../../secret.txt", "./report.md", "a//b", "..", "%2e%2e", "..\\..\\secret.txt",
    "..%5C..%5Csecret.txt", "report.md%00.png", "%00", "x%0d%0aSet-Cookie:%20a=b", "/etc/passwd",
    "%2Fetc%2Fpasswd", "..%252F..%252Fsecret.txt", "a" * 2000, "%c0%ae%c0%ae/secret.txt",
]


@pytest.mark.parametrize("kind", ["artifact", "download", "raw"])
def test_hostile_artifact_names_are_refused(client: Client, console: Console, kind: str) -> None:
    for name in HOSTILE_NAMES:
        answer = client.get(f"/sessions/{console.session}/{kind}/{name}")
        assert answer.status in (400, 404), (name, answer.status)
        never_leaks(answer)
        assert "set-cookie" not in answer.headers or "a=b" not in answer.headers["set-cookie"]
    traversal = client.get(f"/sessions/{console.session}/{kind}/..%2F..%2Fsecret.txt")
    assert traversal.status == 400 and "invalid artifact name" in traversal.text


def test_path_tricks_in_urls_serve_nothing_outside(client: Client, console: Console) -> None:
    for path in ("/../../secret.txt", "/..%2F..%2Fsecret.txt", "/static/../secret.txt", "/static/..%2Fsecret.txt",
                 "/static/%2e%2e/%2e%2e/secret.txt", "/static/....//....//secret.txt", "//secret.txt",
                 "/sessions/..%2F..%2Fsecret.txt", "/sessions/%2e%2e/runs", "/sessions/../secret.txt",
                 f"/sessions/{console.session}/../../secret.txt", "/secret.txt", "/data/secret.txt",
                 "/static/%2Fetc%2Fpasswd", "/sessions/%00", f"/sessions/{'x' * 300}",
                 "/sessions/a%5Cb", "/%2e%2e/%2e%2e/etc/passwd"):
        answer = client.get(path)
        assert answer.status in (400, 404), (path, answer.status)
        never_leaks(answer)


def test_malformed_parameters_are_400(client: Client, console: Console) -> None:
    sid = console.session
    for path in (f"/sessions/{sid}?before=abc", f"/sessions/{sid}?before=-3", f"/sessions/{sid}?before=0",
                 f"/sessions/{sid}/artifact/report.md?version=x", f"/sessions/{sid}/artifact/report.md?version=0",
                 f"/sessions/{sid}/download/report.md?version=1e9", "/sessions?status=haunted",
                 f"/sessions?user={'u' * 400}", "/sessions?cursor=not-a-cursor", f"/sessions/{sid}/state?key=",
                 f"/sessions/{sid}/runs?traces=many"):
        answer = client.get(path)
        assert answer.status == 400, (path, answer.status, answer.text[-300:])


def test_pages_escape_what_they_show(client: Client, console: Console) -> None:
    sid = console.others["hostile"]
    pages = [f"/sessions/{sid}", "/sessions?user=mallory", f"/sessions/{sid}/delete",
             f"/sessions/{sid}/state?key=%3Cscript%3Ekey%3C%2Fscript%3E",
             f"/sessions/{sid}/artifact/notes/bold%20(1).txt", f"/sessions/{sid}/artifact/page.html",
             "/sessions/%3Cscript%3Ealert(1)%3C%2Fscript%3E"]
    for path in pages:
        answer = client.get(path)
        assert answer.status in (200, 404), (path, answer.status)
        text = answer.text
        assert re.search(r"<script(?! src=\"/static/console\.js\")", text) is None, path
        assert "<img src=x" not in text and "<b>tag</b>" not in text and "<i>src</i>" not in text, path
    page = client.get(f"/sessions/{sid}").text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;script&gt;key&lt;/script&gt;" in page
    assert "&lt;script&gt;alert(&#39;event&#39;)&lt;/script&gt;" in page or "alert(&#39;event&#39;)" in page
    preview = client.get(f"/sessions/{sid}/artifact/notes/bold%20(1).txt").text
    assert "&lt;script&gt;alert(&#39;artifact&#39;)&lt;/script&gt;" in preview


def test_active_content_is_never_served_inline(client: Client, console: Console) -> None:
    sid = console.others["hostile"]
    for name in ("page.html", "logo.svg", "notes/bold%20(1).txt"):
        assert client.get(f"/sessions/{sid}/raw/{name}").status == 400
        download = client.get(f"/sessions/{sid}/download/{name}")
        assert download.status == 200
        assert download.headers["content-type"] == "application/octet-stream"
        assert download.headers["content-disposition"].startswith("attachment;")
        assert download.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in download.headers["content-security-policy"]
    svg = client.get(f"/sessions/{sid}/artifact/logo.svg")
    assert svg.status == 200 and "<img" not in svg.text  # no inline preview of SVG


def test_every_request_needs_the_token(client: Client, console: Console) -> None:
    sid = console.session
    paths = ["/", "/sessions", f"/sessions/{sid}", f"/sessions/{sid}/runs", f"/sessions/{sid}/live",
             f"/sessions/{sid}/download/report.md", f"/sessions/{sid}/artifact/report.md", "/plugins",
             "/static/console.css", "/nothing"]
    wrong = console.token[:-2] + "zz"
    for path in paths:
        assert client.get(path, token=False).status == 403, path
        assert client.get(path, token=False, headers={"Authorization": f"Bearer {wrong}"}).status == 403, path
        assert client.get(path, token=False, headers={"Cookie": f"llmspell_console_{console.port}={wrong}"}).status == 403
        assert client.get(f"{path}{'&' if '?' in path else '?'}token=", token=False).status == 403, path
    ok = client.get("/sessions", token=False, headers={"Cookie": f"llmspell_console_{console.port}={console.token}"})
    assert ok.status == 200
    live = client.get(f"/sessions/{sid}/live")
    assert live.status == 200 and live.headers["content-type"].startswith("text/event-stream")
    redirect = client.get(f"/sessions?token={console.token}&user=ada", token=False, headers={"Accept": "text/html"})
    assert redirect.status == 303
    assert redirect.headers["location"] == "/sessions?user=ada"
    assert "HttpOnly" in redirect.headers["set-cookie"] and "SameSite=Strict" in redirect.headers["set-cookie"]
    bounce = client.get(f"//evil.example/?token={console.token}", token=False, headers={"Accept": "text/html"})
    assert bounce.status == 303 and not bounce.headers["location"].startswith("//")


def test_foreign_host_headers_are_refused(client: Client) -> None:
    answer = client.get("/sessions", headers={"Host": "attacker.example:80"})
    assert answer.status == 400  # DNS rebinding: the token would not help a page on another name anyway
    assert client.get("/sessions", headers={"Host": "localhost"}).status == 200


def test_security_headers(client: Client) -> None:
    answer = client.get("/sessions")
    csp = answer.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["cache-control"] == "no-store"


def test_writes_need_a_post_with_the_forms_csrf_token(client: Client, console: Console) -> None:
    sid = console.others["bob/support"]

    async def status() -> str:
        async with kernel(console.data) as k:
            return (await k.sessions.get(sid)).status.value

    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert client.get(f"/sessions/{sid}/suspend").status == 200  # only the confirmation page
    assert client.get(f"/sessions/{sid}/suspend", method="POST", headers=form, body=b"csrf=forged").status == 403
    assert client.get(f"/sessions/{sid}/delete", method="POST", headers=form, body=b"").status == 403
    assert client.get(f"/sessions/{sid}/explode", method="POST", headers=form, body=b"").status == 404
    assert client.get(f"/sessions/{sid}/suspend", method="POST", headers=form, body=b"x" * 10_000).status == 413
    assert client.get(f"/sessions/{sid}", method="DELETE").status == 405
    assert run_async(status()) == "active"
    page = client.get(f"/sessions/{sid}/suspend").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    done = client.get(f"/sessions/{sid}/suspend", method="POST", headers=form, body=f"csrf={csrf.group(1)}".encode())
    assert done.status == 303 and done.headers["location"] == f"/sessions/{sid}?done=suspended"
    assert run_async(status()) == "suspended"


def test_browsing_changes_nothing(client: Client, console: Console) -> None:
    async def snapshot() -> tuple[object, ...]:
        async with kernel(console.data) as k:
            sessions = [(s.id, s.version, s.status.value) for s in (await k.sessions.list(limit=100)).items]
            streams = [(s.name, s.last_seq) for s in await k.events.streams() if s.name != "system"]
            state = [(i.key, i.version) async for i in k.state.scope("session", console.session).scan()]
            artifacts = [(m.ref.name, m.ref.version) for m in (await k.artifacts.list(limit=100)).items]
            return sessions, streams, state, artifacts

    before = run_async(snapshot())
    sid = console.session
    for path in ("/sessions", f"/sessions/{sid}", f"/sessions/{sid}?before=5", f"/sessions/{sid}/runs",
                 f"/sessions/{sid}/state?key=chat/billing", f"/sessions/{sid}/artifact/report.md",
                 f"/sessions/{sid}/download/report.md", "/plugins", f"/sessions/{sid}/delete",
                 f"/sessions/{sid}/suspend"):
        assert client.get(path).status == 200, path
    assert run_async(snapshot()) == before


def test_no_file_of_the_data_directory_is_reachable(client: Client, console: Console) -> None:
    for file in sorted(p for p in Path(console.data).rglob("*") if p.is_file())[:20]:
        rel = file.relative_to(console.data).as_posix()
        for path in (f"/{rel}", f"/static/{rel}", f"/sessions/{console.session}/download/{rel}"):
            answer = client.get(path)
            assert answer.status in (400, 404), path
            never_leaks(answer)
