"""Documentation stays in step with the code."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

from llmspell import hooks, hookspecs
from llmspell.kernel import REGISTRATION_HOOKS

ROOT = Path(__file__).resolve().parent.parent

#: Hooks the kernel calls itself (everything else is a registration hook or a hook point).
LIFECYCLE = {
    "llmspell_register_config",
    "llmspell_configure",
    "llmspell_register_services",
    "llmspell_startup",
    "llmspell_shutdown",
    "llmspell_register_commands",
    "llmspell_context_enrich",
}


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_hooks", ROOT / "docs" / "gen_hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def specs() -> list[str]:
    return [n for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("llmspell_")]


def test_hook_reference_is_generated_from_the_specs():
    expected = load_generator().render()
    actual = (ROOT / "docs" / "hooks.md").read_text()
    assert actual == expected, "docs/hooks.md is stale: run python docs/gen_hooks.py"


def test_every_hook_is_called_by_something():
    points = {f"llmspell_{p}" for p in hooks.POINTS}
    for name in specs():
        assert name in points | set(REGISTRATION_HOOKS) | LIFECYCLE, f"{name} has no caller"
    for point in hooks.POINTS:
        assert f"llmspell_{point}" in specs(), f"hook point {point} has no hookspec"


def test_every_hook_has_a_docstring():
    for name in specs():
        doc = getattr(hookspecs, name).__doc__ or ""
        assert len(doc.strip()) > 40, f"{name} needs a docstring saying when it is called"


def test_readme_test_command_is_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci.startswith("python3 -m venv .venv")
    assert ci in (ROOT / "README.md").read_text()
