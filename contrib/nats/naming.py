"""Names on the NATS server: subject tokens, stream names, key-value keys.

A NATS subject is a dot-separated list of tokens, and a JetStream key-value key may only
use ``A-Z a-z 0-9 - _ = / .``. Stream names, event ids and state keys are arbitrary
text, so each part is *token-encoded*: text made only of letters, digits, ``-`` and
``_`` stays as it is (``session-42``), anything else becomes ``=`` followed by its
URL-safe base64 without padding (``=c2Vzc2lvbjoxIDI``). No plain token starts with
``=``, so the mapping is one-to-one and reversible.
"""

from __future__ import annotations

import base64
import re

__all__ = ["token", "untoken", "stream_prefix", "kv_subject", "kv_key_from_subject", "kv_filter"]

_PLAIN = re.compile(r"[A-Za-z0-9_-]+")


def token(text: str) -> str:
    """``text`` as one subject token."""
    if _PLAIN.fullmatch(text):
        return text
    return "=" + base64.urlsafe_b64encode(text.encode()).decode("ascii").rstrip("=")


def untoken(tok: str) -> str:
    """The text a :func:`token` stands for."""
    if not tok.startswith("="):
        return tok
    body = tok[1:]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def stream_prefix(prefix: str) -> str:
    """What the names of the JetStream streams of one ``[nats] prefix`` start with."""
    return f"{prefix}_"


def kv_subject(bucket_subject: str, key: str) -> str:
    """The subject of state key ``key`` (``scope/owner/rest``: one token per part)."""
    return bucket_subject + ".".join(token(part) for part in key.split("/", 2))


def kv_key_from_subject(bucket_subject: str, subject: str) -> str:
    return "/".join(untoken(tok) for tok in subject[len(bucket_subject):].split("."))


def kv_filter(bucket_subject: str, prefix: str) -> str:
    """The narrowest subject filter holding every key that starts with ``prefix``.

    Keys are split into at most three tokens at their first two ``/``; a prefix that
    names a whole scope and owner (``user/u1/...``) narrows to that owner's keys.
    """
    parts = prefix.split("/", 2)
    whole = parts[:-1]  # the parts followed by a '/', so complete tokens
    if not whole:
        return bucket_subject + ">"
    return bucket_subject + ".".join(token(p) for p in whole) + ".>"
