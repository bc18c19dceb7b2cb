"""No class declares attributes that another class sets (docs/architecture.md, "Layers").

A mixin that works on its host's state declares the host's attributes (``nc: Any``,
``_errors: tuple[...]``) so that the type checker accepts ``self.nc``; composition passes the
collaborator in instead, and each attribute has one owner. The test reads every class of
``kernel/``, ``plugins/`` and ``contrib/``: a bare class-level annotation (one without a value)
names an attribute that the class assigns itself (``self.x = ...`` in one of its methods).
Data classes (attrs, dataclasses), protocols, ``TypedDict`` and ``NamedTuple`` are exempt, since
their bare annotations are fields, and so are the few bases listed in ``DECLARED_FOR_OTHERS``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.test_layers import ROOT, modules

DECLARED_FOR_OTHERS = {
    "llmspell.hooks.Hooks": "its __init__ sets each hook with setattr; the annotations give their types",
    "llmspell.plugins.agents.api.StatefulAgent": "an ABC: ``name`` is part of what an agent provides",
    "llmspell.plugins.state.backend.StateBackendBase": "a base for backend authors, whose subclasses set "
                                                       "``name`` and ``persistent`` (documented there)",
}
_FIELDS = ("attrs.", "attr.", "define", "frozen", "mutable", "dataclass")
_FIELD_BASES = ("Protocol", "TypedDict", "NamedTuple")


def _is_data(cls: ast.ClassDef) -> bool:
    decorators = [ast.unparse(d) for d in cls.decorator_list]
    bases = [ast.unparse(b) for b in cls.bases]
    return (any(d.startswith(_FIELDS) or d.split("(")[0].endswith(_FIELDS) for d in decorators)
            or any(b.split("[")[0].endswith(_FIELD_BASES) for b in bases))


def _assigned(cls: ast.ClassDef) -> set[str]:
    """The attributes a class's methods assign as ``self.<name>``."""
    names = set()
    for node in ast.walk(cls):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        else:
            continue
        for target in targets:
            for part in ast.walk(target):
                if isinstance(part, ast.Attribute) and isinstance(part.value, ast.Name) and part.value.id == "self":
                    names.add(part.attr)
    return names


def borrowed(module: str, path: Path) -> Iterator[tuple[str, int, list[str]]]:
    """(class, line, attributes) for each class of the module that declares attributes it never assigns."""
    tree = ast.parse(path.read_text(), str(path))
    for cls in ast.walk(tree):
        if not isinstance(cls, ast.ClassDef) or _is_data(cls):
            continue
        declared = [node.target.id for node in cls.body
                    if isinstance(node, ast.AnnAssign) and node.value is None and isinstance(node.target, ast.Name)]
        missing = sorted(set(declared) - _assigned(cls))
        if missing:
            yield f"{module}.{cls.name}", cls.lineno, missing


def test_no_class_declares_attributes_it_does_not_own() -> None:
    found = []
    exempt = set()
    for module, path in modules():
        for name, line, missing in borrowed(module, path):
            if name in DECLARED_FOR_OTHERS:
                exempt.add(name)
                continue
            found.append(f"{path.relative_to(ROOT)}:{line} {name} declares {', '.join(missing)} without setting them")
    assert not found, "attributes declared for another class (pass the owner in instead):\n" + "\n".join(found)
    assert exempt == set(DECLARED_FOR_OTHERS), f"stale entries in DECLARED_FOR_OTHERS: {set(DECLARED_FOR_OTHERS) - exempt}"


def test_the_check_finds_a_mixin_and_passes_data_classes_and_owners(tmp_path: Path) -> None:
    path = tmp_path / "mod.py"
    path.write_text(
        "import attrs\n"
        "from typing import Any, Protocol\n"
        "class Ops:\n"
        "    nc: Any\n"
        "    _errors: tuple[type[BaseException], ...]\n"
        "    def send(self) -> None:\n"
        "        self.nc.publish()\n"
        "class Owner:\n"
        "    nc: Any\n"
        "    def __init__(self) -> None:\n"
        "        self.nc = None\n"
        "@attrs.frozen\n"
        "class Data:\n"
        "    nc: Any\n"
        "class Shape(Protocol):\n"
        "    nc: Any\n"
    )
    assert list(borrowed("m", path)) == [("m.Ops", 3, ["_errors", "nc"])]
