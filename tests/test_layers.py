"""The layer rules, read from the source: who may import what (docs/architecture.md, "Layers").

* the kernel (``kernel/``, imported as ``llmspell``) imports no plugin and no contrib module
  at run time (imports under ``if TYPE_CHECKING:`` are for the typed accessors);
* a plugin imports the kernel, its own package and other capabilities' ``api`` and
  ``backend`` modules;
* contrib imports the kernel, the capabilities' ``api``/``backend`` modules and its own
  package;
* a capability's modules other than ``api`` and ``backend`` (and ``__init__``/``__main__``) are
  underscored, so what is public is plain from the names;
* nobody imports another package's underscore modules; the underscore modules at the root
  of ``plugins/`` and ``contrib/`` (the embedded store, the adapters' bridge) are shared by
  that layer's packages.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"kernel": "llmspell", "plugins": "llmspell.plugins", "contrib": "llmspell.contrib"}
PUBLIC = ("api", "backend")


def modules() -> Iterator[tuple[str, Path]]:
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if folder == "kernel" and parts[0] in ("plugins", "contrib"):
                continue
            name = ".".join((package, *parts)).removesuffix(".__init__")
            yield name, path


def imports(name: str, path: Path) -> Iterator[tuple[int, str]]:
    """(line, imported module or name) of every run-time import, relative imports resolved.

    ``from a.b import c`` counts as importing ``a.b.c`` (a module or a name), except from an
    ``api`` or ``backend`` module, which counts as importing that module.
    """
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            if base.rpartition(".")[2] in PUBLIC:
                yield node.lineno, base
            else:
                for alias in node.names:
                    yield node.lineno, f"{base}.{alias.name}"


def layer(module: str) -> str:
    """``kernel``, ``plugins`` or ``contrib``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ("plugins", "contrib") else "kernel"


def package(module: str) -> str:
    """The package a module belongs to: ``llmspell`` for the kernel, else ``llmspell.<layer>.<name>``."""
    return "llmspell" if layer(module) == "kernel" else ".".join(module.split(".")[:3])


def problem(importer: str, target: str) -> str | None:
    """Which rule importing ``target`` from ``importer`` breaks, or None."""
    if target.split(".")[0] != "llmspell":
        return None
    mine, theirs = package(importer), package(target)
    if layer(importer) == "kernel":
        return None if layer(target) == "kernel" else "the kernel imports no plugin or contrib module"
    shared = layer(target) == layer(importer) != "kernel" and theirs.rpartition(".")[2].startswith("_")
    if theirs == mine or shared:
        return None  # its own package, or a helper module its layer's packages share (plugins/_x.py)
    inner = target.split(".")[1 if theirs == "llmspell" else 3 :]
    if any(part.startswith("_") and not part.startswith("__") for part in inner):
        return "nobody imports another package's underscore modules"
    if layer(target) == "kernel":
        return None
    if layer(importer) == "plugins" and layer(target) == "contrib":
        return "a plugin imports no contrib module"
    if inner and inner[0] in PUBLIC:
        return None
    return "another capability is reached through its api or backend only"


def violations() -> list[str]:
    found = []
    for name, path in modules():
        for line, target in imports(name, path):
            why = problem(name, target)
            if why:
                found.append(f"{path.relative_to(ROOT)}:{line}: {target}: {why}")
    return sorted(set(found))


def test_every_import_keeps_to_its_layer() -> None:
    found = violations()
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("importer", "target", "rule"),
    [
        ("llmspell.kernel", "llmspell.plugins.state.api", "the kernel imports no plugin"),
        ("llmspell.plugins.sessions._manager", "llmspell.plugins.state.diskcache_backend", "through its api or backend"),
        ("llmspell.contrib.redis.state", "llmspell.plugins.events._logutil", "underscore modules"),
        ("llmspell.plugins.state._service", "llmspell._loader", "underscore modules"),
        ("llmspell.plugins.agents._calls", "llmspell.contrib.otel", "a plugin imports no contrib module"),
    ],
)
def test_the_rules_catch_what_they_forbid(importer: str, target: str, rule: str) -> None:
    assert rule in (problem(importer, target) or "")


@pytest.mark.parametrize(
    ("importer", "target"),
    [
        ("llmspell.plugins.sessions._manager", "llmspell.plugins.state.api"),
        ("llmspell.contrib.redis.state", "llmspell.plugins.state.backend"),
        ("llmspell.plugins.state._service", "llmspell.plugins.state._codec"),
        ("llmspell.plugins.events._disklog", "llmspell.plugins._diskcache.open_cache"),
        ("llmspell.contrib.langgraph.saver", "llmspell.contrib._interop.Bridge"),
        ("llmspell.contrib.langgraph.saver", "llmspell.errors"),
    ],
)
def test_the_rules_allow_what_the_architecture_allows(importer: str, target: str) -> None:
    assert problem(importer, target) is None


def test_a_type_checking_import_is_allowed_and_a_function_level_one_is_not(tmp_path: Path) -> None:
    path = tmp_path / "kernel.py"
    path.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from llmspell.plugins.state.api import StateService\n"
        "def f():\n"
        "    from llmspell.plugins import DEFAULTS\n"
        "from llmspell import plugins\n"
    )
    found = sorted((line, t) for line, t in imports("llmspell.kernel", path) if problem("llmspell.kernel", t))
    assert found == [(5, "llmspell.plugins.DEFAULTS"), (6, "llmspell.plugins")]


#: The pages whose code a plugin or backend author copies.
DOCS = [ROOT / "docs" / "plugins.md", *sorted((ROOT / "docs" / "backends").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_examples_in_the_docs_keep_to_the_rules_of_third_party_code(doc: Path, tmp_path: Path) -> None:
    """A plugin author's example imports the kernel, api and backend modules (and the test kit) only."""
    found = []
    for n, block in enumerate(BLOCK.findall(doc.read_text())):
        path = tmp_path / f"block{n}.py"
        path.write_text(block)
        try:
            found += [target for _, target in imports("llmspell.contrib.example.doc", path)
                      if problem("llmspell.contrib.example.doc", target)
                      and not target.startswith("llmspell.contrib.testing.")]
        except SyntaxError:  # a fragment, not a module (the Sybil run checks the runnable ones)
            continue
    assert not found, f"{doc.name} shows imports a third party may not use: {found}"


def exposed(plugins: Path) -> list[str]:
    """The modules and subpackages of each capability in ``plugins`` that are neither its
    ``api``, its ``backend``, its ``__init__``/``__main__`` nor underscored."""
    found = []
    for capability in sorted(p for p in plugins.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        for entry in sorted(capability.iterdir()):
            module = entry.suffix == ".py" or (entry / "__init__.py").is_file()
            if module and not entry.name.startswith("_") and entry.stem not in PUBLIC:
                found.append(f"{capability.name}/{entry.name}")
    return found


def test_a_capability_shows_only_its_api_and_backend() -> None:
    assert exposed(ROOT / "plugins") == [], "implementation modules must be underscored"


def test_an_implementation_module_without_underscore_is_found(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "parts").mkdir(parents=True)
    for name in ("__init__.py", "api.py", "backend.py", "_store.py", "service.py", "parts/__init__.py", "notes.txt"):
        (state / name).write_text("")
    assert exposed(tmp_path) == ["state/parts", "state/service.py"]
