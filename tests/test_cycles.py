"""No import cycle among llmspell's modules (kernel, plugins and contrib), read from the source (docs/architecture.md, "Layers").

The graph has one node per module of ``kernel/``, ``plugins/`` and ``contrib/`` (``llmspell.*``) and an edge for each
run-time import of another such module: at the top of a module or inside a function, but not
under ``if TYPE_CHECKING:`` (the imports are read the way ``tests/test_layers.py`` reads them).
``from a.b import c`` is an edge to the module ``a.b.c`` when there is one, else to ``a.b``.
A package that Python initialises before one of its modules is not an edge: a package's
``__init__`` importing its own modules is the usual shape, not a cycle.

Any strongly connected set of two or more modules (or a module importing itself) fails the
test, with the modules and the import lines that tie them together.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from tests.test_layers import ROOT, imports, modules

PREFIX = "llmspell"


def graph() -> dict[str, dict[str, list[str]]]:
    """``{importer: {imported: ["path:line", ...]}}`` for every llmspell module."""
    found = {name: path for name, path in modules() if name == PREFIX or name.startswith(PREFIX + ".")}
    edges: dict[str, dict[str, list[str]]] = {name: {} for name in found}
    for name, path in found.items():
        for line, target in imports(name, path):
            module = target if target in found else target.rpartition(".")[0]
            if module in found:
                where = f"{Path(path).relative_to(ROOT)}:{line}"
                edges[name].setdefault(module, []).append(where)
    return edges


def cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected sets of two or more nodes, or of one node with an edge to itself
    (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1 or node in edges.get(node, ()):
                        found.append(sorted(group))
    return sorted(found)


def describe(group: list[str], edges: Mapping[str, Mapping[str, list[str]]]) -> str:
    members = set(group)
    lines = [" <-> ".join(group)]
    for importer in group:
        for target, where in sorted(edges[importer].items()):
            if target in members:
                lines.append(f"    {importer} -> {target} ({', '.join(where)})")
    return "\n".join(lines)


def test_no_import_cycle_anywhere() -> None:
    edges = graph()
    assert any(name.startswith("llmspell.contrib.") for name in edges), "no contrib module found"
    found = cycles(edges)
    assert not found, "import cycles:\n" + "\n".join(describe(group, edges) for group in found)


def test_the_cycle_finder_finds_cycles_and_only_cycles() -> None:
    assert cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]
    assert cycles({"a": ["a"], "b": []}) == [["a"]]
    assert cycles({"a": ["b", "c"], "b": ["c"], "c": []}) == []
    assert cycles({"a": ["b"], "b": ["a"], "c": ["d"], "d": ["c"]}) == [["a", "b"], ["c", "d"]]


def test_a_function_level_import_is_an_edge_and_a_type_checking_one_is_not(tmp_path: Path) -> None:
    path = tmp_path / "mod.py"
    path.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from llmspell.plugins.state._service import StateManager\n"
        "def f():\n"
        "    from llmspell.plugins.state import _bulk\n"
    )
    targets = [target for _, target in imports("llmspell.plugins.state.x", path) if target.startswith("llmspell.")]
    assert targets == ["llmspell.plugins.state._bulk"]
