"""The ``[otel]`` config section."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

__all__ = ["OtelSettings", "EXPORTERS", "PROTOCOLS"]

#: Exporters ``[otel] exporter`` (or ``OTEL_TRACES_EXPORTER``) may name.
EXPORTERS = ("otlp", "console", "none")
#: OTLP protocols (``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` / ``OTEL_EXPORTER_OTLP_PROTOCOL``).
PROTOCOLS = ("http/protobuf", "grpc")


def _one_of(allowed: tuple[str, ...]) -> Callable[[Any, Any, str | None], None]:
    def check(instance: Any, attribute: Any, value: str | None) -> None:
        if value is not None and value not in allowed:
            raise ValueError(f"{attribute.name} must be one of {', '.join(allowed)}; got {value!r}")

    return check


@attrs.frozen
class OtelSettings:
    """``[otel]``: OpenTelemetry tracing, off unless ``enabled``.

    Everything else follows the standard OpenTelemetry environment variables, so the
    same deployment settings work as for any other instrumented program::

        [otel]
        enabled = true
        # exporter = "otlp"        # default: $OTEL_TRACES_EXPORTER, else otlp
        # service_name = "my-app"  # default: $OTEL_SERVICE_NAME, else llmspell

    and ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``), ``..._HEADERS``,
    ``..._PROTOCOL``, ``..._TIMEOUT``, ``..._COMPRESSION``, ``OTEL_RESOURCE_ATTRIBUTES``,
    ``OTEL_TRACES_SAMPLER`` (``..._ARG``), ``OTEL_BSP_*`` and ``OTEL_SDK_DISABLED``.
    """

    enabled: bool = False
    """Trace at all. Off by default: nothing is imported or exported unless this is on."""
    exporter: str | None = attrs.field(default=None, validator=_one_of(EXPORTERS))
    """``otlp``, ``console`` (spans printed to stdout) or ``none`` (add your own with
    ``Tracing.add_exporter``). None: ``OTEL_TRACES_EXPORTER``, else ``otlp``."""
    protocol: str | None = attrs.field(default=None, validator=_one_of(PROTOCOLS))
    """OTLP protocol; None: the ``OTEL_EXPORTER_OTLP_*PROTOCOL`` variables, else http/protobuf."""
    service_name: str | None = None
    """``service.name`` of the resource; None: ``OTEL_SERVICE_NAME`` or the resource
    attributes, else ``llmspell``."""
    use_global: bool = True
    """If the application already installed an SDK tracer provider
    (``trace.set_tracer_provider``, or ``opentelemetry-instrument``), trace into it
    instead of building one; llmspell's spans then join the application's traces."""
    hooks: bool = True
    """A span for every hook function that runs inside a traced call (its time and outcome)."""
    events: bool = True
    """Record every event published inside a traced call as a span event."""
    capture_content: bool = False
    """Also record inputs, outputs, tool arguments and event payloads (truncated). Off by
    default: they may hold personal data."""
    max_content: int = 1000
    """Characters kept of each captured value."""
