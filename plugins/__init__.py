"""The default distribution: one plugin per capability.

Each module here is registered in the ``llmspell`` entry-point group of llmspell's own
package, exactly as a third-party plugin would be, under the short name used to block
it (``[plugins] disable = ["artifacts"]``). Defaults start in :data:`DEFAULT_ORDER`;
their implementations are ``trylast`` where a third-party plugin should win.

The kernel finds this set as any other distribution: :data:`DEFAULTS` is the
``defaults`` entry point of the ``llmspell.distributions`` group.
"""

from __future__ import annotations

from llmspell import Distribution

__all__ = ["DEFAULT_ORDER", "DEFAULTS"]

#: Start-up order of the default plugins (shutdown runs in reverse).
DEFAULT_ORDER: tuple[str, ...] = (
    "events",
    "state",
    "artifacts",
    "sessions",
    "hooks",
    "agents",
    "tools",
    "runs",
    "cli",
)

#: The default plugins as a distribution (the kernel loads them in this order).
DEFAULTS = Distribution(
    name="defaults",
    plugins={name: f"llmspell.plugins.{name}" for name in DEFAULT_ORDER},
    description="the default plugins: one per capability",
)
