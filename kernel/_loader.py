"""Finding and loading plugins: defaults, entry points, distributions, block lists."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import importlib_metadata
import pluggy

from . import hookspecs
from .errors import ConfigError, PluginError, UnknownNameError
from .hooks import POINTS, RENAMED, current_point, defer, guard

__all__ = ["Distribution", "PluginInfo", "PluginManager", "PluginLoader", "ENTRY_POINT_GROUP"]

log = logging.getLogger("llmspell.plugins")

ENTRY_POINT_GROUP = "llmspell"
DISTRIBUTION_GROUP = "llmspell.distributions"
OWN_DISTRIBUTION = "llmspell"
#: The ``llmspell.distributions`` entry point of the default plugins; its ``plugins`` give
#: their start-up order (shutdown runs in reverse).
DEFAULTS_DISTRIBUTION = "defaults"


@attrs.frozen
class Distribution:
    """A named set of plugins: what to add, which defaults to block, default config.

    Declared by a package under the ``llmspell.distributions`` entry-point group (the
    entry point names a ``Distribution`` object or a function returning one) and
    started with ``Kernel(distribution="name")`` or ``distribution = "name"``.
    """

    name: str
    plugins: Mapping[str, str] = attrs.Factory(dict)
    """Plugin name -> module import path, loaded in this order after the defaults."""
    block: tuple[str, ...] = ()
    """Default plugins this distribution leaves out."""
    config: Mapping[str, Any] = attrs.Factory(dict)
    """Default configuration, under the user's file and environment."""
    autoload: bool = False
    """Also load other packages' ``llmspell`` entry points (off: exactly this set)."""
    description: str = ""


@attrs.frozen
class PluginInfo:
    """One loaded plugin, where it came from and what it implements."""

    name: str
    source: str
    """``default``, ``entry point``, ``distribution <name>``, ``config``, ``argument``."""
    module: str | None
    distribution: str | None
    """The installed package that ships the plugin, if known."""
    version: str | None
    hooks: tuple[str, ...] = ()


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, telling the kernel when the set of plugins changes."""

    def __init__(self, on_change: Callable[[], None] | None = None) -> None:
        super().__init__("llmspell")
        self.on_change = on_change
        self.add_hookspecs(hookspecs)

    def register(self, plugin: object, name: str | None = None) -> str | None:
        result = super().register(plugin, name)
        if result is not None:
            self._guard(plugin)
        if self.on_change is not None:
            self.on_change()
        return result

    def parse_hookimpl_opts(self, plugin: object, name: str) -> Any:
        """pluggy's reading of a hook implementation; an old hook point name is mapped to its new one."""
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is not None and opts.get("specname") is None and name.startswith("llmspell_"):
            old = name.removeprefix("llmspell_")
            if old in RENAMED:
                opts = {**opts, "specname": f"llmspell_{current_point(old, stacklevel=4)}"}
        return opts

    def _guard(self, plugin: object) -> None:
        """Make pluggy hand back each implementation's pending run instead of running it.

        Hook points get a :class:`~llmspell.hooks.Step` (run by the kernel's call loop),
        every other llmspell hook a :class:`~llmspell.hooks.Deferred` (run by the kernel
        in plugin order).
        """
        for caller in self.get_hookcallers(plugin) or ():
            if caller.spec is None:
                continue
            point = caller.name.removeprefix("llmspell_")
            for impl in caller.get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                if point in POINTS:
                    impl.function = guard(point, impl)  # type: ignore[misc]
                else:
                    impl.function = defer(caller.name, impl)  # type: ignore[misc]

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        result = super().unregister(plugin, name)
        if self.on_change is not None:
            self.on_change()
        return result


def _entry_points(group: str) -> list[importlib_metadata.EntryPoint]:
    return list(importlib_metadata.entry_points(group=group))


def _dist_of(ep: importlib_metadata.EntryPoint) -> tuple[str | None, str | None]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, None
    return dist.metadata["Name"], dist.version


