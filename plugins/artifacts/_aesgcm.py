"""The ``aesgcm`` codec: encryption at rest with AES-256-GCM in authenticated frames.

The plaintext is sealed in frames of ``frame_size`` bytes, so neither side ever holds a
whole blob. Frame ``i`` uses the nonce ``prefix (8 random bytes per blob) | i (4
bytes)`` and authenticates, as associated data, the key id, the prefix, ``i`` and
whether it is the last frame: frames cannot be altered, reordered, dropped or cut off
without :class:`~llmspell.errors.IntegrityError`. The header stores the key id and a
key check value, so a blob opened with the wrong key fails with
:class:`~llmspell.plugins.artifacts.api.WrongKeyError` before any frame is tried.

Format 2 (``"v": 2`` in the header) binds a blob to its identity: the final frame also
authenticates the blob key (the content's sha-256 and the chain tag), which the writer
knows once the content is hashed (:meth:`_Encoder.bind`). A reader that knows which blob
it asked for authenticates the final frame first (:meth:`_Decoder.tail`,
:meth:`_Decoder.check_tail`): a blob copied over another one, by someone who can write
to the store but has no key, fails before a single plaintext byte is returned, since
the prefix the final frame vouches for is the one every other frame must use. Blobs of
format 1 (no ``v``) still decrypt; their readers hold the content back until its
sha-256 is checked.

Keys come from ``[artifacts] key`` / ``key_id`` / ``old_keys`` (``LLMSPELL_ARTIFACTS_KEY``
in the environment), or from a ``key_provider`` (``module:function`` returning a
:class:`~llmspell.plugins.artifacts.backend.KeyProvider`). Needs the extra ``crypto``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from llmspell.errors import ConfigError, IntegrityError, MissingExtraError
from llmspell.plugins.artifacts.api import WrongKeyError
from llmspell.plugins.artifacts.backend import CodecOptions, KeyProvider

from ._codecs import FrameReader, frame

__all__ = ["AesGcmCodec", "StaticKeys", "parse_key"]

FINAL = 1
TAG = 16
HEAD = 5  # a frame's flags and length
FORMAT = 2


def _aesgcm() -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:
        raise MissingExtraError("the 'aesgcm' artifact codec", "crypto", "cryptography") from None
    return AESGCM


def parse_key(text: str, what: str = "artifacts.key") -> bytes:
    """A 32-byte key from 64 hex digits or base64 (standard or URL-safe)."""
    text = text.strip()
    raw: bytes | None = None
    if len(text) == 64:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = None
    if raw is None:
        try:
            raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_" if ("-" in text or "_" in text) else None, validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError([f"{what}: not hex or base64"]) from None
    if len(raw) != 32:
        raise ConfigError([f"{what}: an AES-256 key has 32 bytes, this one has {len(raw)}"])
    return raw


def key_check(key: bytes) -> str:
    return hmac.new(key, b"llmspell artifact key check", hashlib.sha256).hexdigest()[:16]


@attrs.frozen
class StaticKeys:
    """A :class:`KeyProvider` over fixed keys (the configured ones)."""

    current: str
    keys: Mapping[str, bytes]

    def key(self, key_id: str) -> bytes | None:
        return self.keys.get(key_id)


def _aad(key_id: str, prefix: bytes, index: int, final: bool, identity: str | None = None, format: int = FORMAT) -> bytes:
    """The associated data of frame ``index``; format 2 ties the final frame to ``identity``."""
    if format == 1:
        return b"llmspell-aesgcm-v1|" + key_id.encode() + b"|" + prefix + struct.pack(">QB", index, final)
    if final and identity is None:
        raise IntegrityError("the final aesgcm frame needs the blob key it belongs to")
    bound = identity.encode() if final and identity is not None else b""
    return b"llmspell-aesgcm-v2|" + key_id.encode() + b"|" + prefix + struct.pack(">QB", index, final) + bound


class _Encoder:
    def __init__(self, keys: KeyProvider, frame_size: int) -> None:
        key = keys.key(keys.current)
        if key is None:
            raise WrongKeyError(f"no encryption key with id {keys.current!r} is configured")
        self._aead = _aesgcm()(key)
        self._key_id = keys.current
        self._prefix = os.urandom(8)
        self._size = frame_size
        self._index = 0
        self._buf = bytearray()
        self._identity: str | None = None
        self.params: Mapping[str, Any] = {
            "key_id": keys.current, "nonce": self._prefix.hex(), "frame": frame_size, "check": key_check(key),
            "v": FORMAT,
        }

    def bind(self, identity: str) -> None:
        """The blob key the output is stored under, sealed into the final frame."""
        self._identity = identity

    def _seal(self, chunk: bytes, final: bool) -> bytes:
        nonce = self._prefix + struct.pack(">I", self._index)
        sealed = self._aead.encrypt(nonce, chunk, _aad(self._key_id, self._prefix, self._index, final, self._identity))
        self._index += 1
        return frame(FINAL if final else 0, sealed)

    def update(self, data: bytes) -> Iterator[bytes]:
        if not self._buf and len(data) == self._size:
            yield self._seal(data, False)
            return
        self._buf += data
        while len(self._buf) >= self._size:
            chunk = bytes(memoryview(self._buf)[: self._size])
            del self._buf[: self._size]
            yield self._seal(chunk, False)

    def finish(self) -> Iterator[bytes]:
        chunk, self._buf = bytes(self._buf), bytearray()
        yield self._seal(chunk, True)


class _Decoder:
    def __init__(self, params: Mapping[str, Any], keys: KeyProvider | None) -> None:
        key_id = str(params.get("key_id"))
        key = keys.key(key_id) if keys is not None else None
        if key is None:
            raise WrongKeyError(
                f"blob is encrypted with key {key_id!r}, which is not configured "
                "(set [artifacts] key/key_id, or keep the old key in old_keys)"
            )
        if not hmac.compare_digest(key_check(key), str(params.get("check"))):
            raise WrongKeyError(
                f"the configured key {key_id!r} is not the key this blob was encrypted with (wrong key)"
            )
        try:
            self._format = int(params.get("v", 1))
            self._prefix = bytes.fromhex(str(params["nonce"]))
            self._frame = int(params["frame"])
        except (KeyError, TypeError, ValueError):
            raise IntegrityError("corrupt blob: unreadable aesgcm parameters in the header") from None
        if self._format not in (1, FORMAT) or len(self._prefix) != 8 or self._frame <= 0:
            raise IntegrityError(f"corrupt blob: unknown aesgcm format {params.get('v')!r}")
        self._aead = _aesgcm()(key)
        self._key_id = key_id
        self._frames = FrameReader(self._frame + TAG)
        self._index = 0
        self._done = False
        self._identity: str | None = None
        self._checked: tuple[int, bytes, bytes] | None = None  # the final frame check_tail opened

    def bind(self, identity: str) -> None:
        """The blob key the reader asked for; the final frame must vouch for it."""
        self._identity = identity

    @property
    def bound(self) -> bool:
        """Whether this blob's frames are tied to its identity (format 2)."""
        return self._format >= 2

    def _aad(self, index: int, final: bool) -> bytes:
        return _aad(self._key_id, self._prefix, index, final, self._identity, self._format)

    def tail(self, body_size: int) -> int | None:
        """Where the final frame starts in a body of ``body_size`` bytes (None: format 1)."""
        if self._format == 1:
            return None
        if body_size < HEAD + TAG:
            raise IntegrityError("corrupt blob: encrypted stream is truncated (no final frame)")
        return (body_size - HEAD - TAG) // (HEAD + self._frame + TAG) * (HEAD + self._frame + TAG)

    def check_tail(self, offset: int, data: bytes) -> None:
        """Authenticate the final frame found at ``offset`` (from :meth:`tail`); returns nothing."""
        from cryptography.exceptions import InvalidTag

        index = offset // (HEAD + self._frame + TAG)
        frames = FrameReader(self._frame + TAG)
        found = list(frames.feed(data))
        frames.finish()
        if len(found) != 1 or not found[0][0] & FINAL or index >= 2**32:
            raise IntegrityError("corrupt blob: the encrypted stream does not end with its final frame")
        try:
            plain = self._aead.decrypt(self._prefix + struct.pack(">I", index), found[0][1], self._aad(index, True))
        except InvalidTag:
            raise IntegrityError(
                "the final encrypted frame failed authentication: this blob is not the one asked for "
                "(copied over it, cut or altered)"
            ) from None
        self._checked = (index, bytes(found[0][1]), plain)

    def update(self, data: bytes) -> Iterator[bytes]:
        from cryptography.exceptions import InvalidTag

        for flags, payload in self._frames.feed(data):
            if self._done:
                raise IntegrityError("corrupt blob: data after the final encrypted frame")
            final = bool(flags & FINAL)
            checked = self._checked
            if final and checked is not None and checked[0] == self._index and checked[1] == payload:
                self._index += 1  # the very bytes check_tail authenticated: not decrypted twice
                self._done = True
                yield checked[2]
                continue
            nonce = self._prefix + struct.pack(">I", self._index)
            try:
                plain = self._aead.decrypt(nonce, payload, self._aad(self._index, final))
            except InvalidTag:
                raise IntegrityError(
                    f"encrypted frame {self._index} failed authentication: the blob was tampered with"
                ) from None
            self._index += 1
            self._done = final
            yield plain

    def finish(self) -> Iterator[bytes]:
        self._frames.finish()
        if not self._done:
            raise IntegrityError("corrupt blob: encrypted stream is truncated (no final frame)")
        return iter(())


class AesGcmCodec:
    """AES-256-GCM encryption at rest, frame by frame."""

    name = "aesgcm"

    def check(self, options: CodecOptions) -> None:
        _aesgcm()
        if options.keys is None or options.keys.key(options.keys.current) is None:
            raise ConfigError(
                ["artifacts.key: the aesgcm codec needs a key (set it, or LLMSPELL_ARTIFACTS_KEY)"]
            )

    def encoder(self, options: CodecOptions) -> _Encoder:
        if options.keys is None:
            raise WrongKeyError("the aesgcm codec has no key provider")
        return _Encoder(options.keys, options.frame_size)

    def decoder(self, params: Mapping[str, Any], options: CodecOptions) -> _Decoder:
        return _Decoder(params, options.keys)
