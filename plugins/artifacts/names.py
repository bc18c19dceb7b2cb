"""Validation of artifact names, scope ids and blob keys.

The rule for a **name** (documented in ``docs/artifacts.md``):

* 1 to 256 characters and at most 1024 bytes of UTF-8;
* segments separated by ``/``; no empty segment (so no leading, trailing or doubled
  ``/``: a name is never absolute), no ``.`` or ``..`` segment, no segment that starts or
  ends with a space;
* characters: Unicode letters, digits and combining marks, the space, and
  ``- _ . ~ + = , ( ) [ ] !``; nothing else: no NUL or control characters, no ``\\``,
  ``:``, ``@``, no invisible format characters, no look-alike slashes or dots;
* the name must already be in Unicode NFKC form (so full-width dots and slashes (U+FF0E, U+FF0F) and other
  compatibility look-alikes are refused rather than silently folded), and one word (a run
  of letters) may not mix Latin, Greek and Cyrillic letters (``paypal`` spelt with a Cyrillic U+0430 for an ``a``).

Names never become file paths (blobs are stored under their content hash), so the rule
is defence in depth and keeps names portable. **Scope ids** (session, user and app ids)
are 1 to 128 characters of ``A-Z a-z 0-9 . _ @ + = -``, not ``.`` or ``..``.
"""

from __future__ import annotations

import re
import unicodedata

from llmspell.errors import ValidationError
from llmspell.plugins.artifacts.api import SCOPES

__all__ = [
    "check_name", "check_scope", "check_owner", "check_blob_key", "check_tag", "check_content_type",
    "check_version", "BLOB_KEY",
]

MAX_CHARS = 256
MAX_BYTES = 1024
_PUNCT = frozenset("-_.~+=,()[]! ")
_ID = re.compile(r"[A-Za-z0-9._@+=-]{1,128}")
BLOB_KEY = re.compile(r"[0-9a-f]{64}(-[0-9a-f]{8})?")
_TAG = re.compile(r"[^\x00-\x1f\x7f]{1,128}")
_SCRIPTS = ("LATIN", "GREEK", "CYRILLIC")
_TOKEN = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_CONTENT_TYPE = re.compile(
    rf"{_TOKEN}/{_TOKEN}(?: ?; ?{_TOKEN}=(?:{_TOKEN}|\"[\x20\x21\x23-\x5b\x5d-\x7e]{{0,128}}\"))*"
)
_CONTENT_FAMILY = re.compile(rf"{_TOKEN}/(?:{_TOKEN}|\*)")
MAX_VERSION = 2**63 - 1


def _bad(name: str, why: str) -> ValidationError:
    shown = name if len(name) <= 60 else name[:57] + "..."
    return ValidationError(f"invalid artifact name {shown!r}: {why}")


def _char_ok(ch: str) -> bool:
    if ch in _PUNCT:
        return True
    kind = unicodedata.category(ch)[0]
    if kind == "M":  # combining marks, but not the ones that draw a slash or a bar
        label = unicodedata.name(ch, "")
        return not any(word in label for word in ("OVERLAY", "SOLIDUS", "STROKE"))
    return kind in ("L", "N")


def check_name(name: object) -> str:
    """Return ``name`` if it follows the rule above, else raise ValidationError."""
    if not isinstance(name, str):
        raise ValidationError(f"an artifact name must be a string, got {type(name).__name__}")
    if not name:
        raise _bad(name, "it is empty")
    if len(name) > MAX_CHARS or len(name.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise _bad(name, f"longer than {MAX_CHARS} characters or {MAX_BYTES} bytes")
    if "\x00" in name:
        raise _bad(name, "it contains a NUL character")
    if name.startswith("/") or name.startswith("\\") or re.match(r"[A-Za-z]:", name):
        raise _bad(name, "it is an absolute path; names are relative, like 'reports/q1.md'")
    for ch in name:
        if ch == "/":
            continue
        if not _char_ok(ch):
            code = f"U+{ord(ch):04X}"
            label = unicodedata.name(ch, "unnamed character")
            raise _bad(name, f"character {code} ({label}) is not allowed")
    if unicodedata.normalize("NFKC", name) != name:
        raise _bad(name, "it is not in Unicode NFKC form (full-width or other look-alike characters)")
    for segment in name.split("/"):
        if segment in ("", ".", ".."):
            raise _bad(name, "empty, '.' and '..' path segments are not allowed")
        if segment != segment.strip(" "):
            raise _bad(name, "a path segment starts or ends with a space")
        for word in re.findall(r"[^\W\d_]+", segment):
            scripts = {unicodedata.name(ch, "").split(" ", 1)[0] for ch in word} & set(_SCRIPTS)
            if len(scripts) > 1:
                raise _bad(name, f"the word {word!r} mixes {' and '.join(sorted(scripts))} letters (look-alikes)")
    return name


def check_scope(scope: object) -> str:
    if scope not in SCOPES:
        raise ValidationError(f"unknown artifact scope {scope!r} (allowed: {', '.join(SCOPES)})")
    return str(scope)


def check_owner(owner: object, scope: str = "scope") -> str:
    """A scope id: session, user or app id."""
    if not isinstance(owner, str) or not _ID.fullmatch(owner) or owner in (".", ".."):
        raise ValidationError(
            f"invalid {scope} id {owner!r}: use 1 to 128 characters of A-Z a-z 0-9 . _ @ + = -"
        )
    return owner


def check_blob_key(key: object) -> str:
    """A blob key: 64 hex digits, optionally ``-`` and 8 hex digits (the codec chain)."""
    if not isinstance(key, str) or not BLOB_KEY.fullmatch(key):
        raise ValidationError(f"invalid blob key {key!r}: expected a sha-256 hex digest")
    return key


def check_tag(tag: object) -> str:
    if not isinstance(tag, str) or not _TAG.fullmatch(tag):
        raise ValidationError(f"invalid tag {tag!r}: 1 to 128 printable characters")
    return tag


def check_content_type(content_type: object, *, pattern: bool = False) -> str:
    """A media type ``type/subtype`` with optional ``; name=value`` parameters (RFC 6838 tokens).

    No control characters (a CR or LF could split a header where the type is served),
    at most 255 characters. With ``pattern`` (a list filter) ``type/*`` is allowed too,
    without parameters.
    """
    rule = _CONTENT_FAMILY if pattern else _CONTENT_TYPE
    if not isinstance(content_type, str) or len(content_type) > 255 or not rule.fullmatch(content_type):
        form = "type/subtype or type/*" if pattern else "type/subtype, optionally with ; name=value parameters"
        raise ValidationError(f"invalid content type {content_type!r:.80} (content_type): expected {form}, printable ASCII")
    return content_type


def check_version(version: object, name: str = "version") -> int:
    """An artifact version: an integer from 1 to 2**63 - 1."""
    if type(version) is not int or not 1 <= version <= MAX_VERSION:
        shown = repr(version) if type(version) is not int or abs(version) < 2**80 else "a larger integer"
        raise ValidationError(f"{name} must be an integer from 1 to {MAX_VERSION}, got {shown:.60}")
    return version
