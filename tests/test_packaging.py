"""Packaging: the folder mapping, and a wheel that holds every module and works alone."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAPPING = {"kernel": "llmspell", "plugins": "llmspell.plugins", "contrib": "llmspell.contrib"}


def source_packages() -> set[str]:
    found = set()
    for folder, name in MAPPING.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *rel.parts]))
    return found


def source_modules() -> list[str]:
    modules = []
    for folder, name in MAPPING.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name == "__main__.py":  # runs the command line when imported
                continue
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            modules.append(".".join([name, *parts]))
    return modules


def test_package_list_matches_the_folders():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    assert listed == source_packages(), "pyproject's explicit packages list is out of date"
    assert config["tool"]["setuptools"]["package-dir"] == {v: k for k, v in MAPPING.items()}


def test_every_plugin_module_is_an_entry_point_or_private():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    targets = set(config["project"]["entry-points"]["llmspell"].values())
    for path in sorted((ROOT / "plugins").iterdir()):
        if path.name.startswith("_") or path.suffix not in (".py", ""):
            continue
        module = f"llmspell.plugins.{path.stem}"
        assert module in targets, f"{module} is a default plugin but has no entry point"


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_imports_every_module(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(ROOT)],
        check=True, capture_output=True,
    )
    wheel = next(dist.glob("llmspell-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        # the extras of the contrib plugins whose modules import their libraries at the top
        [str(python), "-m", "pip", "install", "--quiet", f"{wheel}[testing,web,otel]"], check=True, capture_output=True
    )
    script = (
        "import importlib, json, sys\n"
        f"modules = {source_modules()!r}\n"
        "failed = {}\n"
        "from llmspell.errors import MissingExtraError\n"
        "for m in modules:\n"
        "    try: importlib.import_module(m)\n"
        "    except MissingExtraError as e:\n"
        "        if not (m.startswith('llmspell.contrib.') and 'pip install' in str(e)): failed[m] = repr(e)\n"
        "    except Exception as e: failed[m] = repr(e)\n"
        "import llmspell, pathlib\n"
        "typed = (pathlib.Path(llmspell.__file__).parent / 'py.typed').is_file()\n"
        "console = pathlib.Path(llmspell.__file__).parent / 'contrib' / 'console'\n"
        "data = sorted(p.relative_to(console).as_posix() for p in console.rglob('*') if p.suffix in ('.html', '.css', '.js'))\n"
        "print(json.dumps({'failed': failed, 'typed': typed, 'file': llmspell.__file__, 'data': data}))\n"
    )
    out = subprocess.run([str(python), "-c", script], check=True, capture_output=True, text=True, cwd=tmp_path)
    report = json.loads(out.stdout)
    assert report["failed"] == {}
    assert report["typed"]
    shipped = ROOT / "contrib" / "console"
    expected = sorted(p.relative_to(shipped).as_posix() for p in shipped.rglob("*") if p.suffix in (".html", ".css", ".js"))
    assert report["data"] == expected and "templates/session.html" in expected  # the console's templates and static files
    assert str(venv) in report["file"]
    plugins = subprocess.run(
        [str(venv / "bin" / "llmspell"), "plugins", "--json"], check=True, capture_output=True, text=True, cwd=tmp_path
    )
    names = {p["name"] for p in json.loads(plugins.stdout)["plugins"]}
    expected = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["llmspell"])
    assert expected <= names
