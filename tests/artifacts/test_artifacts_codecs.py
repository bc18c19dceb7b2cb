"""Compression, encryption at rest, integrity on load, wrong keys and key rotation."""

from __future__ import annotations

import builtins
import os
import shutil
import sqlite3
import struct
from pathlib import Path
from typing import Any

import pytest

from llmspell import Kernel
from llmspell.errors import ConfigError, IntegrityError, MissingExtraError, PluginError
from llmspell.plugins._values import dumps_data
from llmspell.plugins.artifacts._blobs_fs import SMALL
from llmspell.plugins.artifacts._codecs import EncodeChain
from llmspell.plugins.artifacts._zstd import ZstdCodec
from llmspell.plugins.artifacts.api import WrongKeyError
from tests.contrib.s3.s3server import s3_server  # noqa: F401 - a fixture

from .artifact_helpers import KEY_A, KEY_B, blob_files

TEXT = b"".join(b"line %d: the quick brown fox jumps over the lazy dog\n" % i for i in range(60_000))


def _blob_path(kernel: Kernel, key: str) -> Path:
    return kernel.data_dir / "artifacts" / "store" / "blobs" / key[:2] / key[2:4] / key


async def test_zstd_round_trip_and_skip(start_kernel: Any) -> None:
    kernel = await start_kernel(codecs=["zstd"], chunk_size=256 * 1024)
    try:
        arts = kernel.artifacts
        ref = await arts.save("log.txt", TEXT)
        meta = await arts.stat(ref)
        assert meta.codecs == ("zstd",) and meta.stored_size < len(TEXT) / 5
        assert await arts.load(ref) == TEXT
        noise = os.urandom(3 * 256 * 1024 + 5)
        meta = await arts.stat(await arts.save("noise.bin", noise))
        assert meta.stored_size < len(noise) * 1.001  # stored raw: compression did not help
        assert await arts.load(meta.ref) == noise
        empty = await arts.save("empty", b"")
        assert await arts.load(empty) == b""
    finally:
        await kernel.stop()


def test_zstd_skips_after_misses_and_bounds_frames() -> None:
    from llmspell.plugins.artifacts.backend import CodecOptions

    opts = CodecOptions(frame_size=4096)
    chain = EncodeChain([ZstdCodec()], opts)
    out = b"".join(chain.update(os.urandom(4096 * 20))) + b"".join(chain.finish())
    assert chain.stages[0]._misses == 8  # gave up trying after eight frames in a row
    assert len(out) == 20 * (4096 + 5)
    zeros = b"\0" * (4096 * 50)
    chain = EncodeChain([ZstdCodec()], opts)
    packed = b"".join(chain.update(zeros)) + b"".join(chain.finish())
    assert len(packed) < 50 * 100
    from llmspell.plugins.artifacts._codecs import DecodeChain

    decoder = DecodeChain({"zstd": ZstdCodec()}, opts)
    pieces = list(decoder.update(chain.header + packed)) + list(decoder.finish())
    assert max(len(p) for p in pieces) <= 4096 and b"".join(pieces) == zeros


async def test_aesgcm_round_trip_and_chain(start_kernel: Any) -> None:
    kernel = await start_kernel(codecs=["zstd", "aesgcm"], key=KEY_A, key_id="k1", chunk_size=65536)
    try:
        ref = await kernel.artifacts.save("secret.txt", TEXT)
        meta = await kernel.artifacts.stat(ref)
        assert meta.codecs == ("zstd", "aesgcm") and meta.stored_size < len(TEXT) / 3
        assert TEXT[:100] not in _blob_path(kernel, meta.blob).read_bytes()
        assert await kernel.artifacts.load(ref) == TEXT
        record = await kernel.artifacts.index.get_blob(meta.blob)
        assert record.key_id == "k1"
        empty = await kernel.artifacts.save("empty", b"")
        assert await kernel.artifacts.load(empty) == b""
    finally:
        await kernel.stop()


async def test_codecs_per_scope(start_kernel: Any) -> None:
    kernel = await start_kernel(scope_codecs={"session": ["aesgcm"]}, key=KEY_A)
    try:
        s = await kernel.artifacts.stat(await kernel.artifacts.save("a", b"same", session_id="s1"))
        u = await kernel.artifacts.stat(await kernel.artifacts.save("a", b"same", user_id="u1"))
        assert s.codecs == ("aesgcm",) and u.codecs == () and s.blob != u.blob
    finally:
        await kernel.stop()


