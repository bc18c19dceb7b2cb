"""The ``otel`` plugin: OpenTelemetry traces of runs, agents, tools, models, hooks, handoffs.

Install with ``pip install "llmspell[otel]"`` and switch it on::

    [otel]
    enabled = true

Spans go to an OTLP collector configured the standard way (``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_SERVICE_NAME``, ``OTEL_TRACES_SAMPLER`` ...), or into
the application's own tracer provider when it installed one. With ``enabled = false`` (the
default) the plugin only registers its config section: OpenTelemetry is not imported and
the dispatcher has no observer. ``OTEL_SDK_DISABLED=true`` turns it off too.
See ``docs/tracing.md``.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from llmspell import hookimpl

from .settings import OtelSettings
from .tracing import Tracing

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["OtelSettings", "Tracing"]

log = logging.getLogger("llmspell.otel")


def _enabled(kernel: Kernel) -> bool:
    settings: OtelSettings = kernel.config.section("otel")
    if not settings.enabled:
        return False
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        log.info("tracing is enabled in [otel] but OTEL_SDK_DISABLED=true: not tracing")
        return False
    return True


@hookimpl
def llmspell_register_config(register: Any) -> None:
    register("otel", OtelSettings, "OpenTelemetry tracing (off by default; exporters from OTEL_* variables)")


@hookimpl
def llmspell_configure(kernel: Kernel) -> None:
    if _enabled(kernel):
        from .provider import exporter_name, protocol_name, require_sdk

        require_sdk()
        settings = kernel.config.section("otel")
        exporter_name(settings, os.environ)  # a bad OTEL_TRACES_EXPORTER fails the build, not the first span
        protocol_name(settings, os.environ)


@hookimpl
def llmspell_register_services(kernel: Kernel, register: Any) -> None:
    if _enabled(kernel):
        register(Tracing, Tracing(kernel, kernel.config.section("otel")))


@hookimpl(tryfirst=True)
def llmspell_startup(kernel: Kernel) -> None:
    tracing = kernel.services.find(Tracing)
    if tracing is not None:
        tracing.start()


@hookimpl(tryfirst=True)
def llmspell_shutdown(kernel: Kernel) -> None:
    tracing = kernel.services.find(Tracing)
    if tracing is not None:
        tracing.stop()
