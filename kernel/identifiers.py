"""The one rule for each kind of identifier, checked where an identifier enters.

**Session ids** travel furthest: they name state owners, event streams, artifact scopes,
Redis keys, PostgreSQL rows, NATS subject tokens, console URLs and export files. So a
session id is 1 to 128 characters of ``A-Z a-z 0-9 . _ @ + = -`` and not ``.`` or
``..``: safe as a file name, a URL path segment, a Redis key part and (token-encoded)
a NATS subject token. Generated ids (UUIDv7) and every id the framework adapters derive
(``adk-<hash>``) follow it. The artifact service uses the same rule for its scope ids.

**User ids** and **app names** are free text like state owners: 1 to 256 characters,
no control characters (so no NUL, no line breaks).

Every entry point (``sessions.create``, ``get``, ``fork``, imports, the console, the
framework adapters) checks through these functions, so an id that ``create`` accepts
is accepted everywhere else, and one it refuses is refused at the door with the same
message.
"""

from __future__ import annotations

import re

from .errors import ValidationError

__all__ = [
    "MAX_SESSION_ID",
    "MAX_USER_ID",
    "SESSION_ID_CHARS",
    "check_session_id",
    "check_user_id",
    "is_session_id",
]

#: Longest session id, in characters.
MAX_SESSION_ID = 128
#: Longest user id or app name, in characters (the state service's owner limit).
MAX_USER_ID = 256
#: The characters a session id may hold, as a human reads them.
SESSION_ID_CHARS = "A-Z a-z 0-9 . _ @ + = -"

_SESSION_ID = re.compile(r"[A-Za-z0-9._@+=-]{1,%d}" % MAX_SESSION_ID)  # noqa: UP031
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def is_session_id(value: object) -> bool:
    """Whether ``value`` is a valid session id."""
    return type(value) is str and _SESSION_ID.fullmatch(value) is not None and value not in (".", "..")


def check_session_id(value: object, what: str = "session id") -> str:
    """Return ``value`` if it is a valid session id, else raise :class:`ValidationError`."""
    if is_session_id(value):
        return value  # type: ignore[return-value]
    if type(value) is not str or not value:
        raise ValidationError(f"a {what} must be a non-empty string, got {value!r}")
    shown = value if len(value) <= 40 else value[:37] + "..."
    raise ValidationError(
        f"{what} {shown!r} is not allowed: use 1 to {MAX_SESSION_ID} characters of "
        f"{SESSION_ID_CHARS}, not '.' or '..'"
    )


def check_user_id(value: object, what: str = "user id") -> str:
    """Return ``value`` if it is a valid user id (or app name), else raise :class:`ValidationError`."""
    if type(value) is not str or not value:
        raise ValidationError(f"a {what} must be a non-empty string, got {value!r}")
    if len(value) > MAX_USER_ID:
        raise ValidationError(f"{what} {value[:40]!r}... is {len(value)} characters long; the limit is {MAX_USER_ID}")
    if _CONTROL.search(value):
        raise ValidationError(f"{what} {value!r} contains a control character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(f"{what} {value!r} is not valid Unicode text (a lone surrogate)") from None
    return value
