"""A 1 GiB artifact streams in and out of a subprocess whose peak RSS grows by under 24 MiB.

Growth, not an absolute cap: what the interpreter, the kernel and any coverage
instrumentation take before the first byte moves is not the artifact store's.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

GIB = 1 << 30

SCRIPT = textwrap.dedent(
    """
    import asyncio, hashlib, json, os, sys
    from llmspell import Kernel

    def peak_kib():
        # VmHWM: this process image's peak RSS (ru_maxrss would include the parent's at fork)
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))

    data_dir, config, codecs, size = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
    settings = {"artifacts": {"codecs": codecs, "key": "33" * 32}}

    async def main():
        async with Kernel(settings, data_dir=data_dir, env={"LLMSPELL_CONFIG": config}) as kernel:
            block = os.urandom(1 << 20)
            sent = hashlib.sha256()
            baseline = peak_kib()

            async def chunks():
                for i in range(size >> 20):
                    chunk = i.to_bytes(8, "big") + block[8:]  # generated on the fly, never kept
                    sent.update(chunk)
                    yield chunk

            ref = await kernel.artifacts.save("huge.bin", chunks(), content_type="application/octet-stream")
            got, n = hashlib.sha256(), 0
            async with await kernel.artifacts.open(ref) as reader:
                async for chunk in reader:
                    got.update(chunk)
                    n += len(chunk)
            meta = await kernel.artifacts.stat(ref)
            print(json.dumps({
                "sent": sent.hexdigest(), "got": got.hexdigest(), "meta": meta.sha256, "size": n,
                "stored": meta.stored_size, "baseline_kib": baseline,
                "peak_kib": peak_kib(),
            }))

    asyncio.run(main())
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak RSS is read from /proc (Linux)")
@pytest.mark.parametrize(("codecs", "size"), [([], GIB), (["zstd", "aesgcm"], 256 << 20)], ids=["plain-1GiB", "zstd-aesgcm-256MiB"])
def test_streamed_round_trip_keeps_memory_flat(tmp_path: Path, llmspell_env: dict[str, str], codecs: list[str], size: int) -> None:
    script = tmp_path / "big.py"
    script.write_text(SCRIPT)
    data_dir = tmp_path / "data"
    try:
        done = subprocess.run(
            [sys.executable, str(script), str(data_dir), llmspell_env["LLMSPELL_CONFIG"], json.dumps(codecs), str(size)],
            capture_output=True, text=True, env=llmspell_env, timeout=240, check=False,
        )
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)  # never leave a GiB behind
    assert result["size"] == size
    assert result["sent"] == result["got"] == result["meta"]
    grown = (result["peak_kib"] - result["baseline_kib"]) * 1024
    assert grown < 24 << 20, f"peak RSS grew by {grown / (1 << 20):.1f} MiB moving {size >> 20} MiB"
