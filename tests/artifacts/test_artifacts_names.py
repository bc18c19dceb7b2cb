"""Hostile names and ids are refused, and nothing is ever written outside the store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from llmspell.errors import ValidationError
from llmspell.plugins.artifacts.api import ArtifactRef, ArtifactScope
from llmspell.plugins.artifacts.backend import check_name

HOSTILE_NAMES = {
    "parent": "../x",
    "absolute": "/etc/passwd",
    "inner parent": "a/../../b",
    "dot segment": "a/./b",
    "trailing slash": "a/",
    "double slash": "a//b",
    "NUL": "a\x00b",
    "NUL at end": "report.md\x00.png",
    "4 KiB long": "a" * 4096,
    "257 chars": "b" * 257,
    "backslash": "..\\..\\x",
    "windows drive": "C:\\Windows\\x",
    "colon": "a:b",
    "newline": "a\nb",
    "escape": "\x1b[31mred",
    "empty": "",
    "fullwidth dots": "\uff0e\uff0e/x",
    "fullwidth slash": "..\uff0fx",
    "division slash": "..\u2215x",
    "fraction slash": "..\u2044etc\u2044passwd",
    "one dot leader": "\u2024\u2024/x",
    "combining overlay": "a\u0338b",
    "zero width space": "re\u200bport",
    "right-to-left override": "file\u202egnp.exe",
    "cyrillic look-alike": "p\u0430ypal.com",
    "greek look-alike": "\u03bfpen.txt",
    "ideographic space": "a\u3000b",
    "leading space segment": " a/b",
    "at sign": "a@2",
}

GOOD_NAMES = ["report.md", "reports/2025/q1.md", "résumé.pdf", "данные.csv", "图表 1.png", "a-b_c~d+e=f,(g)[h]!.txt"]


@pytest.mark.parametrize("name", list(HOSTILE_NAMES.values()), ids=list(HOSTILE_NAMES))
def test_hostile_names_are_rejected(name: str) -> None:
    with pytest.raises(ValidationError, match="invalid artifact name"):
        check_name(name)


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_good_names_pass(name: str) -> None:
    assert check_name(name) == name


def _snapshot(root: Path) -> dict[str, tuple[int, float]]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            st = os.stat(p)
            out[p] = (st.st_size, st.st_mtime)
    return out


async def test_nothing_outside_the_root(tmp_path: Path, make_kernel: Any) -> None:
    outer = tmp_path / "outer"
    data_dir = outer / "data"
    (outer / "etc").mkdir(parents=True)
    (outer / "etc" / "passwd").write_text("root:x:0:0")
    kernel = make_kernel(data_dir=data_dir)
    async with kernel:
        arts = kernel.artifacts
        await arts.save("legit.txt", b"ok", user_id="u1")
        store_root = data_dir / "artifacts"
        before = _snapshot(outer)
        for name in HOSTILE_NAMES.values():
            with pytest.raises(ValidationError):
                await arts.save(name, b"evil", user_id="u1")
            with pytest.raises(ValidationError):
                await arts.load(name, user_id="u1")
            with pytest.raises(ValidationError):
                await arts.delete(name, user_id="u1")
        for ident in ["../..", "..", "a/b", "/etc", "x\x00", "", "é"]:
            with pytest.raises(ValidationError):
                await arts.save("x.txt", b"evil", session_id=ident)
            with pytest.raises(ValidationError):
                await arts.save("x.txt", b"evil", scope=ArtifactScope.user(ident))
            with pytest.raises(ValidationError):
                await arts.load(ArtifactRef("user", ident, "x.txt", 1))
        with pytest.raises(ValidationError):
            await arts.load("artifact:user/../../etc/passwd@1")
        with pytest.raises(ValidationError):
            await arts.store.stat("../../etc/passwd")
        after = _snapshot(outer)
        changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
        assert all(Path(p).is_relative_to(store_root) for p in changed), changed
        assert (outer / "etc" / "passwd").read_text() == "root:x:0:0"
        assert [m.ref.name for m in (await arts.list()).items] == ["legit.txt"]
