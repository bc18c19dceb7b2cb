"""The ``code`` template: generate -> check in a subprocess -> save files as artifacts.

The model is asked for one Python module (in a fenced block) with ``test_*`` functions.
The code is written to a temporary directory and checked in a separate Python process:
it must compile, import, and every ``test_*`` function must pass; each of
``check_commands`` (e.g. ``"{python} -m ruff check {path}"``) must exit 0 too. On failure
the errors go back to the model, up to ``max_attempts``. The module and the check log
are returned as artifacts. A check that runs over ``timeout`` seconds is killed.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import attrs

from llmspell.context import ExecutionContext
from llmspell.plugins.agents.api import AgentOutput, AgentRequest, ArtifactOutput, Message

from ..api import AgentConfig, BaseAgent

__all__ = ["CodeAgent", "CodeConfig", "check_code", "extract_code"]

PROMPT = ("You write Python code. Reply with one ```python block holding a complete module that solves the task "
          "and includes test_ functions using assert.")
RUNNER = r"""
import importlib.util, sys, traceback
path = sys.argv[1]
spec = importlib.util.spec_from_file_location("candidate", path)
module = importlib.util.module_from_spec(spec)
try:
    spec.loader.exec_module(module)
except BaseException:
    traceback.print_exc(limit=2); sys.exit(2)
tests = [n for n in sorted(vars(module)) if n.startswith("test_") and callable(getattr(module, n))]
failed = 0
for name in tests:
    try:
        getattr(module, name)()
        print(f"PASS {name}")
    except BaseException as exc:
        failed += 1
        print(f"FAIL {name}: {type(exc).__name__}: {exc}")
print(f"{len(tests) - failed} passed, {failed} failed")
sys.exit(1 if failed or not tests else 0)
"""


def extract_code(text: str) -> str:
    match = re.search(r"```(?:python|py)?\s*\n(.*?)```", text, re.S)
    return (match.group(1) if match else text).strip() + "\n"


async def _run(argv: list[str], cwd: str, timeout: float) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return -9, f"killed after {timeout} s"
    return proc.returncode or 0, out.decode(errors="replace")


async def check_code(code: str, filename: str, commands: list[str], timeout: float) -> tuple[bool, str]:
    """Run the checks in subprocesses; returns (passed, log)."""
    with tempfile.TemporaryDirectory(prefix="llmspell-code-") as tmp:
        path = Path(tmp) / filename
        path.write_text(code, encoding="utf-8")
        log = []
        rc, out = await _run([sys.executable, "-I", "-c", RUNNER, str(path)], tmp, timeout)
        log.append(f"$ python tests {filename} (exit {rc})\n{out.strip()}")
        ok = rc == 0
        for command in commands:
            argv = [a.format(python=sys.executable, path=str(path)) for a in shlex.split(command)]
            rc, out = await _run(argv, tmp, timeout)
            log.append(f"$ {command} (exit {rc})\n{out.strip()}")
            ok = ok and rc == 0
        return ok, "\n\n".join(log).replace(tmp, ".") + "\n"


@attrs.frozen
class CodeConfig(AgentConfig):
    """Settings of a code agent."""

    filename: str = "solution.py"
    """File name the code is written to and checked as."""
    max_attempts: int = 3
    """Rounds of writing and checking before the agent gives up."""
    check_commands: list[str] = attrs.Factory(list)
    """Extra checks, each a command line; ``{python}`` and ``{path}`` are filled in."""
    timeout: float = 60.0
    """Seconds each check command may run."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*\.py", self.filename):
            raise ValueError(f"filename must be a plain Python module name like solution.py, got {self.filename!r}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")


@attrs.define(eq=False, kw_only=True)
class CodeAgent(BaseAgent):
    """Writes a Python module, checks it in a subprocess, and saves it as an artifact."""

    Config: ClassVar[type[AgentConfig]] = CodeConfig
    type_name: ClassVar[str] = "code"
    default_capabilities: ClassVar[tuple[str, ...]] = ("code", "artifacts")
    config: CodeConfig = attrs.field(factory=CodeConfig)

    async def execute(self, request: AgentRequest, ctx: ExecutionContext) -> AgentOutput:
        cfg = self.config
        messages = [Message.system(cfg.system or PROMPT), *request.history, Message.user(request.text)]
        attempts: list[dict[str, Any]] = []
        code, log, ok = "", "", False
        for attempt in range(1, cfg.max_attempts + 1):
            response = await self.model(messages, ctx, tools=())
            code = extract_code(response.content)
            ok, log = await check_code(code, cfg.filename, cfg.check_commands, cfg.timeout)
            attempts.append({"attempt": attempt, "passed": ok})
            self.report("check", {"attempt": attempt, "passed": ok})
            if ok:
                break
            messages += [response.message, Message.user(f"The checks failed:\n{log}\nFix the code and reply with the whole module.")]
        stem = cfg.filename.removesuffix(".py")
        summary = f"{cfg.filename}: checks {'passed' if ok else 'failed'} after {len(attempts)} attempt(s)"
        return AgentOutput(
            content=summary,
            data={"passed": ok, "attempts": attempts, "filename": cfg.filename},
            artifacts=(
                ArtifactOutput(cfg.filename, code.encode(), "text/x-python", tags=("code",)),
                ArtifactOutput(f"{stem}.check.log", log.encode(), "text/plain", tags=("code", "check")),
            ),
            metadata={"passed": ok},
        )
