"""llmspell: agent infrastructure as a plugin-based microkernel.

The kernel defines the hook contract (:mod:`llmspell.hookspecs`) and owns nothing
else; state, events, sessions, artifacts, hooks and agents are plugins.
"""

from __future__ import annotations

from ._loader import Distribution, PluginInfo
from .config import Config
from .context import ExecutionContext, Principal
from .decisions import Answer, Approve, Edit, Reject
from .errors import (
    CancelledByHook,
    ConfigError,
    ConflictError,
    LlmspellError,
    NotFoundError,
    PermissionDenied,
    PluginError,
    ServiceNotAvailable,
)
from .hooks import Cancel, HookCall, Replace, Retry
from .hookspecs import hookimpl, hookspec
from .kernel import Kernel
from .services import StashKey

__all__ = [
    "Kernel",
    "hookimpl",
    "hookspec",
    "Config",
    "Distribution",
    "PluginInfo",
    "ExecutionContext",
    "Principal",
    "HookCall",
    "Replace",
    "Cancel",
    "Retry",
    "Approve",
    "Edit",
    "Reject",
    "Answer",
    "StashKey",
    "LlmspellError",
    "ConfigError",
    "PluginError",
    "ServiceNotAvailable",
    "ConflictError",
    "NotFoundError",
    "PermissionDenied",
    "CancelledByHook",
]

__version__ = "0.1.0"
