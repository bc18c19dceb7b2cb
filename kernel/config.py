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
``LLMSPELL_PLUGINS`` (comma list of modules to load), ``LLMSPELL_DISABLE_PLUGIN_AUTOLOAD``
and ``LLMSPELL_DEBUG``.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
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
    }
)
KERNEL_KEYS = ("data_dir", "distribution", "plugins")


def secret(default: Any = None, **kwargs: Any) -> Any:
    """An attrs field whose value ``llmspell config`` never prints (passwords, keys, URLs)."""
    return attrs.field(default=default, metadata={"secret": True}, **kwargs)


@attrs.frozen
class PluginsConfig:
    """The ``[plugins]`` table."""

    disable: list[str] = attrs.Factory(list)
    """Plugin names to block (defaults included)."""
    load: list[str] = attrs.Factory(list)
    """Extra plugin modules to load by import path, or ``.py`` files by path."""
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


@attrs.frozen
class RawConfig:
    """The merged, not yet validated configuration and where it came from."""

    data: dict[str, Any]
    source: str | None

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
        if path is not None:
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError([f"not valid TOML: {exc}"], source=str(path)) from None
            except OSError as exc:
                raise ConfigError([f"cannot read it: {exc}"], source=str(path)) from None
            if "data_dir" in data and not Path(str(data["data_dir"])).is_absolute():
                data["data_dir"] = str(path.parent / str(data["data_dir"]))
        data = _merge(data, _kernel_env(env))
        data = _merge(data, overrides)
        return cls(data=data, source=str(path) if path else None)

    def kernel_keys(self) -> _KernelKeys:
        """Just the kernel's own keys, validated; needed before plugins load."""
        subset = {k: self.data[k] for k in KERNEL_KEYS if k in self.data}
        try:
            return serde.structure(subset, _KernelKeys)
        except BaseValidationError as exc:
            raise ConfigError(serde.describe_structure_error(exc, ""), source=self.source) from None

    def with_defaults(self, defaults: Mapping[str, Any]) -> RawConfig:
        """Layer ``self`` over a distribution's default config."""
        return RawConfig(data=_merge(dict(defaults), self.data), source=self.source)


def _kernel_env(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if env.get("LLMSPELL_DATA_DIR"):
        out["data_dir"] = env["LLMSPELL_DATA_DIR"]
    if env.get("LLMSPELL_DISTRIBUTION"):
        out["distribution"] = env["LLMSPELL_DISTRIBUTION"]
    return out


def _section_env(env: Mapping[str, str], sections: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Overrides from ``LLMSPELL_<SECTION>_<KEY>`` variables for known sections."""
    out: dict[str, Any] = {}
    unmatched: list[str] = []
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
                break
        else:
            unmatched.append(name)
    return out, unmatched


@attrs.frozen
class SectionSpec:
    """A config section registered by a plugin."""

    name: str
    type: Any
    plugin: str
    description: str = ""


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
    ) -> Config:
        """Validate ``raw`` against the registered sections; all problems in one error."""
        env = os.environ if env is None else env
        env_over, _ = _section_env(env, list(specs))
        data = _merge(raw.data, env_over)
        problems: list[str] = []
        for key in data:
            if key in KERNEL_KEYS or key in specs:
                continue
            known = sorted([*KERNEL_KEYS, *specs])
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(
                f"{key}: unknown section or key{hint} (known: {', '.join(known)}; "
                "a plugin that is disabled or not installed does not register its section)"
            )
        kernel_keys = RawConfig(data=data, source=raw.source).kernel_keys()
        sections: dict[str, Any] = {}
        for name, spec in specs.items():
            try:
                sections[name] = serde.structure(data.get(name, {}) if _is_table(spec.type) else data.get(name, []), spec.type)
            except BaseValidationError as exc:
                problems.extend(serde.describe_structure_error(exc, name))
            except (TypeError, ValueError) as exc:
                problems.append(f"{name}: {exc}")
        if problems:
            raise ConfigError(problems, source=raw.source)
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
