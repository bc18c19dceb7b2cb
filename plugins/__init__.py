"""The default distribution: one plugin per capability.

Each module here is registered in the ``llmspell`` entry-point group of llmspell's own
package, exactly as a third-party plugin would be, under the short name used to block
it (``[plugins] disable = ["artifacts"]``). Defaults start in :data:`DEFAULT_ORDER`;
their implementations are ``trylast`` where a third-party plugin should win.
"""

from __future__ import annotations

__all__ = ["DEFAULT_ORDER"]

#: Start-up order of the default plugins (shutdown runs in reverse).
DEFAULT_ORDER: tuple[str, ...] = (
    "events",
    "state",
    "artifacts",
    "sessions",
    "hooks",
    "agents",
    "tools",
)
