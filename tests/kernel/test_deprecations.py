"""Deprecations live in one place with one warning class (``llmspell.errors.deprecated``)."""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import pytest

from llmspell.errors import LlmspellDeprecationWarning, deprecated

ROOT = Path(__file__).resolve().parents[2]


def _old_style(path: Path, root: Path = ROOT) -> list[str]:
    """``warnings.warn(...)`` calls of ``path`` that name ``DeprecationWarning`` themselves."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and ast.unparse(node.func) in ("warnings.warn", "warn"):
            if any(isinstance(n, ast.Name) and n.id == "DeprecationWarning" for n in ast.walk(node)):
                found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_every_deprecation_goes_through_the_one_warning_class() -> None:
    found = [hit for folder in ("kernel", "plugins", "contrib") for path in sorted((ROOT / folder).rglob("*.py"))
             for hit in _old_style(path)]
    assert found == [], "warn with llmspell.errors.deprecated(...), not warnings.warn(..., DeprecationWarning)"


def test_the_check_finds_an_old_style_deprecation(tmp_path: Path) -> None:
    module = tmp_path / "old.py"
    module.write_text("import warnings\nwarnings.warn('x', UserWarning)\nwarnings.warn('y', DeprecationWarning)\n")
    assert [hit.rpartition(":")[2] for hit in _old_style(module, tmp_path)] == ["3"]


def test_a_deprecation_is_a_deprecation_warning_pointing_at_the_callers_caller() -> None:
    def old_api() -> None:
        deprecated("old_api() is deprecated: use new_api()")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old_api()  # the line the warning must name
    (warning,) = caught
    assert issubclass(warning.category, LlmspellDeprecationWarning)
    assert issubclass(warning.category, DeprecationWarning)
    assert warning.filename == __file__ and "old_api()  # the line" in Path(__file__).read_text().splitlines()[warning.lineno - 1]
    with pytest.raises(LlmspellDeprecationWarning), warnings.catch_warnings():
        warnings.simplefilter("error", LlmspellDeprecationWarning)
        old_api()
