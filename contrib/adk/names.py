"""Where ADK's sessions, state and artifacts live in llmspell.

ADK scopes everything by app name and user id; llmspell ids are global. So:

* an ADK session ``(app, user, id)`` is the llmspell session :func:`session_id` (a
  stable ``adk-<hash>``), whose ``app`` and ``user_id`` are ADK's and whose metadata
  keeps ADK's own session id;
* ``app:`` state is llmspell's ``app`` scope of owner ``<app>``; ``user:`` state is the
  ``user`` scope of owner ``<user>``, under keys ``<app>/<key>`` (ADK's user state is
  per app); session state is the session's own ``session`` scope; ``temp:`` state is
  never stored;
* session artifacts are llmspell artifacts of the session's scope, ``user:`` artifacts
  are in the user's scope under ``<app>/<filename>``.

ADK accepts any filename; llmspell artifact names are stricter, so characters a name
may not hold are written as ``~XX`` (UTF-8 bytes in hex) and read back unchanged.
"""

from __future__ import annotations

import re
import unicodedata

from llmspell.errors import ValidationError

from .._interop import session_id_for

#: The llmspell event type of an ADK event in a session's stream.
EVENT_TYPE = "adk.event"

__all__ = [
    "EVENT_TYPE",
    "session_id",
    "user_owner",
    "user_key",
    "user_key_prefix",
    "artifact_name",
    "user_prefix",
    "filename_of",
]

_OWNER = re.compile(r"[A-Za-z0-9._@+=-]{1,128}")
_KEEP = frozenset("-_.+=,()[]! ")


def session_id(app_name: str, user_id: str, adk_session_id: str) -> str:
    """The llmspell session id of an ADK session."""
    return session_id_for(adk_session_id, prefix="adk", parts=(app_name, user_id))


def user_owner(user_id: str) -> str:
    """The owner id of a user's artifact scope (a hashed id for ids it cannot hold)."""
    if _OWNER.fullmatch(user_id) and user_id not in (".", ".."):
        return user_id
    return session_id_for(user_id, prefix="adk-user", parts=("user",))


def _segment(text: str) -> str:
    return text.replace("%", "%25").replace("/", "%2F")


def user_key(app_name: str, key: str) -> str:
    """The key of ADK user state ``key`` of ``app_name`` in llmspell's user scope."""
    return f"{_segment(app_name)}/{key}"


def user_key_prefix(app_name: str) -> str:
    return f"{_segment(app_name)}/"


def _escape(text: str, *, ascii_only: bool) -> str:
    out = []
    last = len(text) - 1
    for i, ch in enumerate(text):
        plain = (ch.isascii() and ch.isalnum()) or ch in _KEEP
        if not ascii_only and not plain and not ch.isascii():
            kind = unicodedata.category(ch)[0]
            plain = kind in ("L", "N") and unicodedata.normalize("NFKC", ch) == ch
        if ch == " " and i in (0, last):
            plain = False
        out.append(ch if plain else "".join(f"~{b:02X}" for b in ch.encode("utf-8", "surrogatepass")))
    escaped = "".join(out)
    if escaped in (".", ".."):
        escaped = escaped.replace(".", "~2E")
    return escaped


def _name(prefix: str, filename: str) -> str:
    from llmspell.plugins.artifacts.backend import check_name

    for ascii_only in (False, True):
        name = prefix + _escape(filename, ascii_only=ascii_only)
        try:
            return check_name(name)
        except ValidationError:
            continue
    raise ValidationError(f"ADK filename {filename[:60]!r} is too long to store as an llmspell artifact")


def user_prefix(app_name: str) -> str:
    """The name prefix of an app's ``user:`` files in the user's artifact scope."""
    return _escape(app_name, ascii_only=True) + "/"


def artifact_name(app_name: str, filename: str) -> str:
    """The llmspell artifact name of an ADK filename (``user:`` files carry the app)."""
    if filename.startswith("user:"):
        return _name(user_prefix(app_name), filename)
    return _name("", filename)


def filename_of(name: str) -> str:
    """The ADK filename of an llmspell artifact name made by :func:`artifact_name`."""
    name = name.rpartition("/")[2]
    if "~" not in name:
        return name
    raw = bytearray()
    i = 0
    while i < len(name):
        if name[i] == "~" and re.fullmatch(r"[0-9A-F]{2}", name[i + 1 : i + 3]):
            raw.append(int(name[i + 1 : i + 3], 16))
            i += 3
        else:
            raw += name[i].encode("utf-8")
            i += 1
    return raw.decode("utf-8", "surrogatepass")