def import_plugin(target: str) -> ModuleType:
    """Import a plugin by module path, or from a ``.py`` file path."""
    if target.endswith(".py") or "/" in target or "\\" in target:
        path = Path(target).expanduser().resolve()
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path}")
        name = f"llmspell_local_{path.stem}_{abs(hash(str(path))):x}"
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path} as a module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        return module
    return importlib.import_module(target)


#: Plugins of this package whose extra has another name.
_EXTRA_OF = {"console": "web"}


def missing_extra(plugin: str, installed: Callable[[str], bool] | None = None) -> str | None:
    """The ``llmspell[extra]`` that a plugin of this package needs and that is not installed."""
    extra = _EXTRA_OF.get(plugin, plugin)
    check = installed or _installed
    if any(not check(name) for name in _extras().get(extra, ())):
        return extra
    return None


@functools.cache
def _extras() -> dict[str, tuple[str, ...]]:
    """This package's extras and the distributions each needs (read once per process)."""
    import importlib.metadata as metadata
    import re

    try:
        requires = metadata.distribution(OWN_DISTRIBUTION).requires or []
    except metadata.PackageNotFoundError:
        return {}
    out: dict[str, list[str]] = {}
    for line in requires:
        wanted = re.search(r'extra\s*==\s*"([^"]+)"', line)
        name = re.match(r"[A-Za-z0-9._-]+", line)
        if wanted and name and name.group(0) != OWN_DISTRIBUTION:
            out.setdefault(wanted.group(1), []).append(name.group(0))
    return {k: tuple(v) for k, v in out.items()}


@functools.cache
def _installed(name: str) -> bool:
    import importlib.metadata as metadata

    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


