"""The ``zstd`` codec: streaming compression in independent frames (extra ``zstd``).

Input is cut into frames of ``frame_size`` bytes; each frame is compressed on its own
and stored compressed only when that gets it below ``min_ratio`` of its size, raw
otherwise (flag 0). After eight frames in a row that do not compress, the encoder stops
trying, so incompressible data (media, archives) costs almost nothing. A decoder
inflates one frame at a time and refuses a frame that would grow past ``frame_size``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from llmspell.errors import IntegrityError, MissingExtraError
from llmspell.plugins.artifacts.backend import CodecOptions

from ._codecs import FrameReader, frame

__all__ = ["ZstdCodec"]

RAW, ZSTD = 0, 1
GIVE_UP_AFTER = 8


def _zstandard() -> Any:
    try:
        import zstandard
    except ImportError:
        raise MissingExtraError("the 'zstd' artifact codec", "zstd", "zstandard") from None
    return zstandard


class _Encoder:
    def __init__(self, options: CodecOptions) -> None:
        zstandard = _zstandard()
        self._cctx = zstandard.ZstdCompressor(level=options.level, write_content_size=True)
        self._size = options.frame_size
        self._ratio = options.min_ratio
        self._buf = bytearray()
        self._misses = 0
        self.params: Mapping[str, Any] = {"frame": options.frame_size}

    def _frame(self, chunk: bytes) -> bytes:
        if self._misses < GIVE_UP_AFTER:
            packed = self._cctx.compress(chunk)
            if len(packed) < len(chunk) * self._ratio:
                self._misses = 0
                return frame(ZSTD, packed)
            self._misses += 1
        return frame(RAW, chunk)

    def update(self, data: bytes) -> Iterator[bytes]:
        if not self._buf and len(data) == self._size:
            yield self._frame(data)
            return
        self._buf += data
        while len(self._buf) >= self._size:
            chunk = bytes(memoryview(self._buf)[: self._size])
            del self._buf[: self._size]
            yield self._frame(chunk)

    def finish(self) -> Iterator[bytes]:
        if self._buf:
            chunk, self._buf = bytes(self._buf), bytearray()
            yield self._frame(chunk)


class _Decoder:
    def __init__(self, params: Mapping[str, Any]) -> None:
        self._zstd = _zstandard()
        self._size = int(params.get("frame", 1 << 20))
        self._dctx = self._zstd.ZstdDecompressor()
        self._frames = FrameReader(self._size)

    def update(self, data: bytes) -> Iterator[bytes]:
        for flags, payload in self._frames.feed(data):
            if flags == RAW:
                yield bytes(payload)
            elif flags == ZSTD:
                yield self._inflate(payload)
            else:
                raise IntegrityError(f"corrupt blob: unknown zstd frame flag {flags}")

    def _inflate(self, payload: memoryview) -> bytes:
        try:
            size = self._zstd.frame_content_size(payload)
            if size < 0 or size > self._size:
                raise IntegrityError(f"corrupt blob: a zstd frame claims {size} bytes (at most {self._size})")
            out: bytes = self._dctx.decompress(payload, max_output_size=self._size)
        except self._zstd.ZstdError as exc:
            raise IntegrityError(f"corrupt blob: zstd frame does not decompress ({exc})") from None
        return out

    def finish(self) -> Iterator[bytes]:
        self._frames.finish()
        return iter(())


class ZstdCodec:
    """zstd compression, skipped frame by frame when it does not help."""

    name = "zstd"

    def check(self, options: CodecOptions) -> None:
        _zstandard()

    def encoder(self, options: CodecOptions) -> _Encoder:
        return _Encoder(options)

    def decoder(self, params: Mapping[str, Any], options: CodecOptions) -> _Decoder:
        return _Decoder(params)
