"""Configuration: one TOML file, ``LLMSPELL_*`` environment overrides, attrs sections.

Layers, later wins: a distribution's default config, the TOML file, the environment, the
mapping passed to ``Kernel(config={...})``. The kernel owns three top-level keys
(``data_dir``, ``distribution`` and the ``[plugins]`` table); every other top-level table
is a *section* that a plugin registers with :func:`~llmspell.hookspecs.llmspell_register_config`
together with the attrs class that validates it. A file with no ``llmspell.toml`` at all is
fine: every section has defaults, and the data directory defaults to ``./.llmspell``.

Environment overrides: ``LLMSPELL_<SECTION>_<KEY>=value`` sets ``[section] key``, and a
double underscore goes one table deeper (``LLMSPELL_STATE_POLICIES__COUNTERS=...``). Values are
read as TOML when they parse (``true``, ``3``, ``["a", "b"]``) and as plain strings otherwise.
A few names are reserved for the kernel: ``LLMSPELL_CONFIG`` (the file),
``LLMSPELL_DATA_DIR``, ``LLMSPELL_DISTRIBUTION``, ``LLMSPELL_DISABLE_PLUGINS`` (comma list),
``LLMSPELL_PLUGINS_DISABLE`` / ``_LOAD`` / ``_AUTOLOAD`` (the ``[plugins]`` keys),
``LLMSPELL_PLUGINS`` (comma list of modules to load), ``LLMSPELL_DISABLE_PLUGIN_AUTOLOAD``
and ``LLMSPELL_DEBUG``.
"""

from __future__ import annotations

import difflib
import logging
import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
from cattrs.errors import BaseValidationError

from . import serde
from .errors import ConfigError

__all__ = [
    "CONFIG_FILENAME",
    "Config",
    "PluginsConfig",
    "RawConfig",
    "secret",
    "redact",
    "resolve",
]

CONFIG_FILENAME = "llmspell.toml"
RESERVED_ENV = frozenset(
    {
        "LLMSPELL_CONFIG",
        "LLMSPELL_DATA_DIR",
        "LLMSPELL_DISTRIBUTION",
        "LLMSPELL_DISABLE_PLUGINS",
        "LLMSPELL_PLUGINS",
        "LLMSPELL_DISABLE_PLUGIN_AUTOLOAD",
        "LLMSPELL_DEBUG",
        "LLMSPELL_PLUGINS_DISABLE",
        "LLMSPELL_PLUGINS_LOAD",
        "LLMSPELL_PLUGINS_AUTOLOAD",
    }
)
KERNEL_KEYS = ("data_dir", "distribution", "plugins")
log = logging.getLogger("llmspell.config")


def secret(default: Any = None, **kwargs: Any) -> Any:
    """An attrs field whose value ``llmspell config`` never prints (passwords, keys, URLs)."""
    return attrs.field(default=default, metadata={"secret": True}, **kwargs)


@attrs.frozen
class PluginsConfig:
    """The ``[plugins]`` table."""

    disable: list[str] = attrs.Factory(list)
    """Plugin names to block (defaults included); a name that matches no plugin is an
    error. One string is read as a comma-separated list."""
    load: list[str] = attrs.Factory(list)
    """Extra plugin modules to load by import path, or ``.py`` files by path (a string:
    comma-separated)."""
    autoload: bool = True
    """Load plugins from installed packages' ``llmspell`` entry points."""


@attrs.frozen
class _KernelKeys:
    data_dir: str = ".llmspell"
    distribution: str | None = None
    plugins: PluginsConfig = attrs.Factory(PluginsConfig)


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _parse_env_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


Layer = tuple[str, Mapping[str, Any]]
"""One layer of configuration: who set it (``file x.toml``, ``environment``,
``distribution 'acme'``, ``argument``) and what it set."""


def _origin(layers: tuple[Layer, ...], path: str) -> str | None:
    """The layer that set the dotted ``path`` (or its nearest set parent), the last one wins."""
    parts = [p for p in path.split("[", 1)[0].split(".") if p]
    while parts:
        for label, data in reversed(layers):
            node: Any = data
            for part in parts:
                if not isinstance(node, Mapping) or part not in node:
                    break
                node = node[part]
            else:
                return label
        parts.pop()
    return None


