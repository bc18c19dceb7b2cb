"""The kernel: builds the plugin manager, validates config, starts and stops plugins."""

from __future__ import annotations

import inspect
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from . import hookspecs
from ._loader import DEFAULTS_DISTRIBUTION, Distribution, PluginInfo, PluginLoader, PluginManager
from .config import Config, RawConfig, SectionSpec
from .context import ExecutionContext, Principal
from .errors import (
    ConfigError,
    LlmspellError,
    PluginError,
    ServiceNotAvailable,
    UnknownBackendError,
    deprecated,
)
from .hooks import CallLoop, Deferred, HookCall, Hooks, current_point
from .registry import Registry
from .services import Services, Stash

if TYPE_CHECKING:  # the typed accessors only; at run time services are found by capability name
    from llmspell.plugins.agents.api import AgentService
    from llmspell.plugins.artifacts.api import ArtifactService
    from llmspell.plugins.events.api import Event, EventService
    from llmspell.plugins.hooks.api import CallbackSet, Dispatcher, HookStats
    from llmspell.plugins.runs.api import RunService
    from llmspell.plugins.sessions.api import SessionService
    from llmspell.plugins.state.api import StateService

__all__ = ["Kernel", "REGISTRATION_HOOKS"]

log = logging.getLogger("llmspell.kernel")
S = TypeVar("S")

#: Registration hook -> the kind of registry it fills, read from the specifications: every
#: ``llmspell_register_<kind>s(register)`` but the config sections (``llmspell_register_config``).
#: A kind is an identifier (``"state_backend"``); messages print it as words ("state backend").
REGISTRATION_HOOKS: dict[str, str] = {
    name: name.removeprefix("llmspell_register_").removesuffix("s")
    for name, spec in vars(hookspecs).items()
    if name.startswith("llmspell_register_") and name != "llmspell_register_config"
    and list(inspect.signature(spec).parameters) == ["register"]
}


class _Register:
    """The ``register`` callable of a registration hook; knows which plugin is calling."""

    def __init__(self, add: Callable[..., None], target: Any) -> None:
        self._add = add
        self._target = target
        self.plugin = ""

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        self._add(self._target, self.plugin, *args, **kwargs)


def _add_registration(
    registry: Registry[Any], plugin: str, name: Any, value: Any, description: str = "", **options: Any
) -> None:
    registry.add(name, value, plugin=plugin, description=description, **options)


class _MigrationRegister(_Register):
    """The ``register`` of ``llmspell_register_state_migrations``."""

    def __init__(self, migrations: Registry[Any], schemas: Registry[int]) -> None:
        super().__init__(self._migration, migrations)
        self._schemas = schemas

    @staticmethod
    def _migration(migrations: Registry[Any], plugin: str, namespace: str, from_version: int, fn: Callable[[Any], Any]) -> None:
        migrations.add((namespace, from_version), fn, plugin=plugin)

    def schema(self, namespace: str, version: int) -> None:
        self._schemas.add(namespace, version, plugin=self.plugin)