@pytest.mark.parametrize("codecs", [[], ["zstd"], ["aesgcm"], ["zstd", "aesgcm"]])
@pytest.mark.parametrize("where", ["first", "middle", "last", "truncate", "append"])
async def test_tampered_blob_fails_loudly(start_kernel: Any, codecs: list[str], where: str) -> None:
    kernel = await start_kernel(codecs=codecs, key=KEY_A, chunk_size=16384)
    try:
        data = TEXT[:200_000]
        ref = await kernel.artifacts.save("t.txt", data)
        path = _blob_path(kernel, (await kernel.artifacts.stat(ref)).blob)
        raw = bytearray(path.read_bytes())
        if where == "truncate":
            raw = raw[: len(raw) - 7]
        elif where == "append":
            raw += b"extra"
        else:
            pos = {"first": 0, "middle": len(raw) // 2, "last": len(raw) - 1}[where]
            raw[pos] ^= 0x01
        path.write_bytes(bytes(raw))
        with pytest.raises(IntegrityError):
            await kernel.artifacts.load(ref)
        received = b""
        with pytest.raises(IntegrityError):
            async for chunk in await kernel.artifacts.open(ref, chunk_size=16384):
                received += chunk
        assert received != data  # the end of a corrupt artifact is never handed out
    finally:
        await kernel.stop()


async def test_swapped_blob_fails(fskernel: Kernel) -> None:
    size = SMALL + 100  # stored as files
    a = await fskernel.artifacts.stat(await fskernel.artifacts.save("a", b"A" * size))
    b = await fskernel.artifacts.stat(await fskernel.artifacts.save("b", b"B" * size))
    _blob_path(fskernel, a.blob).write_bytes(_blob_path(fskernel, b.blob).read_bytes())
    with pytest.raises(IntegrityError, match="sha-256"):
        await fskernel.artifacts.load(a.ref)


async def test_swapped_small_blob_fails(fskernel: Kernel) -> None:
    """Small blobs live in the index database; they are verified on load all the same."""
    a = await fskernel.artifacts.stat(await fskernel.artifacts.save("a", b"A" * 100))
    b = await fskernel.artifacts.stat(await fskernel.artifacts.save("b", b"B" * 100))
    assert not _blob_path(fskernel, a.blob).exists()
    db = sqlite3.connect(fskernel.data_dir / "artifacts" / "index.sqlite3")
    with db:
        db.execute(
            "UPDATE store_small_blobs SET data=(SELECT data FROM store_small_blobs WHERE key=?) WHERE key=?",
            (b.blob, a.blob),
        )
    db.close()
    with pytest.raises(IntegrityError, match="sha-256"):
        await fskernel.artifacts.load(a.ref)
    assert await fskernel.artifacts.load(b.ref) == b"B" * 100


async def test_wrong_key_fails_clearly(make_kernel: Any, tmp_path: Path) -> None:
    base = {"codecs": ["aesgcm"]}
    async with make_kernel({"artifacts": {**base, "key": KEY_A, "key_id": "k1"}}) as kernel:
        ref = await kernel.artifacts.save("s.txt", b"top secret")
    async with make_kernel({"artifacts": {**base, "key": KEY_B, "key_id": "k1"}}) as kernel:
        with pytest.raises(WrongKeyError, match="wrong key"):
            await kernel.artifacts.load(ref)
    async with make_kernel({"artifacts": {**base, "key": KEY_B, "key_id": "k2"}}) as kernel:
        with pytest.raises(WrongKeyError, match="'k1', which is not configured"):
            await kernel.artifacts.load(ref)


async def test_key_from_environment(make_kernel: Any, llmspell_env: dict[str, str]) -> None:
    import base64

    key = base64.b64encode(bytes.fromhex(KEY_A)).decode()
    env = {**llmspell_env, "LLMSPELL_ARTIFACTS_KEY": key, "LLMSPELL_ARTIFACTS_CODECS": '["aesgcm"]'}
    async with make_kernel(env=env) as kernel:
        ref = await kernel.artifacts.save("s.txt", b"x")
        assert (await kernel.artifacts.stat(ref)).codecs == ("aesgcm",)
        assert "***" in str(kernel.config.to_dict()["artifacts"]["key"])


async def test_key_rotation_re_encrypts(make_kernel: Any) -> None:
    base = {"codecs": ["aesgcm"], "chunk_size": 65536}
    async with make_kernel({"artifacts": {**base, "key": KEY_A, "key_id": "k1"}}) as kernel:
        refs = [await kernel.artifacts.save(f"f{i}", TEXT[: 100_000 + i]) for i in range(3)]
        await kernel.artifacts.save("f0", TEXT[:100_000])  # same content, deduplicated
    rotated = {"artifacts": {**base, "key": KEY_B, "key_id": "k2", "old_keys": {"k1": KEY_A}}}
    async with make_kernel(rotated) as kernel:
        assert await kernel.artifacts.load(refs[0]) == TEXT[:100_000]  # old key still readable
        report = await kernel.artifacts.rotate_keys(batch=2)
        assert len(report.rotated) == 3 and report.key_id == "k2"
        assert (await kernel.artifacts.rotate_keys()).rotated == ()
        new = await kernel.artifacts.save("new", TEXT[:5])
    async with make_kernel({"artifacts": {**base, "key": KEY_B, "key_id": "k2"}}) as kernel:
        for i, ref in enumerate(refs):
            assert await kernel.artifacts.load(ref) == TEXT[: 100_000 + i]
        assert await kernel.artifacts.load(new) == TEXT[:5]
        for ref in refs:
            record = await kernel.artifacts.index.get_blob((await kernel.artifacts.stat(ref)).blob)
            assert record.key_id == "k2"
        assert len(blob_files(kernel)) == 4


def test_bad_keys_and_codecs_fail_at_start(make_kernel: Any) -> None:
    import asyncio

    async def start(settings: dict[str, Any]) -> None:
        async with make_kernel({"artifacts": settings}):
            pass

    with pytest.raises(PluginError, match="needs a key"):
        asyncio.run(start({"codecs": ["aesgcm"]}))
    with pytest.raises(ConfigError, match="32 bytes"):
        asyncio.run(start({"codecs": ["aesgcm"], "key": "00" * 16}))
    with pytest.raises(ConfigError, match="unknown artifact codec 'lz4'"):
        make_kernel({"artifacts": {"codecs": ["lz4"]}})
    with pytest.raises(ConfigError, match="unknown artifact backend 'tape'"):
        make_kernel({"artifacts": {"backend": "tape"}})
    with pytest.raises(ConfigError, match="scope_codecs"):
        make_kernel({"artifacts": {"scope_codecs": {"galaxy": []}}})


@pytest.mark.parametrize(("codec", "module", "extra"), [("zstd", "zstandard", "zstd"), ("aesgcm", "cryptography", "crypto")])
async def test_missing_extra_is_named(make_kernel: Any, monkeypatch: pytest.MonkeyPatch, codec: str, module: str, extra: str) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == module or name.startswith(module + "."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    kernel = make_kernel({"artifacts": {"codecs": [codec], "key": KEY_A}})
    with pytest.raises(PluginError) as failed:
        await kernel.start()
    cause = failed.value.__cause__
    assert isinstance(cause, MissingExtraError) and cause.extra == extra
    assert f'pip install "llmspell[{extra}]"' in str(failed.value)


async def _stream(data: bytes, size: int = 10_000) -> Any:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _received_before_failure(kernel: Kernel, ref: Any) -> bytes:
    received = b""
    with pytest.raises(IntegrityError):
        async for chunk in await kernel.artifacts.open(ref, chunk_size=16384):
            received += chunk
    return received


@pytest.mark.parametrize("codecs", [["aesgcm"], ["zstd", "aesgcm"]])
@pytest.mark.parametrize("size", [150_000, 1_500_000])  # one read, and the streamed path
async def test_an_encrypted_blob_copied_over_another_fails_before_any_byte(
    start_kernel: Any, codecs: list[str], size: int
) -> None:
    kernel = await start_kernel(codecs=codecs, key=KEY_A, key_id="k1", chunk_size=16384, frame_size=16384)
    try:
        arts = kernel.artifacts
        first = TEXT[:size]
        second = TEXT[1000 : 1000 + size]
        a = await arts.stat(await arts.save("a.txt", first))
        b = await arts.stat(await arts.save("b.txt", _stream(second)))  # a streamed save seals the same way
        assert await arts.load(b.ref) == second
        shutil.copyfile(_blob_path(kernel, b.blob), _blob_path(kernel, a.blob))  # no key needed for this
        with pytest.raises(IntegrityError, match="final encrypted frame"):
            await arts.load(a.ref)
        assert await _received_before_failure(kernel, a.ref) == b""
        assert await arts.load(b.ref) == second
    finally:
        await kernel.stop()


def _format_1_blob(content: bytes, frame_size: int) -> bytes:
    """A blob as the first aesgcm format wrote it (no tie to the blob key)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from llmspell.plugins.artifacts._aesgcm import key_check
    from llmspell.plugins.artifacts._codecs import MAGIC, frame

    key, prefix = bytes.fromhex(KEY_A), os.urandom(8)
    params = {"key_id": "k1", "nonce": prefix.hex(), "frame": frame_size, "check": key_check(key)}
    head = dumps_data({"schema_version": 1, "codecs": [{"name": "aesgcm", "params": params}]})
    out = [MAGIC + struct.pack(">I", len(head)) + head]
    pieces = [content[i : i + frame_size] for i in range(0, len(content), frame_size)]
    if not pieces or len(pieces[-1]) == frame_size:
        pieces.append(b"")
    for i, piece in enumerate(pieces):
        final = i == len(pieces) - 1
        aad = b"llmspell-aesgcm-v1|k1|" + prefix + struct.pack(">QB", i, final)
        out.append(frame(int(final), AESGCM(key).encrypt(prefix + struct.pack(">I", i), piece, aad)))
    return b"".join(out)


async def test_format_1_blobs_still_decrypt_and_a_swapped_one_gives_nothing(start_kernel: Any) -> None:
    kernel = await start_kernel(codecs=["aesgcm"], key=KEY_A, key_id="k1", chunk_size=16384, frame_size=16384)
    try:
        arts = kernel.artifacts
        first, second = TEXT[:600_000], TEXT[5:600_005]
        a = await arts.stat(await arts.save("a.txt", first))
        b = await arts.stat(await arts.save("b.txt", second))
        _blob_path(kernel, a.blob).write_bytes(_format_1_blob(first, 16384))
        assert await arts.load(a.ref) == first
        chunks = [c async for c in await arts.open(a.ref, chunk_size=16384)]
        assert b"".join(chunks) == first and len(chunks) > 1
        _blob_path(kernel, b.blob).write_bytes(_format_1_blob(first, 16384))  # a's content under b's key
        with pytest.raises(IntegrityError, match="sha-256"):
            await arts.load(b.ref)
        assert await _received_before_failure(kernel, b.ref) == b""  # held back until verified
        await arts.rotate_keys()  # no-op for the current key; format 1 stays readable
        assert await arts.load(a.ref) == first
    finally:
        await kernel.stop()


@pytest.mark.s3
async def test_an_encrypted_object_copied_over_another_in_the_bucket_fails_before_any_byte(
    make_kernel: Any, s3_server: Any  # noqa: F811 - the fixture
) -> None:
    from tests.contrib.s3.s3server import s3_config

    settings = {"backend": "s3", "codecs": ["zstd", "aesgcm"], "key": KEY_A, "key_id": "k1",
                "chunk_size": 16384, "frame_size": 16384}
    kernel = await make_kernel({"artifacts": settings, **s3_config(s3_server)}).start()
    try:
        arts = kernel.artifacts
        for size in (150_000, 1_500_000):
            first, second = TEXT[:size], TEXT[77 : 77 + size]
            a = await arts.stat(await arts.save(f"a{size}.txt", first))
            b = await arts.stat(await arts.save(f"b{size}.txt", second))
            body = b"".join([piece async for piece in arts.store.read(b.blob)])
            await arts.store.call("put_object", Key=arts.store.blob_key(a.blob), Body=body)  # no key needed
            with pytest.raises(IntegrityError, match="final encrypted frame"):
                await arts.load(a.ref)
            assert await _received_before_failure(kernel, a.ref) == b""
            assert await arts.load(b.ref) == second
    finally:
        await kernel.stop()