def _split_names(value: Any) -> Any:
    """``"a, b"`` as ``["a", "b"]``: a list of plugin names may be written as one string."""
    if isinstance(value, str):
        return [name.strip() for name in value.split(",") if name.strip()]
    return value


@attrs.frozen
class RawConfig:
    """The merged, not yet validated configuration and where it came from."""

    data: dict[str, Any]
    source: str | None
    layers: tuple[Layer, ...] = ()
    """Every layer that was merged into ``data``, first to last (for error messages)."""

    def origin(self, path: str) -> str | None:
        """Who set the dotted ``path``: ``file ...``, ``environment ...``, ``distribution ...``."""
        return _origin(self.layers, path)

    def error(self, problems: list[str]) -> ConfigError:
        """A :class:`ConfigError` whose every line names the layer that set its key."""
        return config_error(problems, self.layers, self.source)

    @classmethod
    def load(
        cls,
        config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> RawConfig:
        """Read the file (argument, ``LLMSPELL_CONFIG`` or ``./llmspell.toml``) and the env.

        A mapping passed as ``config`` is layered over the file found the usual way.
        """
        env = os.environ if env is None else env
        cwd = cwd or Path.cwd()
        overrides: Mapping[str, Any] = {}
        path: Path | None = None
        if isinstance(config, Mapping):
            overrides = config
        elif config is not None:
            path = Path(config)
            if not path.is_file():
                raise ConfigError([f"config file {str(path)!r} does not exist"])
        if path is None and env.get("LLMSPELL_CONFIG"):
            path = Path(env["LLMSPELL_CONFIG"])
            if not path.is_file():
                raise ConfigError(
                    [f"LLMSPELL_CONFIG points at {str(path)!r}, which does not exist"]
                )
        if path is None and (cwd / CONFIG_FILENAME).is_file():
            path = cwd / CONFIG_FILENAME
        data: dict[str, Any] = {}
        layers: list[Layer] = []
        if path is not None:
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError([f"not valid TOML: {exc}"], source=str(path)) from None
            except OSError as exc:
                raise ConfigError([f"cannot read it: {exc}"], source=str(path)) from None
            if "data_dir" in data and not Path(str(data["data_dir"])).is_absolute():
                data["data_dir"] = str(path.parent / str(data["data_dir"]))
            layers.append((f"file {path}", data))
        kernel_env = _kernel_env(env)
        layers += [(f"environment {name}", over) for name, over in kernel_env]
        for _, over in kernel_env:
            data = _merge(data, over)
        if overrides:
            layers.append(("argument", overrides))
            data = _merge(data, overrides)
        return cls(data=data, source=str(path) if path else None, layers=tuple(layers))

    def kernel_keys(self) -> _KernelKeys:
        """Just the kernel's own keys, validated; needed before plugins load."""
        subset = {k: self.data[k] for k in KERNEL_KEYS if k in self.data}
        plugins = subset.get("plugins")
        if "plugins" in subset and not isinstance(plugins, Mapping):
            raise self.error([f"plugins: expected a table, got {type(plugins).__name__} {plugins!r}"])
        if isinstance(plugins, Mapping):
            subset["plugins"] = {k: _split_names(v) if k in ("disable", "load") else v for k, v in plugins.items()}
        try:
            return serde.structure(subset, _KernelKeys)
        except BaseValidationError as exc:
            raise self.error(serde.describe_structure_error(exc, "")) from None

    def with_defaults(self, defaults: Mapping[str, Any], label: str) -> RawConfig:
        """Layer ``self`` over a distribution's default config (``label`` names it)."""
        return RawConfig(
            data=_merge(dict(defaults), self.data), source=self.source,
            layers=((label, defaults), *self.layers),
        )

    def with_layer(self, label: str, over: Mapping[str, Any]) -> RawConfig:
        """Layer ``over`` on top of ``self``."""
        return RawConfig(data=_merge(self.data, over), source=self.source, layers=(*self.layers, (label, over)))


def config_error(problems: list[str], layers: tuple[Layer, ...], source: str | None) -> ConfigError:
    """Name, on each problem line, the layer that set the key it is about."""
    lines = []
    from_file = False
    for problem in problems:
        where = _origin(layers, problem.partition(":")[0])
        from_file = from_file or where is None or where.startswith("file ")
        lines.append(problem if where is None else f"{problem} (set by {where})")
    return ConfigError(lines, source=source if from_file else None)


def _kernel_env(env: Mapping[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """The kernel's own keys from the environment, one ``(variable, override)`` each."""
    out: list[tuple[str, dict[str, Any]]] = []
    if env.get("LLMSPELL_DATA_DIR"):
        out.append(("LLMSPELL_DATA_DIR", {"data_dir": env["LLMSPELL_DATA_DIR"]}))
    if env.get("LLMSPELL_DISTRIBUTION"):
        out.append(("LLMSPELL_DISTRIBUTION", {"distribution": env["LLMSPELL_DISTRIBUTION"]}))
    for key in ("disable", "load", "autoload"):
        name = f"LLMSPELL_PLUGINS_{key.upper()}"
        if env.get(name):
            out.append((name, {"plugins": {key: _parse_env_value(env[name])}}))
    return out


def _section_env(env: Mapping[str, str], sections: list[str]) -> tuple[dict[str, Any], list[str], list[Layer]]:
    """Overrides from ``LLMSPELL_<SECTION>_<KEY>`` variables for known sections."""
    out: dict[str, Any] = {}
    unmatched: list[str] = []
    layers: list[Layer] = []
    by_prefix = sorted(
        ((f"LLMSPELL_{s.upper().replace('-', '_')}_", s) for s in sections),
        key=lambda item: -len(item[0]),
    )
    for name, value in env.items():
        if not name.startswith("LLMSPELL_") or name in RESERVED_ENV:
            continue
        for prefix, section in by_prefix:
            if name.startswith(prefix) and len(name) > len(prefix):
                path = name[len(prefix) :].lower().split("__")
                node = out.setdefault(section, {})
                for part in path[:-1]:
                    node = node.setdefault(part, {})
                node[path[-1]] = _parse_env_value(value)
                one: dict[str, Any] = {path[-1]: node[path[-1]]}
                for part in reversed([section, *path[:-1]]):
                    one = {part: one}
                layers.append((f"environment {name}", one))
                break
        else:
            unmatched.append(name)
    return out, unmatched, layers


@attrs.frozen
class SectionSpec:
    """A config section registered by a plugin."""

    name: str
    type: Any
    plugin: str
    description: str = ""
    backends: Mapping[str, str] = attrs.Factory(dict)
    """Key of the section -> the kind of backend it names (``{"backend": "state_backend"}``)."""


@attrs.frozen
class Config:
    """The validated configuration of one kernel."""

    data_dir: Path
    distribution: str | None
    plugins: PluginsConfig
    sections: Mapping[str, Any]
    specs: Mapping[str, SectionSpec]
    source: str | None = None

    @classmethod
    def build(
        cls,
        raw: RawConfig,
        specs: Mapping[str, SectionSpec],
        *,
        env: Mapping[str, str] | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        blocked: Iterable[str] = (),
        unavailable: Mapping[str, str] | None = None,
    ) -> Config:
        """Validate ``raw`` against the registered sections; all problems in one error.

        The section of a ``blocked`` plugin (a table named like the plugin) is ignored
        with one warning: blocking a plugin never fails on the settings it leaves behind.
        """
        env = os.environ if env is None else env
        env_over, _, env_layers = _section_env(env, list(specs))
        data = _merge(raw.data, env_over)
        layers = (*raw.layers, *env_layers)
        problems: list[str] = []
        ignored = sorted(k for k in data if k in set(blocked) and k not in KERNEL_KEYS and k not in specs)
        if ignored:
            where = "; ".join(f"[{k}] set by {_origin(layers, k) or 'the configuration'}" for k in ignored)
            log.warning("ignoring the settings of blocked plugins: %s", where)
            data = {k: v for k, v in data.items() if k not in ignored}
        for key in data:
            if key in KERNEL_KEYS or key in specs:
                continue
            if unavailable and key in unavailable:
                extra = unavailable[key]
                problems.append(f"{key}: the {key} plugin needs llmspell[{extra}]: pip install 'llmspell[{extra}]'")
                continue
            known = sorted([*KERNEL_KEYS, *specs])
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(
                f"{key}: unknown section or key{hint} (known: {', '.join(known)}; "
                "a plugin that is disabled or not installed does not register its section)"
            )
        kernel_keys = RawConfig(data=data, source=raw.source, layers=layers).kernel_keys()
        sections: dict[str, Any] = {}
        for name, spec in specs.items():
            table = _is_table(spec.type)
            value = data.get(name, {} if table else [])
            if (table and not isinstance(value, Mapping)) or (not table and isinstance(value, Mapping | str)):
                wanted = "a table" if table else "an array"
                problems.append(f"{name}: expected {wanted}, got {type(value).__name__} {value!r}")
                continue
            try:
                sections[name] = serde.structure(value, spec.type)
            except BaseValidationError as exc:
                problems.extend(serde.describe_structure_error(exc, name))
            except (TypeError, ValueError, AttributeError) as exc:
                problems.append(f"{name}: {exc}")
        if problems:
            raise config_error(problems, layers, raw.source)
        root = Path(data_dir) if data_dir is not None else Path(kernel_keys.data_dir)
        return cls(
            data_dir=root.expanduser().resolve(),
            distribution=kernel_keys.distribution,
            plugins=kernel_keys.plugins,
            sections=sections,
            specs=dict(specs),
            source=raw.source,
        )

    def section(self, name: str) -> Any:
        """The validated section ``name`` (an instance of the class its plugin registered)."""
        try:
            return self.sections[name]
        except KeyError:
            raise ConfigError(
                [f"{name}: no plugin registered this section (known: {', '.join(sorted(self.sections))})"]
            ) from None

    def to_dict(self, *, show_secrets: bool = False) -> dict[str, Any]:
        """The effective configuration as plain data, secrets redacted unless asked."""
        out: dict[str, Any] = {
            "data_dir": str(self.data_dir),
            "distribution": self.distribution,
            "plugins": serde.converter.unstructure(self.plugins),
        }
        for name, value in sorted(self.sections.items()):
            out[name] = serde.converter.unstructure(value if show_secrets else redact(value))
        return out


def _is_table(tp: Any) -> bool:
    return attrs.has(tp) or tp is dict or getattr(tp, "__origin__", None) is dict


def redact(value: Any) -> Any:
    """A copy of an attrs config value with every :func:`secret` field masked."""
    if isinstance(value, list):
        return [redact(v) for v in value]
    if not attrs.has(type(value)):
        return value
    changes = {}
    for field in attrs.fields(type(value)):
        current = getattr(value, field.name)
        if field.metadata.get("secret") and current:
            changes[field.name] = "***"
        elif attrs.has(type(current)) or isinstance(current, list):
            changes[field.name] = redact(current)
    if not changes:
        return value
    return _Redacted({**attrs.asdict(value, recurse=False), **changes})


class _Redacted(dict[str, Any]):
    """Plain mapping standing in for a redacted attrs instance."""


def resolve(target: str, *, base: Path | None = None) -> Any:
    """Import ``module:function`` or ``path/to/file.py:function`` and return the function.

    A ``.py`` path is relative to ``base`` (the configuration file's folder); a bad target
    raises ``ValueError`` saying what is wrong. Config sections that name functions
    (``[[hooks]] call``, ``[artifacts] key_provider``, trigger setups) use it."""
    module_part, sep, attr = target.rpartition(":")
    if not sep or not module_part or not attr:
        raise ValueError(f"{target!r} is not 'module:function' or 'file.py:function'")
    from ._loader import import_plugin

    path = module_part
    if module_part.endswith(".py") and base is not None and not Path(module_part).is_absolute():
        path = str(base / module_part)
    try:
        module = import_plugin(path)
    except FileNotFoundError as exc:
        raise ValueError(f"{exc}") from None
    except Exception as exc:
        raise ValueError(f"cannot import {module_part!r}: {type(exc).__name__}: {exc}") from None
    try:
        fn = getattr(module, attr)
    except AttributeError:
        raise ValueError(f"{module_part!r} has no attribute {attr!r}") from None
    if not callable(fn):
        raise ValueError(f"{target!r} is not callable")
    return fn