class PluginLoader:
    """Registers the plugins of one kernel with its manager, recording their origin."""

    def __init__(self, pm: PluginManager, *, debug: bool = False) -> None:
        self.pm = pm
        self.infos: dict[str, PluginInfo] = {}
        self.blocked: list[str] = []
        self.unavailable: dict[str, tuple[str, str | None, str]] = {}
        """Plugins of this package left out because their extra is not installed:
        name -> (module, version, extra)."""
        self.debug = debug

    def _say(self, message: str) -> None:
        if self.debug:
            print(f"[llmspell] {message}", file=sys.stderr)
        log.debug(message)

    def find_distribution(self, name: str) -> Distribution:
        eps = {ep.name: ep for ep in _entry_points(DISTRIBUTION_GROUP)}
        if name not in eps:
            raise ConfigError(
                [f"distribution: {UnknownNameError('distribution', name, eps)}"]
            )
        ep = eps[name]
        try:
            target = ep.load()
            dist = target() if callable(target) and not isinstance(target, Distribution) else target
            if isinstance(dist, Mapping):
                dist = Distribution(**dist)
        except Exception as exc:
            package, _ = _dist_of(ep)
            raise PluginError(name, f"distribution failed to load: {type(exc).__name__}: {exc}", distribution=package) from exc
        if not isinstance(dist, Distribution):
            raise PluginError(name, f"distribution entry point {ep.value} is not a Distribution")
        return dist

    def load(
        self,
        *,
        default_order: Iterable[str],
        disable: Mapping[str, str] | Iterable[str],
        distribution: Distribution | None,
        autoload: bool,
        extra_modules: Iterable[str],
        objects: Iterable[Any],
    ) -> None:
        """Register every plugin in the documented order, skipping blocked names.

        ``disable`` maps each name to block to who asked for it (for the error when the
        name matches no plugin: a misspelt name must not leave a plugin on silently).
        """
        extra_modules = list(extra_modules)
        objects = list(objects)
        own: list[importlib_metadata.EntryPoint] = []
        others: list[importlib_metadata.EntryPoint] = []
        for ep in _entry_points(ENTRY_POINT_GROUP):
            package, _ = _dist_of(ep)
            (own if package == OWN_DISTRIBUTION else others).append(ep)
        known = {ep.name for ep in [*own, *others]}
        known |= {Path(t).stem if t.endswith(".py") else t for t in extra_modules}
        known |= {getattr(o, "__name__", None) or "" for o in objects if not isinstance(o, str)}
        known |= {o for o in objects if isinstance(o, str)}
        if distribution is not None:
            known |= set(distribution.plugins)
        asked = dict(disable) if isinstance(disable, Mapping) else dict.fromkeys(disable, "argument")
        unknown = [f"plugins.disable: no plugin is named {name!r} (blocked by {who}; known plugins: "
                   f"{', '.join(sorted(known - {''}))})" for name, who in asked.items() if name not in known]
        if unknown:
            raise ConfigError(unknown)
        blocked = set(asked)
        if distribution is not None:
            blocked |= set(distribution.block)
            autoload = autoload and distribution.autoload
        for name in sorted(blocked):
            self.pm.set_blocked(name)
        self.blocked = sorted(blocked)
        order = {name: i for i, name in enumerate(default_order)}
        own.sort(key=lambda ep: (order.get(ep.name, len(order)), ep.name))
        for ep in own:
            extra = missing_extra(ep.name)
            if extra is not None and not self.pm.is_blocked(ep.name):
                self.unavailable[ep.name] = (ep.value, _dist_of(ep)[1], extra)
                self._say(f"plugin {ep.name} is not loaded: needs llmspell[{extra}]")
                continue
            self._load_entry_point(ep, "default")
        if distribution is not None:
            for name, module in distribution.plugins.items():
                self._load_module(name, module, f"distribution {distribution.name}", distribution.name)
        if autoload:
            for ep in sorted(others, key=lambda ep: ep.name):
                self._load_entry_point(ep, "entry point")
        for target in extra_modules:
            name = Path(target).stem if target.endswith(".py") else target
            self._load_module(name, target, "config", None)
        for obj in objects:
            if isinstance(obj, str):
                self._load_module(obj, obj, "argument", None)
            else:
                name = getattr(obj, "__name__", None) or f"{type(obj).__name__}-{id(obj):x}"
                self.register(obj, name, "argument", getattr(obj, "__module__", None), None, None)
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            plugin = getattr(exc, "plugin", None)
            found = self.pm.get_name(plugin) if plugin is not None else None
            info = self.infos.get(found or "")
            raise PluginError(
                found or "?",
                f"{exc} (hook names must be one of the llmspell_* hooks in llmspell.hookspecs)",
                distribution=info.distribution if info else None,
            ) from None

    def _load_entry_point(self, ep: importlib_metadata.EntryPoint, source: str) -> None:
        package, version = _dist_of(ep)
        if self.pm.is_blocked(ep.name):
            self._say(f"plugin {ep.name} ({package}) is blocked")
            return
        try:
            plugin = ep.load()
        except Exception as exc:
            raise PluginError(
                ep.name,
                f"failed to import {ep.value}: {type(exc).__name__}: {exc}",
                distribution=f"{package} {version}" if package else None,
            ) from exc
        self.register(plugin, ep.name, source, ep.value, package, version)

    def _load_module(self, name: str, target: str, source: str, package: str | None) -> None:
        if self.pm.is_blocked(name):
            self._say(f"plugin {name} is blocked")
            return
        try:
            plugin = import_plugin(target)
        except Exception as exc:
            raise PluginError(
                name, f"failed to import {target}: {type(exc).__name__}: {exc}", distribution=package
            ) from exc
        self.register(plugin, name, source, target, package, None)

    def register(
        self,
        plugin: Any,
        name: str,
        source: str,
        module: str | None,
        package: str | None,
        version: str | None,
    ) -> None:
        if self.pm.is_registered(plugin) or self.pm.has_plugin(name):
            self._say(f"plugin {name} already registered; skipped")
            return
        try:
            self.pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(name, str(exc), distribution=package) from None
        hooks = tuple(sorted(c.name for c in self.pm.get_hookcallers(plugin) or ()))
        self.infos[name] = PluginInfo(name, source, module, package, version, hooks)
        self._say(f"loaded plugin {name} from {module or name} ({source}); hooks: {', '.join(hooks)}")
