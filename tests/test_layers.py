"""Layers: the kernel imports nothing from the plugins or contrib at run time.

``kernel/`` holds the contract and the machinery; the capabilities are plugins that the
kernel finds through entry points and services registered by capability name. Imports
under ``if TYPE_CHECKING:`` (for the typed accessors) are allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = ("llmspell.plugins", "llmspell.contrib")


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every import outside ``if TYPE_CHECKING:`` blocks, at any depth."""
    found: list[tuple[int, str]] = []

    def walk(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for other in child.orelse:
                    walk(other)
                continue
            if isinstance(child, ast.Import):
                found.extend((child.lineno, alias.name) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:  # relative: inside the kernel package
                    continue
                module = child.module or ""
                found.extend((child.lineno, f"{module}.{alias.name}") for alias in child.names)
                found.append((child.lineno, module))
            walk(child)

    walk(tree)
    return found


def _forbidden(module: str) -> bool:
    return any(module == f or module.startswith(f + ".") for f in FORBIDDEN)


def test_the_kernel_imports_no_plugin_or_contrib_module_at_run_time():
    offenders = []
    for path in sorted((ROOT / "kernel").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        offenders += [
            f"{path.relative_to(ROOT)}:{line}: {module}"
            for line, module in runtime_imports(tree)
            if _forbidden(module)
        ]
    assert not offenders, "the kernel imports plugins or contrib at run time:\n" + "\n".join(offenders)


def test_the_check_sees_imports_in_functions_and_allows_type_checking_blocks():
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from llmspell.plugins.state.api import StateService\n"
        "def f():\n"
        "    from llmspell.plugins import DEFAULT_ORDER\n"
        "    import llmspell.contrib.testing\n"
        "from llmspell import plugins\n"
    )
    modules = [m for _, m in runtime_imports(ast.parse(source)) if _forbidden(m)]
    assert modules == ["llmspell.plugins.DEFAULT_ORDER", "llmspell.plugins", "llmspell.contrib.testing",
                       "llmspell.plugins"]