class Kernel:
    """One llmspell runtime: plugins, configuration, services and hook dispatch.

    ``Kernel()`` alone runs on the embedded defaults in ``./.llmspell``. Use it as an
    async context manager (``async with Kernel() as kernel:``) or call ``start()`` and
    ``stop()``. Building the kernel loads plugins and validates the configuration
    (errors raise here); starting it creates services and runs startup hooks.
    """

    def __init__(
        self,
        config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
        *,
        distribution: str | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        plugins: Iterable[Any] = (),
        disable: Iterable[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        env = dict(os.environ if env is None else env)
        self.debug = env.get("LLMSPELL_DEBUG", "") not in ("", "0", "false")
        raw = RawConfig.load(config, env=env)
        keys = raw.kernel_keys()
        dist_name = distribution or keys.distribution
        self.distribution: Distribution | None = None
        self.pm = PluginManager(on_change=self._plugins_changed)
        self._loop: CallLoop | None = None
        self._order: dict[str, int] | None = None  # plugin name -> load position (cached)
        self._enriched: bool | None = None  # whether any plugin enriches contexts (cached)
        if self.debug:
            self.pm.trace.root.setwriter(lambda text: _debug_write(f"[llmspell] {text}"))
            self.pm.enable_tracing()
        self._loader = PluginLoader(self.pm, debug=self.debug)
        if dist_name:
            self.distribution = self._loader.find_distribution(dist_name)
            raw = raw.with_defaults(self.distribution.config, f"distribution {self.distribution.name!r}")
            keys = raw.kernel_keys()
        defaults = self._loader.find_distribution(DEFAULTS_DISTRIBUTION)

        blocking: dict[str, str] = {}  # plugin name -> who blocked it
        for name in keys.plugins.disable:
            blocking.setdefault(name, raw.origin("plugins.disable") or "the configuration")
        for name in _split(env.get("LLMSPELL_DISABLE_PLUGINS", "")):
            blocking.setdefault(name, "environment LLMSPELL_DISABLE_PLUGINS")
        for name in [disable] if isinstance(disable, str) else disable:
            blocking.setdefault(name, "argument")
        self._loader.load(
            default_order=defaults.plugins,
            disable=blocking,
            distribution=self.distribution,
            autoload=keys.plugins.autoload
            and env.get("LLMSPELL_DISABLE_PLUGIN_AUTOLOAD", "") in ("", "0", "false"),
            extra_modules=[*keys.plugins.load, *_split(env.get("LLMSPELL_PLUGINS", ""))],
            objects=plugins,
        )
        self._loop = CallLoop(self.pm, kernel=self)
        self.hook = Hooks(self._loop, self._steps)
        """Every hook by name: ``await kernel.hook.state_before_write(request=...)``."""
        self.registries: dict[str, Registry[Any]] = {
            kind: Registry(kind) for kind in REGISTRATION_HOOKS.values()
        }
        self.registries["state_schema"] = Registry("state_schema")
        self.section_specs: dict[str, SectionSpec] = {}
        self._collect_sections(self.section_specs)
        self.config: Config = Config.build(
            raw, self.section_specs, env=env, data_dir=data_dir, blocked=self._loader.blocked,
            unavailable={name: extra for name, (_, _, extra) in self._loader.unavailable.items()},
        )
        self._collect_registrations()
        self._backends: list[tuple[str, str, Any]] = []  # (kind, name, backend), in creation order
        self._opened: list[tuple[str, str, Any]] = []
        self.services = Services()
        self.stash = Stash()
        self.started = False
        self.quiet = False
        """True: the kernel's own system events (``kernel.started`` ...) are not published,
        so that looking at a data directory (``llmspell sessions list``) adds nothing to it."""
        self._started_plugins: list[str] = []
        self._configure()

    # -- plugins and registrations --------------------------------------------------

    def _plugins_changed(self) -> None:
        self._order = None
        self._enriched = None
        if self._loop is not None:
            self._loop.invalidate()

    def _steps(self, hook: str, plugin: str | None = None, **kwargs: Any) -> list[Deferred]:
        """Call ``hook`` through pluggy; its implementations' runs, in plugin load order.

        pluggy hands back one pending run per implementation (see
        :meth:`PluginManager._guard`); the kernel runs them in load order, ``tryfirst``
        and ``trylast`` moving them, so that defaults come first and shutdown can run in
        reverse.
        """
        caller = getattr(self.pm.hook, hook)
        if not caller.get_hookimpls():  # nothing implements it: there is nothing to call
            return []
        steps: list[Deferred] = caller(**kwargs)
        if plugin is not None:
            steps = [s for s in steps if s.plugin == plugin]
        if len(steps) > 1:
            if self._order is None:
                self._order = {name: i for i, name in enumerate(self._loader.infos)}
            loaded = self._order
            steps.sort(key=lambda s: (s.band, loaded.get(s.plugin, len(loaded))))
        if self.debug and steps:
            self._say(f"call {hook}: {', '.join(s.plugin for s in steps)}")
        return steps

    def _say(self, text: str) -> None:
        """One line of ``LLMSPELL_DEBUG`` output on stderr."""
        if self.debug:
            _debug_write(f"[llmspell] {text}\n")

    def _distribution_of(self, plugin: str) -> str | None:
        info = self._loader.infos.get(plugin)
        return info.distribution if info else None

    def _run(self, step: Deferred) -> Any:
        """Run one plugin's hook; an error names the plugin and its package."""
        try:
            return step.run()
        except LlmspellError:
            raise
        except Exception as exc:
            raise PluginError(
                step.plugin,
                f"{step.hook} raised {type(exc).__name__}: {exc}",
                distribution=self._distribution_of(step.plugin),
            ) from exc

    def call_each(self, steps: list[Deferred]) -> None:
        """Run synchronous lifecycle hooks in order: ``kernel.call_each(kernel.hook.configure(kernel=kernel))``."""
        for step in steps:
            self._run(step)

    def _collect_sections(self, specs: dict[str, SectionSpec], plugin: str | None = None) -> None:
        register = _Register(self._add_section, specs)
        for step in self.hook.register_config(plugin=plugin, register=register):
            register.plugin = step.plugin
            self._run(step)

    @staticmethod
    def _add_section(
        specs: dict[str, SectionSpec], plugin: str, name: str, cls: Any, description: str = "",
        backends: Mapping[str, str] | None = None,
    ) -> None:
        if name in specs or name in ("data_dir", "distribution", "plugins"):
            first = specs[name].plugin if name in specs else "the kernel"
            raise PluginError(plugin, f"config section {name!r} is already registered by {first}")
        specs[name] = SectionSpec(name, cls, plugin, description, dict(backends or {}))

    def _collect_registrations(self, plugin: str | None = None) -> None:
        for hook, kind in REGISTRATION_HOOKS.items():
            registry = self.registries[kind]
            register: _Register
            if kind == "state_migration":
                register = _MigrationRegister(registry, self.registries["state_schema"])
            else:
                register = _Register(_add_registration, registry)
            for step in getattr(self.hook, hook.removeprefix("llmspell_"))(plugin=plugin, register=register):
                register.plugin = step.plugin
                self._run(step)

    def registry(self, kind: str) -> Registry[Any]:
        """The registry of one kind: ``"state_backend"``, ``"agent_type"`` ... (:data:`REGISTRATION_HOOKS`).

        The kinds spelt with spaces before this release (``"state backend"``) still work, with a
        ``DeprecationWarning`` naming the identifier, until the next release.
        """
        registry = self.registries.get(kind)
        if registry is None and (registry := self.registries.get(kind.replace(" ", "_"))) is not None:
            caller = sys._getframe(1)  # create_backend / check_backend: warn at their caller
            deprecated(f"registry kind {kind!r} is now {registry.kind!r}; the old spelling will be removed in the "
                       "next release", stacklevel=3 if caller.f_code.co_filename == __file__ else 2)
        if registry is None:
            raise ConfigError([f"no registry of kind {kind!r}; kinds: {', '.join(sorted(self.registries))}"])
        return registry

    def _configure(self) -> None:
        """Check every backend name a section declares (``register(..., backends={key: kind})``)
        and run ``llmspell_configure``; the problems of both are reported together."""
        problems = []
        for spec in self.section_specs.values():
            for key, kind in spec.backends.items():
                name = getattr(self.config.section(spec.name), key)
                if problem := self.check_backend(f"{spec.name}.{key}", kind, name):
                    problems.append(problem)
        try:
            self.call_each(self.hook.configure(kernel=self))
        except ConfigError as exc:
            if problems:
                raise ConfigError([*problems, *exc.problems], source=exc.source or self.config.source) from None
            raise
        if problems:
            raise ConfigError(problems, source=self.config.source)

    def check_backend(self, where: str, kind: str, name: str) -> str | None:
        """The configuration problem of choosing backend ``name`` of ``kind`` at ``where``, or None.

        The kernel checks the backend keys every section declares through this when it is
        built, so an unknown name fails at once with the same message for each:
        ``state.backend: unknown state backend 'x' (registered: diskcache, memory)``.
        """
        registry = self.registry(kind)
        if name in registry:
            return None
        if name in self._loader.unavailable:
            extra = self._loader.unavailable[name][2]
            return f"{where}: {registry.words} {name!r} needs llmspell[{extra}]: pip install 'llmspell[{extra}]'"
        known = ", ".join(sorted(str(n) for n in registry.names())) or "none"
        return f"{where}: unknown {registry.words} {name!r} (registered: {known})"

    def create_backend(self, kind: str, name: str) -> Any:
        """Build the backend ``name`` of ``kind`` (e.g. ``"state_backend"``) for this kernel.

        The kernel owns what it builds: :meth:`start` opens it (``await backend.open()``
        when it has one), :meth:`stop` closes it, :meth:`health` asks it. An unknown name
        raises :class:`~llmspell.errors.UnknownBackendError` (a ``ConfigError``) listing
        the registered names.
        """
        registry = self.registry(kind)
        if name not in registry and name in self._loader.unavailable:
            extra = self._loader.unavailable[name][2]
            raise ConfigError([f"{registry.words} {name!r} needs llmspell[{extra}]: pip install 'llmspell[{extra}]'"])
        if name not in registry:
            raise UnknownBackendError(registry.kind, name, (str(n) for n in registry.names()))
        registration = registry.registration(name)
        try:
            backend = registration.value(self)
            self._backends.append((registry.kind, name, backend))
            return backend
        except LlmspellError:
            raise
        except Exception as exc:
            raise PluginError(
                registration.plugin,
                f"{registry.words} {name!r} could not be created: {type(exc).__name__}: {exc}",
                distribution=self._distribution_of(registration.plugin),
            ) from exc

    def add_plugin(self, plugin: Any, name: str | None = None) -> str:
        """Register a plugin object at run time; its registrations are collected at once."""
        label = name or getattr(plugin, "__name__", None) or f"{type(plugin).__name__}-{id(plugin):x}"
        self._loader.register(plugin, label, "runtime", getattr(plugin, "__module__", None), None, None)
        self._collect_registrations(plugin=label)
        return label

    @staticmethod
    def _add_service(services: Services, plugin: str, kind: type, instance: Any) -> None:
        services.register(kind, instance, plugin=plugin)

    @property
    def plugins(self) -> list[PluginInfo]:
        """Every loaded plugin, in load order, with its source and hooks."""
        infos = []
        for name, info in self._loader.infos.items():
            plugin = self.pm.get_plugin(name)
            if plugin is None:
                continue
            hooks = tuple(sorted(c.name for c in self.pm.get_hookcallers(plugin) or ()))
            infos.append(PluginInfo(info.name, info.source, info.module, info.distribution, info.version, hooks))
        return infos

    @property
    def unavailable(self) -> dict[str, tuple[str, str | None, str]]:
        """Plugins of this package not loaded because their extra is missing:
        name -> (module, version, extra)."""
        return dict(self._loader.unavailable)

    @property
    def blocked(self) -> list[str]:
        """Plugin names blocked by config, environment, arguments or the distribution."""
        return list(self._loader.blocked)

    # -- hooks ------------------------------------------------------------------------

    @property
    def dispatcher(self) -> Dispatcher:
        """The ``hooks`` plugin's dispatcher: runtime hooks, callbacks, policy, observers."""
        if self.hook.loop.extension is None:
            raise ServiceNotAvailable("hooks", "runtime hooks, callbacks and observers need the hooks plugin")
        return cast("Dispatcher", self.hook.loop.extension)

    @property
    def hooks(self) -> CallbackSet:
        """Runtime hooks: ``kernel.hooks.register("agent_before", fn, priority=10)``."""
        return self.dispatcher.hooks

    @property
    def callbacks(self) -> CallbackSet:
        """Observation callbacks: ``kernel.callbacks.on("tool_after", fn)``."""
        return self.dispatcher.callbacks

    def hook_stats(self) -> list[HookStats]:
        """Counters and breaker state of every hook function (none without the hooks plugin)."""
        return self.dispatcher.stats() if self.hook.loop.extension is not None else []

    async def dispatch(self, point: str, call: HookCall | None = None, **args: Any) -> HookCall:
        """Deprecated: use ``await kernel.hook.<point>(call, **args)``; goes in the next release."""
        deprecated("kernel.dispatch(point, ...) is deprecated: use await kernel.hook.<point>(...)")
        return await getattr(self.hook, current_point(point))(call, **args)  # type: ignore[no-any-return]

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> Kernel:
        """Create services and run startup hooks; on failure, shut down what started."""
        if self.started:
            return self
        try:
            self.config.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError([f"data_dir: cannot create {self.config.data_dir}: {exc}"]) from None
        self.services.clear()
        register = _Register(self._add_service, self.services)
        for step in self.hook.register_services(kernel=self, register=register):
            register.plugin = step.plugin
            self._run(step)
        await self._open_backends()
        startups = {s.plugin: s for s in self.hook.startup(kernel=self)}
        stopping = {i.plugin_name for i in self.hook.shutdown.impls()}
        order = [*startups, *(name for name in self._loader.infos if name in stopping and name not in startups)]
        self._started_plugins = []
        try:
            for name in order:
                starting = startups.get(name)
                if starting is not None:
                    began = time.perf_counter()
                    try:
                        result = starting.run()
                        if inspect.isawaitable(result):
                            await result
                    except Exception as exc:
                        self._say(f"llmspell_startup: {name} raised {type(exc).__name__}: {exc}")
                        raise PluginError(
                            name,
                            f"startup failed: {type(exc).__name__}: {exc}",
                            distribution=self._distribution_of(name),
                        ) from exc
                    self._say(f"llmspell_startup: {name} ({(time.perf_counter() - began) * 1000:.2f} ms)")
                self._started_plugins.append(name)
        except BaseException:
            await self._shutdown_plugins()
            await self._close_backends()
            raise
        self.started = True
        await self.emit("kernel.started", {"plugins": [p.name for p in self.plugins]})
        return self

    async def stop(self) -> None:
        """Run shutdown hooks in reverse startup order; errors are logged, not raised."""
        if not self.started:
            return
        await self.emit("kernel.stopping", {})
        await self._shutdown_plugins()
        await self._close_backends()
        self.started = False

    async def _open_backends(self) -> None:
        """Open every backend created so far, once, in creation order; on a failure close
        the ones opened and raise a :class:`PluginError` naming the backend."""
        for kind, name, backend in self._backends:
            if any(backend is b for _, _, b in self._opened):
                continue
            opening = getattr(backend, "open", None)
            try:
                if opening is not None:
                    await opening()
            except Exception as exc:
                await self._close_backends()
                plugin = self.registry(kind).registration(name).plugin
                raise PluginError(
                    plugin, f"{self.registries[kind].words} {name!r} could not be opened: {type(exc).__name__}: {exc}",
                    distribution=self._distribution_of(plugin),
                ) from exc
            self._opened.append((kind, name, backend))

    async def _close_backends(self) -> None:
        """Close the opened backends in reverse order; errors are logged, not raised."""
        while self._opened:
            kind, name, backend = self._opened.pop()
            closing = getattr(backend, "close", None)
            try:
                if closing is not None:
                    await closing()
            except Exception:
                log.exception("%s %r failed to close", kind, name)
        self._backends.clear()

    async def health(self) -> dict[str, list[str]]:
        """Each backend's problems (empty: fine) by ``"<kind> <name>"``, from its ``health()``."""
        report: dict[str, list[str]] = {}
        for kind, name, backend in self._backends:
            check = getattr(backend, "health", None)
            try:
                problems = [] if check is None else list(await check())
            except Exception as exc:
                problems = [f"{type(exc).__name__}: {exc}"]
            label = f"{self.registries[kind].words} {name}"
            report[label if label not in report else f"{label} ({len(report)})"] = problems
        return report

    async def _shutdown_plugins(self) -> None:
        if not self._started_plugins:
            return
        shutdowns = {s.plugin: s for s in self.hook.shutdown(kernel=self)}
        while self._started_plugins:
            name = self._started_plugins.pop()
            step = shutdowns.get(name)
            if step is None:
                continue
            began = time.perf_counter()
            try:
                result = step.run()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("plugin %s failed to shut down", name)
            self._say(f"llmspell_shutdown: {name} ({(time.perf_counter() - began) * 1000:.2f} ms)")
        self.services.clear()

    async def __aenter__(self) -> Kernel:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- services ---------------------------------------------------------------------

    def service(self, kind: Callable[..., S]) -> S:
        """The service registered for ``kind``."""
        return self.services.get(kind)

    @property
    def state(self) -> StateService:
        return cast("StateService", self.services.capability("state", "StateService"))

    @property
    def events(self) -> EventService:
        return cast("EventService", self.services.capability("events", "EventService"))

    @property
    def sessions(self) -> SessionService:
        return cast("SessionService", self.services.capability("sessions", "SessionService"))

    @property
    def artifacts(self) -> ArtifactService:
        return cast("ArtifactService", self.services.capability("artifacts", "ArtifactService"))

    @property
    def agents(self) -> AgentService:
        return cast("AgentService", self.services.capability("agents", "AgentService"))

    @property
    def runs(self) -> RunService:
        return cast("RunService", self.services.capability("runs", "RunService"))

    @property
    def data_dir(self) -> Path:
        return self.config.data_dir

    # -- context, events, running -------------------------------------------------------

    async def context(
        self,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        principal: Principal | None = None,
        timeout: float | None = None,
        **fields: Any,
    ) -> ExecutionContext:
        """A fresh execution context bound to this kernel, enriched by plugins."""
        ctx = ExecutionContext(
            session_id=session_id, user_id=user_id, principal=principal,
            services=self.services, **fields,
        )
        if timeout is not None:
            ctx = ctx.with_timeout(timeout)
        if self._enriched is None:  # cached: a context is made for every top-level invocation
            self._enriched = bool(self.hook.context_enrich.impls())
        if not self._enriched:
            return ctx
        for step in self.hook.context_enrich(ctx=ctx, kernel=self):
            result = step.run()
            if inspect.isawaitable(result):
                result = await result
            if result:
                ctx.data.update(result)
        return ctx

    async def emit(self, type: str, payload: Mapping[str, Any], **meta: Any) -> Event | None:
        """Publish a system event if an event service is running; never raises.

        Nothing is published while :attr:`quiet` is set (read-only commands), except
        audit records (``audit=True``): a denial is recorded whoever was refused.
        """
        audit = bool(meta.pop("audit", False))
        events: EventService | None = self.services.find_capability("events")
        if events is None or (self.quiet and not audit):
            return None
        try:
            return await events.publish(type, dict(payload), source=meta.pop("source", "kernel"), **meta)
        except Exception:
            log.exception("could not publish system event %s", type)
            return None

    def emit_soon(self, type: str, payload: Mapping[str, Any], **meta: Any) -> None:
        """Schedule :meth:`emit` from synchronous code (when a loop is running)."""
        import asyncio

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self.emit(type, payload, **meta))
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def run(self, agent: Any, input: Any, **options: Any) -> Any:
        """Run an agent (instance or registered name) on ``input``; see the agents service."""
        return await self.agents.run(agent, input, **options)

    async def resume(self, run_id: str, decisions: Mapping[str, Any] | None = None, **options: Any) -> Any:
        """Resume a paused or interrupted run with decisions on its pending items; see the runs service."""
        return await self.runs.resume(run_id, decisions, **options)

    def __repr__(self) -> str:
        return f"<Kernel data_dir={str(self.data_dir)!r} plugins={len(self._loader.infos)} started={self.started}>"


_background: set[Any] = set()


def _debug_write(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]
