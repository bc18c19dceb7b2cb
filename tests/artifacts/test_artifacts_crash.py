"""A process killed with SIGKILL in the middle of a large save loses nothing but that save."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from llmspell import Principal

SCRIPT = textwrap.dedent(
    """
    import asyncio, os, sys, time
    from llmspell import Kernel

    data_dir, mode, config = sys.argv[1], sys.argv[2], sys.argv[3]

    async def main():
        settings = {"artifacts": {"lease_seconds": 1, "codecs": ["zstd"] if mode == "upload-zstd" else []}}
        async with Kernel(settings, data_dir=data_dir, env={"LLMSPELL_CONFIG": config}) as kernel:
            await kernel.artifacts.save("big.bin", b"version one", user_id="u1")
            if mode in ("after-blob", "after-small-blob"):
                def stall(*args, **kwargs):
                    print("blob-committed", flush=True)
                    time.sleep(3600)
                kernel.artifacts.index.commit = stall
            if mode == "after-small-blob":
                await kernel.artifacts.save("big.bin", b"version two", user_id="u1")

            async def chunks():
                block = os.urandom(1 << 20)
                i = 0
                while True:
                    i += 1
                    yield block
                    if i == 16:
                        print("streaming", flush=True)
                    if mode == "after-blob" and i == 32:
                        return

            await kernel.artifacts.save("big.bin", chunks(), user_id="u1")

    asyncio.run(main())
    """
)


def _run_and_kill(tmp_path: Path, llmspell_env: dict[str, str], mode: str, marker: str) -> None:
    script = tmp_path / "saver.py"
    script.write_text(SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "data"), mode, llmspell_env["LLMSPELL_CONFIG"]],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=llmspell_env, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                pytest.fail(f"saver exited early: {proc.wait()} {proc.stderr.read() if proc.stderr else ''}")
            if line.strip() == marker:
                break
        time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["upload", "upload-zstd"])
async def test_sigkill_during_upload(tmp_path: Path, llmspell_env: dict[str, str], make_kernel: Any, mode: str) -> None:
    _run_and_kill(tmp_path, llmspell_env, mode, "streaming")
    uploads = tmp_path / "data" / "artifacts" / "store" / "uploads"
    assert [p for p in uploads.iterdir() if p.suffix == ".part"], "the kill should leave a partial upload"
    async with make_kernel(data_dir=tmp_path / "data") as kernel:
        arts = kernel.artifacts
        assert [m.ref.version for m in await arts.versions("big.bin", user_id="u1")] == [1]
        assert await arts.load("big.bin", user_id="u1") == b"version one"
        dry = await arts.gc(dry_run=True, grace=0)
        assert len(dry.uploads) == 1 and dry.blobs == () and dry.bytes_freed >= 8 << 20
        report = await arts.gc(grace=0, principal=Principal.system())
        assert report.uploads == dry.uploads and report.bytes_freed == dry.bytes_freed
        assert not any(uploads.iterdir())
        assert await arts.load("big.bin", user_id="u1") == b"version one"


@pytest.mark.slow
async def test_sigkill_between_blob_and_metadata(tmp_path: Path, llmspell_env: dict[str, str], make_kernel: Any) -> None:
    _run_and_kill(tmp_path, llmspell_env, "after-blob", "blob-committed")
    blobs = tmp_path / "data" / "artifacts" / "store" / "blobs"
    assert len([p for p in blobs.rglob("*") if p.is_file()]) == 1  # the orphan (version one's blob is small)
    assert len(_small_blobs(tmp_path)) == 1  # version one's
    await asyncio.sleep(1.1)  # the crashed save's lease runs out
    async with make_kernel(data_dir=tmp_path / "data") as kernel:
        arts = kernel.artifacts
        assert [m.ref.version for m in await arts.versions("big.bin", user_id="u1")] == [1]
        report = await arts.gc(grace=0)
        assert len(report.blobs) == 1 and report.bytes_freed == 32 << 20
        assert len([p for p in blobs.rglob("*") if p.is_file()]) == 0
        assert await arts.load("big.bin", user_id="u1") == b"version one"
        assert (await arts.save("big.bin", b"version two", user_id="u1")).version == 2


def _small_blobs(tmp_path: Path) -> list[bytes]:
    db = sqlite3.connect(tmp_path / "data" / "artifacts" / "index.sqlite3")
    try:
        return [bytes(r[0]) for r in db.execute("SELECT data FROM store_small_blobs ORDER BY key")]
    finally:
        db.close()


@pytest.mark.slow
async def test_sigkill_between_small_blob_and_metadata(tmp_path: Path, llmspell_env: dict[str, str], make_kernel: Any) -> None:
    """A small blob is committed with its version, in the index's one transaction: a save
    killed before its commit leaves nothing behind, and the previous version intact."""
    _run_and_kill(tmp_path, llmspell_env, "after-small-blob", "blob-committed")
    assert _small_blobs(tmp_path) == [b"version one"]
    uploads = tmp_path / "data" / "artifacts" / "store" / "uploads"
    assert not any(uploads.iterdir())
    async with make_kernel(data_dir=tmp_path / "data") as kernel:
        arts = kernel.artifacts
        assert [m.ref.version for m in await arts.versions("big.bin", user_id="u1")] == [1]
        report = await arts.gc(grace=0)
        assert report.blobs == () and report.uploads == ()
        assert _small_blobs(tmp_path) == [b"version one"]
        assert await arts.load("big.bin", user_id="u1") == b"version one"
        assert (await arts.save("big.bin", b"version two", user_id="u1")).version == 2
        assert await arts.load("big.bin", user_id="u1") == b"version two"


WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from llmspell import Kernel

    async def main():
        async with Kernel(data_dir=sys.argv[1], env={"LLMSPELL_CONFIG": sys.argv[2]}) as kernel:
            for i in range(20):
                await kernel.artifacts.save("shared.txt", b"%s-%d" % (sys.argv[3].encode(), i), user_id="u1")

    asyncio.run(main())
    """
)


