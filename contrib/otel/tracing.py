"""The tracing service of one kernel: its provider, its tracer and its observer."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .provider import global_sdk_provider, make_exporter, new_provider
from .settings import OtelSettings

if TYPE_CHECKING:
    from llmspell import Kernel

    from .spans import SpanObserver

__all__ = ["Tracing"]

log = logging.getLogger("llmspell.otel")


class Tracing:
    """OpenTelemetry tracing for one kernel (``kernel.service(Tracing)`` when enabled).

    ``provider`` is the SDK tracer provider spans go to: the application's global one
    when it installed one (``[otel] use_global``), else a private one built from the
    environment and shut down with the kernel.
    """

    def __init__(self, kernel: Kernel, settings: OtelSettings, env: Mapping[str, str] | None = None) -> None:
        self.kernel = kernel
        self.settings = settings
        self.env = os.environ if env is None else env
        self.provider: Any = None
        self.tracer: Any = None
        self.observer: SpanObserver | None = None
        self.owned = False
        self._detach: Callable[[], None] | None = None

    def start(self) -> None:
        """Build or find the provider, attach the exporter and start observing."""
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from llmspell import __version__

        from .spans import SpanObserver  # imports OpenTelemetry: only when tracing is on

        found = global_sdk_provider() if self.settings.use_global else None
        if found is not None:
            self.provider = found
            log.info("tracing into the application's tracer provider")
        else:
            self.provider = new_provider(self.settings, self.env)
            self.owned = True
            exporter = make_exporter(self.settings, self.env)
            if exporter is not None:
                self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("llmspell", __version__)
        self.observer = SpanObserver(self.tracer, self.settings)
        self._detach = self.kernel.dispatcher.add_observer(self.observer)

    def add_exporter(self, exporter: Any, *, batch: bool = True) -> None:
        """Send spans to one more exporter too (``batch=False`` exports each span at once)."""
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        self.provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))

    def flush(self, timeout_millis: int = 30_000) -> bool:
        """Export every finished span now; False if it did not finish in time."""
        return bool(self.provider.force_flush(timeout_millis)) if self.provider is not None else True

    def stop(self) -> None:
        """Stop observing; flush, and shut down the provider if it is the kernel's own."""
        if self._detach is not None:
            self._detach()
            self._detach = None
        if self.provider is None:
            return
        if self.owned:
            self.provider.shutdown()
        else:
            self.provider.force_flush()
