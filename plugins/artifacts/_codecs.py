"""Codec chains, the blob header and the frame format shared by the default codecs.

A blob written through a non-empty codec chain starts with a header::

    b"LSPB" 0x01 | 4-byte big-endian length | JSON {"schema_version", "codecs": [{name, params}]}

followed by the body, the output of the chain. Both default codecs cut their output into
*frames* ``flags (1 byte) | length (4 bytes, big-endian) | payload`` so that a decoder
never holds more than one frame, whatever the compression ratio. A blob stored with no
codec is the raw content and has no header.

A codec may tie its output to the blob's identity, its key in the store (the content's
sha-256 and the chain tag). Its encoder then has ``bind(identity)``, called with the key
before ``finish``; its decoder has ``bind(identity)``, called with the key the reader
asked for, a ``bound`` flag (this blob is tied to its key), and, when it can check that
tie without reading the whole blob, ``tail(body_size)`` (where its authenticating end
starts in the body, or None) and ``check_tail(offset, data)``. The reader uses them to
refuse a blob copied over another before any content is returned (see
:func:`~llmspell.plugins.artifacts._streams.decode_blob`).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from llmspell import serde
from llmspell.errors import IntegrityError
from llmspell.plugins._values import check_schema_version, dumps_data
from llmspell.plugins.artifacts.backend import Codec, CodecOptions, Decoder, Encoder

__all__ = ["MAGIC", "EncodeChain", "DecodeChain", "FrameReader", "frame", "chain_tag", "parse_header"]

MAGIC = b"LSPB\x01"
HEADER_MAX = 64 * 1024
_FRAME = struct.Struct(">BI")


def chain_tag(names: Sequence[str]) -> str:
    """8 hex digits naming a codec chain; appended to blob keys of encoded blobs."""
    return hashlib.sha256(",".join(names).encode()).hexdigest()[:8]


def frame(flags: int, payload: bytes) -> bytes:
    return _FRAME.pack(flags, len(payload)) + payload


class FrameReader:
    """Cuts a byte stream into ``(flags, payload)`` frames, lazily, one at a time.

    Payloads are read-only views into the input (no copy); only an incomplete frame at
    the end of a chunk is kept for the next one.
    """

    def __init__(self, max_payload: int) -> None:
        self.max_payload = max_payload
        self._rest = b""

    def feed(self, data: bytes | memoryview) -> Iterator[tuple[int, memoryview]]:
        if self._rest:
            data = self._rest + data
        view = memoryview(data).toreadonly()
        pos, total = 0, len(view)
        try:
            while total - pos >= _FRAME.size:
                flags, size = _FRAME.unpack_from(view, pos)
                if size > self.max_payload:
                    raise IntegrityError(f"corrupt blob: a frame claims {size} bytes (at most {self.max_payload})")
                end = pos + _FRAME.size + size
                if total < end:
                    break
                payload = view[pos + _FRAME.size : end]
                pos = end
                yield flags, payload
        finally:
            self._rest = bytes(view[pos:])

    def finish(self) -> None:
        if self._rest:
            raise IntegrityError(f"corrupt blob: truncated frame ({len(self._rest)} trailing bytes)")


def _through(stages: Sequence[Encoder | Decoder], pieces: Iterable[Any]) -> Iterator[bytes]:
    if not stages:
        yield from pieces
        return
    first, rest = stages[0], stages[1:]
    for piece in pieces:
        if piece:
            yield from _through(rest, first.update(piece))


def _finish(stages: Sequence[Encoder | Decoder]) -> Iterator[bytes]:
    for i, stage in enumerate(stages):
        yield from _through(stages[i + 1 :], stage.finish())


class EncodeChain:
    """Encoders applied in order; ``header`` describes them for the decoder."""

    def __init__(self, codecs: Sequence[Codec], options: CodecOptions) -> None:
        self.names = tuple(c.name for c in codecs)
        self.stages = [c.encoder(options) for c in codecs]
        described = [{"name": c.name, "params": dict(s.params)} for c, s in zip(codecs, self.stages, strict=True)]
        body = dumps_data({"schema_version": 1, "codecs": described})
        self.header = MAGIC + struct.pack(">I", len(body)) + body if codecs else b""
        self.key_id: str | None = next((str(s.params["key_id"]) for s in self.stages if "key_id" in s.params), None)

    def blob_key(self, sha256: str) -> str:
        """The key a blob of content ``sha256`` written through this chain is stored under."""
        return f"{sha256}-{chain_tag(self.names)}" if self.names else sha256

    def bind(self, sha256: str) -> None:
        """Tie the output to its blob key (call before :meth:`finish`, once the content is hashed)."""
        identity = self.blob_key(sha256)
        for stage in self.stages:
            bind = getattr(stage, "bind", None)
            if bind is not None:
                bind(identity)

    def update(self, data: bytes) -> Iterator[bytes]:
        return _through(self.stages, (data,))

    def finish(self) -> Iterator[bytes]:
        return _finish(self.stages)


def parse_header(data: bytes | bytearray) -> tuple[list[dict[str, Any]], int] | None:
    """``(codecs, header length)`` once ``data`` holds the whole header, else None."""
    if len(data) < len(MAGIC) + 4:
        if not MAGIC.startswith(bytes(data[: len(MAGIC)])):
            raise IntegrityError("corrupt blob: bad header magic")
        return None
    if bytes(data[: len(MAGIC)]) != MAGIC:
        raise IntegrityError("corrupt blob: bad header magic")
    (size,) = struct.unpack_from(">I", data, len(MAGIC))
    if size > HEADER_MAX:
        raise IntegrityError(f"corrupt blob: header of {size} bytes")
    end = len(MAGIC) + 4 + size
    if len(data) < end:
        return None
    try:
        doc = serde.loads(bytes(data[len(MAGIC) + 4 : end]))
        check_schema_version("blob header", int(doc["schema_version"]), 1)
        codecs = [{"name": str(c["name"]), "params": dict(c["params"])} for c in doc["codecs"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"corrupt blob: unreadable header ({exc})") from None
    return codecs, end


class DecodeChain:
    """Reads the header, then undoes the chain it names (in reverse order)."""

    def __init__(self, registry: Mapping[str, Codec], options: CodecOptions, identity: str | None = None) -> None:
        self._registry = registry
        self._options = options
        self._identity = identity
        self._head = bytearray()
        self.stages: list[Decoder] | None = None
        self.names: tuple[str, ...] = ()

    def start(self, header: bytes | bytearray) -> int | None:
        """Read the header from the start of a blob; its length, or None if ``header`` is short."""
        parsed = parse_header(header)
        if parsed is None:
            return None
        self._start(parsed[0])
        return parsed[1]

    @property
    def bound(self) -> bool:
        """Whether some stage ties the blob to its identity."""
        return any(getattr(stage, "bound", False) for stage in self.stages or ())

    def _start(self, codecs: list[dict[str, Any]]) -> None:
        stages = []
        for item in reversed(codecs):
            codec = self._registry.get(item["name"])
            if codec is None:
                raise IntegrityError(f"blob was written with codec {item['name']!r}, which is not registered")
            stage = codec.decoder(item["params"], self._options)
            bind = getattr(stage, "bind", None)
            if bind is not None and self._identity is not None:
                bind(self._identity)
            stages.append(stage)
        self.names = tuple(item["name"] for item in codecs)
        self.stages = stages

    def update(self, data: bytes) -> Iterator[bytes]:
        body: bytes | memoryview = data
        if self.stages is None:
            head: bytes | bytearray = data
            if self._head:
                self._head += data
                head = self._head
            parsed = parse_header(head)
            if parsed is None:
                if not self._head:
                    self._head += data
                return iter(())
            codecs, end = parsed
            self._start(codecs)
            body, self._head = memoryview(head)[end:].toreadonly(), bytearray()
        assert self.stages is not None
        return _through(self.stages, (body,))

    def finish(self) -> Iterator[bytes]:
        if self.stages is None:
            raise IntegrityError("corrupt blob: truncated header")
        return _finish(self.stages)