def _run_writers(script: Path, data: Path, env: dict[str, str]) -> list[int]:
    procs = [
        subprocess.Popen([sys.executable, str(script), str(data), env["LLMSPELL_CONFIG"], name], env=env)
        for name in ("a", "b")
    ]
    return [p.wait(timeout=60) for p in procs]


@pytest.mark.slow
async def test_processes_share_one_store(tmp_path: Path, llmspell_env: dict[str, str], make_kernel: Any) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    data = tmp_path / "data"
    assert _run_writers(script, data, llmspell_env) == [0, 0]
    async with make_kernel(data_dir=data) as kernel:
        versions = await kernel.artifacts.versions("shared.txt", user_id="u1")
        assert [m.ref.version for m in versions] == list(range(1, 41))
        contents = {await kernel.artifacts.load(m.ref) for m in versions}
        assert contents == {b"%s-%d" % (n, i) for n in (b"a", b"b") for i in range(20)}


SLOW_SAVER = textwrap.dedent(
    """
    import asyncio, os, sys
    from pathlib import Path
    from llmspell import Kernel

    data_dir, config, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])

    async def main():
        async with Kernel({"artifacts": {"codecs": []}}, data_dir=data_dir, env={"LLMSPELL_CONFIG": config}) as kernel:
            async def chunks():
                for i in range(8):
                    yield bytes([i]) * (256 * 1024)
                    if i == 3:
                        print("streaming", flush=True)
                        while not go.exists():
                            await asyncio.sleep(0.05)
            ref = await kernel.artifacts.save("slow.bin", chunks(), user_id="u1")
            print("saved", ref, flush=True)

    asyncio.run(main())
    """
)


def _start(script: Path, data: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(script), str(data), env["LLMSPELL_CONFIG"], *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )


@pytest.mark.slow
async def test_gc_with_no_grace_leaves_an_upload_in_progress_alone(
    tmp_path: Path, llmspell_env: dict[str, str], make_kernel: Any
) -> None:
    script, go = tmp_path / "slow_saver.py", tmp_path / "go"
    script.write_text(SLOW_SAVER)
    uploads = tmp_path / "data" / "artifacts" / "store" / "uploads"
    async with make_kernel(data_dir=tmp_path / "data") as kernel:  # the store exists before the saver starts
        proc = _start(script, tmp_path / "data", llmspell_env, str(go))
        try:
            assert proc.stdout is not None
            line = await asyncio.to_thread(proc.stdout.readline)
            assert line.strip() == "streaming", proc.stderr.read() if proc.stderr else ""
            assert [p for p in uploads.iterdir() if p.suffix == ".part"]  # the upload is being written
            for _ in range(3):
                report = await kernel.artifacts.gc(grace=0, principal=Principal.system())
                assert (report.uploads, report.bytes_freed) == ((), 0)
            assert [p for p in uploads.iterdir() if p.suffix == ".part"]
            go.touch()
            out, err = await asyncio.to_thread(proc.communicate, timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, err
        assert out.startswith("saved ")
        expected = b"".join(bytes([i]) * (256 * 1024) for i in range(8))
        assert await kernel.artifacts.load("slow.bin", user_id="u1") == expected
        assert not [p for p in uploads.iterdir() if p.suffix == ".part"]
