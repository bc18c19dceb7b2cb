"""Every exception llmspell raises on purpose.

All of them derive from :class:`LlmspellError`, so ``except LlmspellError`` catches
anything the framework raises deliberately. Each message names what was wrong, the
value that was given and, where there is a closed set, what is allowed.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

__all__ = [
    "LlmspellDeprecationWarning",
    "deprecated",
    "LlmspellError",
    "ConfigError",
    "PluginError",
    "UnknownNameError",
    "UnknownBackendError",
    "DuplicateNameError",
    "ServiceNotAvailable",
    "MissingExtraError",
    "SerializationError",
    "ValidationError",
    "ConflictError",
    "NotFoundError",
    "SchemaVersionError",
    "MigrationError",
    "PermissionDenied",
    "IntegrityError",
    "InvalidTransition",
    "CancelledByHook",
    "HookError",
    "BackendUnavailable",
    "LimitExceeded",
    "DeadlineExceeded",
    "CorruptRecordWarning",
]


def _words(kind: str) -> str:
    """A registry kind as a message prints it: ``"state_backend"`` -> ``"state backend"``."""
    return kind.replace("_", " ")


class LlmspellError(Exception):
    """Base class of every error llmspell raises on purpose."""


class ConfigError(LlmspellError):
    """The configuration is invalid: a bad value, an unknown key or an unknown name.

    ``problems`` holds one readable line per problem, each starting with the dotted
    path of the bad field.
    """

    def __init__(self, problems: Iterable[str], *, source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid configuration{where}:\n{lines}")


class PluginError(LlmspellError):
    """A plugin failed to load, to register or to start.

    The message names the plugin and the distribution it came from.
    """

    def __init__(
        self, plugin: str, message: str, *, distribution: str | None = None
    ) -> None:
        self.plugin = plugin
        self.distribution = distribution
        origin = f" (from distribution {distribution})" if distribution else ""
        super().__init__(f"plugin {plugin!r}{origin}: {message}")


class UnknownNameError(LlmspellError, LookupError):
    """A name (backend, reducer, codec, agent type ...) is not registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = sorted(known)
        listed = ", ".join(self.known) if self.known else "none"
        super().__init__(f"unknown {_words(kind)} {name!r}; registered: {listed}")


class UnknownBackendError(UnknownNameError, ConfigError):
    """The configuration names a backend that no loaded plugin registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = sorted(known)
        listed = ", ".join(self.known) if self.known else "none"
        message = f"unknown {_words(kind)} {name!r}; registered: {listed}"
        self.problems = [message]
        self.source = None
        Exception.__init__(self, message)


class DuplicateNameError(LlmspellError):
    """Two registrations claimed the same name of one kind."""

    def __init__(self, kind: str, name: str, first: str, second: str) -> None:
        self.kind = kind
        self.name = name
        super().__init__(
            f"{_words(kind)} {name!r} is registered twice: by {first} and by {second}"
        )


class ServiceNotAvailable(LlmspellError, LookupError):
    """No loaded plugin provides a service that was asked for."""

    def __init__(self, service: str, hint: str = "") -> None:
        self.service = service
        extra = f"; {hint}" if hint else ""
        super().__init__(f"no loaded plugin provides the {service} service{extra}")


class MissingExtraError(LlmspellError, ImportError):
    """An optional dependency is not installed; the message says what to install."""

    def __init__(self, what: str, extra: str, module: str) -> None:
        self.extra = extra
        super().__init__(
            f"{what} needs the {module!r} package, which is not installed; "
            f'run: pip install "llmspell[{extra}]"'
        )


class SerializationError(LlmspellError, TypeError):
    """A value cannot be stored as JSON; ``path`` points at the offending part."""

    def __init__(self, message: str, *, path: str = "$") -> None:
        self.path = path
        super().__init__(f"{message} (at {path})")


class ValidationError(LlmspellError, ValueError):
    """An argument is malformed (an empty key, a name with path tricks, ...)."""


class ConflictError(LlmspellError):
    """A compare-and-set found another version than the one expected.

    Carries the current version and value so the caller can merge and retry.
    """

    def __init__(
        self,
        key: str,
        *,
        expected: int | None,
        current_version: int | None,
        current_value: Any = None,
    ) -> None:
        self.key = key
        self.expected = expected
        self.current_version = current_version
        self.current_value = current_value
        now = "missing" if current_version is None else f"at version {current_version}"
        super().__init__(
            f"conflict on {key!r}: expected version {expected}, but it is {now}"
        )


class NotFoundError(LlmspellError, LookupError):
    """A record (session, artifact, agent ...) does not exist."""


class SchemaVersionError(LlmspellError):
    """A stored record has a schema version this code cannot read."""


class MigrationError(LlmspellError):
    """A registered migration failed; the stored record is left unchanged."""


class PermissionDenied(LlmspellError, PermissionError):
    """A principal lacks a permission on a resource."""

    def __init__(self, principal: str, resource: str, permission: str) -> None:
        self.principal = principal
        self.resource = resource
        self.permission = permission
        super().__init__(
            f"{principal} may not {permission} {resource} (missing permission {permission!r})"
        )


class IntegrityError(LlmspellError):
    """Stored data failed an integrity check (hash, authentication tag, format)."""


class InvalidTransition(LlmspellError):
    """A lifecycle transition is not allowed from the current state."""

    def __init__(
        self, what: str, current: str, target: str, allowed: Iterable[str]
    ) -> None:
        self.what = what
        self.current = current
        self.target = target
        self.allowed = sorted(allowed)
        listed = ", ".join(self.allowed) if self.allowed else "none"
        super().__init__(
            f"{what} cannot go from {current!r} to {target!r}; allowed from {current!r}: {listed}"
        )


class CancelledByHook(LlmspellError):
    """A hook cancelled the call it was observing."""

    def __init__(self, hook: str, point: str, reason: str) -> None:
        self.hook = hook
        self.point = point
        self.reason = reason
        super().__init__(f"hook {hook!r} cancelled {point}: {reason}")


class HookError(LlmspellError):
    """A hook raised and the strict policy made it fatal, or a hook is malformed."""


class BackendUnavailable(LlmspellError, ConnectionError):
    """A storage or messaging backend cannot be reached (after its timeout)."""


class LimitExceeded(LlmspellError):
    """A resource limit (concurrent runs, tool calls, handoff depth ...) was hit."""


class DeadlineExceeded(LlmspellError, TimeoutError):
    """A call ran past its deadline."""


class CorruptRecordWarning(UserWarning):
    """A stored record could not be decoded and was skipped (a listing, a sweep, a start).

    ``store`` names where it sits, ``key`` the record (delete it by that key) and
    ``reason`` what is wrong with it.
    """

    def __init__(self, store: str, key: str, reason: str) -> None:
        self.store = store
        self.key = key
        self.reason = reason
        super().__init__(f"skipped undecodable record {key!r} in {store}: {reason}")


class LlmspellDeprecationWarning(DeprecationWarning):
    """Every deprecation of llmspell: what still works in this release and goes in the next
    (the message names what replaces it). ``-W error::llmspell.errors.LlmspellDeprecationWarning``
    finds them all in a test run."""


def deprecated(message: str, *, stacklevel: int = 2) -> None:
    """Warn with :class:`LlmspellDeprecationWarning`; ``stacklevel`` as for the caller's own
    ``warnings.warn`` (2: the line that called the caller)."""
    warnings.warn(message, LlmspellDeprecationWarning, stacklevel=stacklevel + 1)
