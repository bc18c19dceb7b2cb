"""Event type names and topic patterns.

A type name is dotted: one or more segments of letters, digits, ``_`` and ``-``
(``agent.started``, ``state.changed``, ``my-app.order.paid``). A *pattern* selects type
names:

* an exact name matches itself only;
* ``*`` matches exactly one segment: ``agent.*`` matches ``agent.started`` but neither
  ``agent`` nor ``agent.tool.called``;
* ``**`` matches one or more segments: ``agent.**`` matches ``agent.started`` and
  ``agent.tool.called`` but not ``agent`` itself; ``**`` alone matches every type.

Wildcards stand for whole segments (``age*`` is an error). Several patterns may be
given as a sequence; an event matches when any of them does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from .errors import ValidationError

__all__ = ["check_type", "check_stream", "TopicPattern", "compile_patterns"]

_SEGMENT = r"[A-Za-z0-9_\-]+"
_TYPE_RE = re.compile(rf"{_SEGMENT}(?:\.{_SEGMENT})*")
MAX_TYPE_LENGTH = 200

_valid_types: set[str] = set()


def check_type(name: object) -> str:
    """Return ``name`` if it is a valid event type name, else raise :class:`ValidationError`."""
    if name in _valid_types:
        return name
    if not isinstance(name, str):
        raise ValidationError(f"an event type must be a string, got {type(name).__name__} {name!r}")
    if len(name) > MAX_TYPE_LENGTH or not _TYPE_RE.fullmatch(name):
        raise ValidationError(
            f"invalid event type {name!r}: use dotted segments of letters, digits, '_' and '-' "
            f"(like 'agent.started'), at most {MAX_TYPE_LENGTH} characters"
        )
    if len(_valid_types) < 100_000:
        _valid_types.add(name)
    return name


class TopicPattern:
    """One or more compiled topic patterns; ``match(type_name) -> bool``."""

    __slots__ = ("_exact", "_regex", "patterns", "prefixes")

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns: tuple[str, ...] = tuple(patterns)
        if not self.patterns:
            raise ValidationError("at least one topic pattern is needed")
        exact: set[str] = set()
        regexes: list[str] = []
        prefixes: list[str] = []
        for pattern in self.patterns:
            segments = _split(pattern)
            if "*" not in segments and "**" not in segments:
                exact.add(pattern)
                prefixes.append(pattern)
                continue
            literal = []
            for seg in segments:
                if seg in ("*", "**"):
                    break
                literal.append(seg)
            prefixes.append(".".join(literal) + "." if literal else "")
            regexes.append(".".join(_segment_regex(s) for s in segments))
        self._exact = frozenset(exact)
        self._regex = re.compile("|".join(f"(?:{r})" for r in regexes)) if regexes else None
        self.prefixes: tuple[str, ...] = tuple(prefixes)
        """Literal prefix of each pattern (``agent.`` for ``agent.*``): index hints for backends."""

    @property
    def matches_all(self) -> bool:
        return "" in self.prefixes

    def match(self, type_name: str) -> bool:
        """Whether ``type_name`` matches any of the patterns."""
        if type_name in self._exact:
            return True
        return self._regex is not None and self._regex.fullmatch(type_name) is not None

    __call__ = match

    def __repr__(self) -> str:
        return f"TopicPattern({', '.join(self.patterns)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TopicPattern) and other.patterns == self.patterns

    def __hash__(self) -> int:
        return hash(self.patterns)


def _split(pattern: object) -> list[str]:
    if not isinstance(pattern, str) or not pattern:
        raise ValidationError(f"a topic pattern must be a non-empty string, got {pattern!r}")
    segments = pattern.split(".")
    for seg in segments:
        if seg in ("*", "**"):
            continue
        if "*" in seg or not re.fullmatch(_SEGMENT, seg):
            raise ValidationError(
                f"invalid topic pattern {pattern!r}: segments are names, '*' (one segment) "
                "or '**' (one or more segments), separated by dots"
            )
    return segments


def _segment_regex(segment: str) -> str:
    if segment == "*":
        return r"[^.]+"
    if segment == "**":
        return r"[^.]+(?:\.[^.]+)*"
    return re.escape(segment)


@lru_cache(maxsize=1024)
def _compile(patterns: tuple[str, ...]) -> TopicPattern:
    return TopicPattern(patterns)


def compile_patterns(patterns: str | Iterable[str] | TopicPattern) -> TopicPattern:
    """A :class:`TopicPattern` from one pattern, several, or an already compiled one."""
    if isinstance(patterns, TopicPattern):
        return patterns
    if isinstance(patterns, str):
        return _compile((patterns,))
    return _compile(tuple(patterns))


MAX_STREAM_LENGTH = 512


def check_stream(name: object) -> str:
    """Return ``name`` if it can name a stream (a non-empty string without control characters)."""
    if type(name) is not str or not name or len(name) > MAX_STREAM_LENGTH or not name.isprintable():
        raise ValidationError(
            f"invalid stream name {name!r}: use a non-empty printable string of at most "
            f"{MAX_STREAM_LENGTH} characters"
        )
    return name
