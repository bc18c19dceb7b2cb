"""Every Python block and every ``llmspell`` command in README.md and docs/ runs.

The documents are parsed with Sybil; each document is one test, its examples run in
order in one namespace (so a later block sees what an earlier one defined).

Rules:

* Each document runs in a fresh temporary directory, which is also the current
  directory (so ``./llmspell.toml`` and the default ``./.llmspell`` data directory are
  the document's own), with no ``LLMSPELL_*`` variable from the outside. The test sets
  ``LLMSPELL_CONSOLE_PORT=0`` (a console never takes a fixed port), ``BROWSER=true``
  (``--open`` opens nothing) and points the Redis,
  NATS and PostgreSQL backends at the shared test servers under a key prefix and a
  schema of the document's own, removed afterwards for the backend guides.
* ```` ```python ```` blocks run as module code; top-level ``await`` and
  ``async with`` work (one event loop per document). Setup a reader does not need to
  see goes in ``<!-- invisible-code-block: python ... -->``. A block that needs a
  service this machine lacks is preceded by ``<!-- skip: next "reason" -->``.
* In ```` ```bash ````, ```` ```console ```` and ```` ```sh ```` blocks every line that
  starts with ``llmspell`` (or ``$ llmspell``) runs and must exit 0; other lines (pip,
  python, comments) are not run. ``$NAME`` is replaced by the document namespace's
  ``NAME`` (set in an earlier, usually invisible, Python block), else by the environment.
  Commands run in-process through ``llmspell.plugins.cli.main`` with an empty standard input,
  so ``llmspell chat`` ends at end-of-input.
* The servers (``console``, ``worker``, ``mcp serve``) run in a subprocess, started
  when the block reaches them: each must come up (print its first line; with
  ``--http HOST:PORT``, accept connections there) or end by itself with exit 0 (an MCP
  stdio server when its standard input closes), and then stop on Ctrl-C.
* Blocks in other languages (toml, text, ...) are not run; a document uses them by
  writing the file in a Python block where it matters.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import io
import os
import re
import selectors
import shlex
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sybil import Document, Example, Sybil
from sybil.evaluators.python import pad
from sybil.parsers.markdown import CodeBlockParser, SkipParser

from llmspell import Kernel
from tests.contrib._services import NATS_URL, REDIS_URL, drop_nats_prefix, drop_redis_prefix, new_prefix
from tests.contrib.postgres.pg import DSN as PG_DSN
from tests.contrib.postgres.pg import drop_schema, new_schema

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
             *sorted((ROOT / "docs" / "backends").glob("*.md"))]

#: Commands that serve until stopped (matched on the words after global options).
SERVERS = (("console",), ("worker",), ("mcp", "serve"))
#: How long a server may take to print its first line, or to stop, before the test gives up on it.
START_WAIT = 60.0


def run_python(example: Example) -> None:
    """Run a block as module code, awaiting it on the document's loop when it awaits."""
    __tracebackhide__ = True
    source = pad(example.parsed, example.line + example.parsed.line_offset)
    code = compile(source, example.path, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    result = eval(code, example.namespace)
    if code.co_flags & inspect.CO_COROUTINE:
        example.document.loop.run_until_complete(result)  # type: ignore[attr-defined]


def expand(word: str, namespace: dict[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name in namespace:
            return str(namespace[name])
        if name in os.environ:
            return os.environ[name]
        raise AssertionError(f"${name} is neither set by an earlier block nor in the environment")

    return re.sub(r"\$(?:\{(\w+)\}|(\w+))", value, word)


def command_words(args: list[str]) -> list[str]:
    """The words after the global options (``-c FILE``, ``--data-dir DIR``, ...)."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 1 if "=" in args[i] or args[i] == "--debug" else 2
    return args[i:]


def run_in_process(args: list[str]) -> tuple[int, str]:
    from llmspell.plugins.cli import main

    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)  # has .buffer, as sys.stdout
    code = 0
    stdin = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(b""), encoding="utf-8")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.stdin = stdin
    return code, out.buffer.getvalue().decode(errors="replace")  # type: ignore[attr-defined]


def start_server(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from llmspell.plugins.cli import main; main()", *args],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},  # its first line arrives when printed
    )


def listening(proc: subprocess.Popen[str], address: str) -> bool:
    """Wait until the server accepts connections at ``HOST:PORT`` (True) or ends (False)."""
    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + START_WAIT
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


def stop_server(proc: subprocess.Popen[str], args: list[str]) -> tuple[int, str]:
    """Wait until the server is up (its first line, or its ``--http`` port answers) or ended; Ctrl-C it."""
    assert proc.stdout is not None
    ended = False
    if "--http" in args:  # serves without printing anything
        up = listening(proc, args[args.index("--http") + 1])
        first = "(listening)\n" if up else ""
        ended = not up and proc.poll() is not None
    else:
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            ready = bool(selector.select(START_WAIT))
        first = proc.stdout.readline() if ready else ""
        ended = ready and not first  # end of output: the process is ending
    if not first and not ended:  # neither up nor ended: do not hang the suite
        proc.kill()
        rest, _ = proc.communicate()
        return -9, rest + f"\n(not up in {START_WAIT:.0f} s)"
    if proc.poll() is None and first:
        with contextlib.suppress(subprocess.TimeoutExpired):  # a first line that is an error: it is ending
            proc.wait(timeout=1.0)
    if proc.poll() is None and first:
        proc.send_signal(signal.SIGINT)
        try:
            rest, _ = proc.communicate(timeout=START_WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, _ = proc.communicate()
            return -9, first + rest + "\n(did not stop on Ctrl-C)"
        # stopped by Ctrl-C (exit 0, 130, or the signal), not failed before it arrived
        return (0 if proc.returncode in (0, 130, -signal.SIGINT) else proc.returncode), first + rest
    rest, _ = proc.communicate(timeout=START_WAIT)
    return proc.returncode, first + rest


def run_shell(example: Example) -> None:
    """Run the block's llmspell lines in order; its servers start at once and are checked at the end."""
    __tracebackhide__ = True
    servers: list[tuple[str, str, list[str], subprocess.Popen[str]]] = []
    try:
        for offset, raw in enumerate(example.parsed.splitlines()):
            line = raw.strip().removeprefix("$ ")
            if not (line == "llmspell" or line.startswith("llmspell ")):
                continue
            args = [expand(word, example.namespace) for word in shlex.split(line, comments=True)[1:]]
            where = f"{example.path}:{example.line + offset + 1}"
            if any(tuple(command_words(args)[: len(s)]) == s for s in SERVERS):
                servers.append((where, line, args, start_server(args)))
                continue
            code, output = run_in_process(args)
            assert code == 0, f"{where}: `{line}` exited {code}:\n{textwrap.indent(output, '    ')}"
    finally:
        try:
            results = [(where, line, *stop_server(proc, args)) for where, line, args, proc in servers]
        finally:
            for _, _, _, proc in servers:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    for where, line, code, output in results:
        assert code == 0, f"{where}: `{line}` exited {code}:\n{textwrap.indent(output, '    ')}"


SYBIL = Sybil(
    parsers=[
        CodeBlockParser("python", run_python),
        *(CodeBlockParser(language, run_shell) for language in ("bash", "console", "sh")),
        SkipParser(),
    ],
)


@pytest.fixture
def document_dir(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in list(os.environ):
        if name.startswith("LLMSPELL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LLMSPELL_CONSOLE_PORT", "0")
    monkeypatch.setenv("BROWSER", "true")  # `console --open` opens nothing
    # The shared servers, under names of this test's own (dropped afterwards).
    prefix, schema = new_prefix(), new_schema()
    monkeypatch.setenv("LLMSPELL_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("LLMSPELL_REDIS_PREFIX", prefix)
    monkeypatch.setenv("LLMSPELL_NATS_SERVERS", NATS_URL)
    monkeypatch.setenv("LLMSPELL_NATS_PREFIX", prefix)
    monkeypatch.setenv("LLMSPELL_POSTGRES_DSN", PG_DSN)
    monkeypatch.setenv("LLMSPELL_POSTGRES_SCHEMA", schema)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    if request.node.callspec.params["path"].parent.name == "backends":
        drop_redis_prefix(prefix)
        drop_nats_prefix(prefix)
        drop_schema(schema)


@pytest.mark.parametrize("path", DOCUMENTS, ids=[str(p.relative_to(ROOT)) for p in DOCUMENTS])
def test_every_block_is_collected(path: Path) -> None:
    """No block escapes the runner (an indented fence, a language spelt differently ...)."""
    text = path.read_text()
    fences = re.findall(r"^\s*```\s*(python3?|py|pycon|bash|console|sh|shell|shell-session|zsh)\b", text, re.M | re.I)
    collected = [e for e in SYBIL.parse(path).examples() if not e.parsed.startswith("<!--")]
    invisible = len(re.findall(r"^<!-- invisible-code-block: python", text, re.M))
    skips = [e for e in collected if e.region.evaluator is not run_python and e.region.evaluator is not run_shell]
    assert len(collected) - len(skips) == len(fences) + invisible


@pytest.mark.parametrize("path", DOCUMENTS, ids=[str(p.relative_to(ROOT)) for p in DOCUMENTS])
def test_document_runs(path: Path, document_dir: Path) -> None:
    document: Document = SYBIL.parse(path)
    document.namespace["__name__"] = f"doc_{path.stem}"
    loop = asyncio.new_event_loop()
    document.loop = loop  # type: ignore[attr-defined]
    started: dict[int, Kernel] = {}  # every kernel a block left running, even if a later one rebinds its name
    try:
        for example in document.examples():
            example.evaluate()
            started.update((id(v), v) for v in document.namespace.values() if isinstance(v, Kernel) and v.started)
    finally:
        # A document may start a kernel in an invisible block for the blocks that follow.
        started.update((id(v), v) for v in document.namespace.values() if isinstance(v, Kernel) and v.started)
        for kernel in started.values():
            if kernel.started:
                loop.run_until_complete(kernel.stop())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
