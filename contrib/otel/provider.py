"""Building the tracer provider and the exporter the standard OpenTelemetry way.

Only the choice of exporter and the fallback service name are llmspell's; the OTLP
exporters, the sampler, the resource and the batch processor read their own
``OTEL_*`` environment variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from llmspell.errors import ConfigError, MissingExtraError

from .settings import EXPORTERS, PROTOCOLS, OtelSettings

__all__ = ["require_sdk", "global_sdk_provider", "new_provider", "make_exporter", "exporter_name", "protocol_name"]


def require_sdk() -> None:
    """Fail clearly when ``llmspell[otel]`` is not installed."""
    try:
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError:
        raise MissingExtraError("tracing ([otel] enabled = true)", "otel", "opentelemetry-sdk") from None


def exporter_name(settings: OtelSettings, env: Mapping[str, str]) -> str:
    """``[otel] exporter``, else the first of ``OTEL_TRACES_EXPORTER``, else ``otlp``."""
    if settings.exporter is not None:
        return settings.exporter
    raw = env.get("OTEL_TRACES_EXPORTER", "").split(",")[0].strip().lower()
    if not raw:
        return "otlp"
    if raw not in EXPORTERS:
        raise ConfigError([f"OTEL_TRACES_EXPORTER: {raw!r} is not one of {', '.join(EXPORTERS)}"])
    return raw


def protocol_name(settings: OtelSettings, env: Mapping[str, str]) -> str:
    """``[otel] protocol``, else the OTLP protocol variables, else ``http/protobuf``."""
    if settings.protocol is not None:
        return settings.protocol
    raw = (env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "").strip()
    if not raw:
        return "http/protobuf"
    if raw not in PROTOCOLS:
        raise ConfigError([f"OTLP protocol {raw!r} is not supported; use one of {', '.join(PROTOCOLS)}"])
    return raw


def make_exporter(settings: OtelSettings, env: Mapping[str, str] | None = None) -> Any | None:
    """The span exporter the settings and environment ask for (None for ``none``)."""
    env = os.environ if env is None else env
    name = exporter_name(settings, env)
    if name == "none":
        return None
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if protocol_name(settings, env) == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
                OTLPSpanExporter,
            )
        except ImportError:
            raise MissingExtraError(
                "the OTLP/gRPC span exporter", "otel", "opentelemetry-exporter-otlp-proto-grpc"
            ) from None
        return OTLPSpanExporter()
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
    except ImportError:
        raise MissingExtraError("the OTLP/HTTP span exporter", "otel", "opentelemetry-exporter-otlp-proto-http") from None
    return HttpExporter()


def global_sdk_provider() -> Any | None:
    """The application's SDK tracer provider, if it installed one globally."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    provider = trace.get_tracer_provider()
    return provider if isinstance(provider, TracerProvider) else None


def new_provider(settings: OtelSettings, env: Mapping[str, str] | None = None) -> Any:
    """A private SDK tracer provider: resource and sampler from the environment."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    env = os.environ if env is None else env
    attributes: dict[str, Any] = {}
    if settings.service_name:
        attributes["service.name"] = settings.service_name
    elif not env.get("OTEL_SERVICE_NAME") and "service.name=" not in env.get("OTEL_RESOURCE_ATTRIBUTES", ""):
        attributes["service.name"] = "llmspell"
    # shut down with the kernel, not at interpreter exit
    return TracerProvider(resource=Resource.create(attributes), shutdown_on_exit=False)
