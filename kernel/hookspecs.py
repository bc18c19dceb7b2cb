"""The hook contract: every extension point of llmspell, one documented spec each.

Plugins implement these with ``@llmspell.hookimpl``. Implementations may accept any
subset of a hook's arguments. Unless a hook says otherwise, an implementation may be a
plain function or a coroutine function; the kernel awaits what needs awaiting.

Sections:

* **Lifecycle**: config sections, configure, services, startup and shutdown, CLI commands.
* **Registration**: one ``llmspell_register_<kind>`` hook per kind of named thing
  (backends, codecs, reducers, migrations, agent types, model providers, tools, event
  types). Each receives a ``register`` callable; names are unique per kind and every
  registration is listed with the plugin that made it.
* **Context**: enrichment of every execution context.
* **Hook points**: functions called while the framework works: around agent, tool and
  model calls, at handoffs, at agent lifecycle steps, at session transitions, state
  writes, artifact saves/loads/deletes and event publishes. Every hook point takes
  ``call`` (a :class:`~llmspell.hooks.HookCall`) plus, for some, named arguments, and may
  return ``None`` (continue), :class:`~llmspell.hooks.Replace`,
  :class:`~llmspell.hooks.Cancel` or :class:`~llmspell.hooks.Retry`. The same points take
  runtime hooks and callbacks; see :mod:`llmspell.hooks` for the order and the rules.

Hooks are evolved by adding: a new argument may appear on a hook; none is renamed or
removed. ``docs/hooks.md`` is the reference and a test keeps it in step with this file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from .context import ExecutionContext
    from .hooks import HookCall, HookResult
    from .kernel import Kernel

hookspec = pluggy.HookspecMarker("llmspell")
hookimpl = pluggy.HookimplMarker("llmspell")

__all__ = ["hookspec", "hookimpl"]

Register = Callable[..., Any]


# ---------------------------------------------------------------------------------
# Lifecycle
# ---------------------------------------------------------------------------------


@hookspec
def llmspell_register_config(register: Register) -> None:
    """Register the plugin's configuration sections.

    Called once when the kernel is built, before the configuration is validated.
    ``register(name, cls, description="")`` declares that the top-level table
    ``[name]`` of ``llmspell.toml`` is validated by the attrs class ``cls`` (or a
    ``list[cls]`` for an array of tables such as ``[[hooks]]``). Every field needs a
    default, so a kernel with no config file still starts. ``backends={"backend":
    "state_backend"}`` names the section's keys that choose a backend, with the kind of
    each: the kernel checks those names when it is built. Sync only.
    """


@hookspec
def llmspell_configure(kernel: Kernel) -> None:
    """The configuration is validated and all registrations are collected.

    Called once per kernel, before services are created. ``kernel.config`` holds the
    validated sections; raise :class:`~llmspell.errors.ConfigError` for a problem the
    section classes cannot express (a cross-field rule, an unknown reducer name).
    Sync only; the return value is ignored.
    """


@hookspec
def llmspell_register_services(kernel: Kernel, register: Register) -> None:
    """Provide services.

    Called once during ``kernel.start()``, before ``llmspell_startup``.
    ``register(kind, instance)`` makes ``instance`` the provider of the service type
    ``kind`` (for example :class:`~llmspell.plugins.state.api.StateService`). A second provider of
    one kind is an error: block the other plugin by name. Create objects here but do no
    I/O; open connections in ``llmspell_startup``. Sync only.
    """


@hookspec
def llmspell_startup(kernel: Kernel) -> None:
    """The kernel is starting: open connections, recover, start background tasks.

    Called once per kernel in plugin order (the default plugins in their fixed order,
    then entry-point plugins, then plugins passed to the kernel; ``tryfirst``/``trylast``
    move an implementation). If one raises, the start fails with an error naming the
    plugin and ``llmspell_shutdown`` runs for the plugins already started, in reverse
    order. May be async; the return value is ignored.
    """


@hookspec
def llmspell_shutdown(kernel: Kernel) -> None:
    """The kernel is stopping: flush, snapshot, close connections, stop tasks.

    Called once per started plugin, in the reverse of the startup order, also after a
    failed startup. An exception is logged and the other plugins still shut down. May
    be async; the return value is ignored.
    """


@hookspec
def llmspell_register_commands(cli: click.Group, kernel: Kernel) -> None:
    """Add subcommands to the ``llmspell`` command line.

    Called once when the CLI starts, with the root ``click`` group. ``kernel`` is built
    (plugins loaded, config validated) but not started; a command starts it with
    ``async with kernel``. Sync only.
    """


# ---------------------------------------------------------------------------------
# Registration: named things chosen by configuration
# ---------------------------------------------------------------------------------


@hookspec
def llmspell_register_state_backends(register: Register) -> None:
    """Register state backends.

    ``register(name, factory, description="")``; ``factory(kernel)`` returns an object
    implementing :class:`~llmspell.plugins.state.backend.StateBackend`. ``[state] backend = "name"``
    selects one. Called once per kernel; sync only.
    """


@hookspec
def llmspell_register_session_backends(register: Register) -> None:
    """Register session-record backends.

    ``register(name, factory, description="")``; ``factory(kernel)`` returns a
    :class:`~llmspell.plugins.sessions.backend.SessionBackend`. Selected by ``[sessions] backend``.
    Sync only.
    """


@hookspec
def llmspell_register_event_backends(register: Register) -> None:
    """Register event-log backends.

    ``register(name, factory, description="")``; ``factory(kernel)`` returns an
    :class:`~llmspell.plugins.events.backend.EventLog`. Selected by ``[events] backend``. Sync only.
    """


@hookspec
def llmspell_register_event_transports(register: Register) -> None:
    """Register event-bus transports that carry events between processes.

    ``register(name, factory, description="")``; ``factory(kernel)`` returns an
    :class:`~llmspell.plugins.events.backend.EventTransport`. Selected by ``[events] transport``;
    the default, ``local``, delivers inside the process only. Sync only.
    """


@hookspec
def llmspell_register_artifact_backends(register: Register) -> None:
    """Register artifact blob stores.

    ``register(name, factory, description="")``; ``factory(kernel)`` returns a
    :class:`~llmspell.plugins.artifacts.backend.BlobStore`. Selected by ``[artifacts] backend``.
    Sync only.
    """


@hookspec
def llmspell_register_artifact_metadata_backends(register: Register) -> None:
    """Register artifact metadata stores (versions, ACLs, reference counts).

    ``register(name, factory, description="")``; ``factory(kernel)`` returns an
    :class:`~llmspell.plugins.artifacts.backend.ArtifactIndex`. Selected by ``[artifacts] metadata``.
    Sync only.
    """


@hookspec
def llmspell_register_artifact_codecs(register: Register) -> None:
    """Register artifact codecs (compression, encryption at rest).

    ``register(name, codec, description="")`` where ``codec`` implements
    :class:`~llmspell.plugins.artifacts.backend.Codec`. Codecs are applied as an ordered chain chosen in
    ``[artifacts] codecs``. Sync only.
    """


@hookspec
def llmspell_register_state_reducers(register: Register) -> None:
    """Register named reducers for the ``merge`` conflict policy.

    ``register(name, fn, description="")`` where ``fn(current, incoming) -> merged``
    combines a stored value with a written one (``current`` is None for a new key).
    Sync only.
    """


@hookspec
def llmspell_register_state_migrations(register: Register) -> None:
    """Register state schema migrations.

    ``register(namespace, from_version, fn)`` where ``fn(value) -> value`` turns a
    record of ``namespace`` at ``from_version`` into ``from_version + 1``. Declare a
    namespace's current version with ``register.schema(namespace, version)``. Sync only.
    """


@hookspec
def llmspell_register_event_types(register: Register) -> None:
    """Register typed event classes.

    ``register(type_name, cls)``: events whose ``type`` equals ``type_name`` are read
    back as ``cls`` (an attrs subclass of :class:`~llmspell.plugins.events.api.Event`). A type with no
    registration is kept as a plain ``Event``. Sync only.
    """


@hookspec
def llmspell_register_agent_types(register: Register) -> None:
    """Register agent types for the factory and registry.

    ``register(name, cls, description="")`` where ``cls`` is an agent class (see
    :mod:`llmspell.plugins.agents.api`) with an attrs ``Config`` class. Sync only.
    """


@hookspec
def llmspell_register_model_providers(register: Register) -> None:
    """Register model providers.

    ``register(name, factory, description="")``; ``factory(kernel)`` returns a
    :class:`~llmspell.plugins.agents.backend.ModelProvider`. Agents name their provider in config.
    Sync only.
    """


@hookspec
def llmspell_register_tools(register: Register) -> None:
    """Register tools that agents can use by name.

    ``register(name, tool_or_factory, description="")``: a tool object (see
    :mod:`llmspell.plugins.agents.api`) or a ``factory(kernel)`` returning one. Sync only.
    """


# ---------------------------------------------------------------------------------
# Context
# ---------------------------------------------------------------------------------


@hookspec
def llmspell_context_enrich(ctx: ExecutionContext, kernel: Kernel) -> Mapping[str, Any] | None:
    """Add to a fresh execution context.

    Called for every top-level invocation (``kernel.run``, ``kernel.context(...)``),
    before any agent code runs. Return a mapping to merge into ``ctx.data``, or write
    to ``ctx.data`` directly. May be async.
    """


# ---------------------------------------------------------------------------------
# Hook points: around agent, tool and model calls
# ---------------------------------------------------------------------------------


@hookspec
def llmspell_agent_before(call: HookCall) -> HookResult | None:
    """An agent is about to execute ``call.request`` for ``call.component``.

    Change ``call.request`` to change what runs; return ``Replace(output)`` to skip the
    agent and use ``output``; ``Cancel(reason)`` to refuse. May be async.
    """


@hookspec
def llmspell_agent_after(call: HookCall) -> HookResult | None:
    """An agent returned ``call.result`` (an ``AgentOutput``) after ``call.elapsed`` s.

    Change or ``Replace`` the result, ``Retry()`` to run it again, ``Cancel`` to
    discard it. May be async.
    """


@hookspec
def llmspell_agent_error(call: HookCall) -> HookResult | None:
    """An agent raised ``call.error``.

    ``Replace(output)`` recovers with ``output``; ``Retry()`` runs it again; ``None``
    lets the error propagate. May be async.
    """


@hookspec
def llmspell_tool_before(call: HookCall) -> HookResult | None:
    """A tool is about to run with arguments ``call.request`` (validated, a dict).

    Same results as ``llmspell_agent_before``. May be async.
    """


@hookspec
def llmspell_tool_after(call: HookCall) -> HookResult | None:
    """A tool returned ``call.result``. Same results as ``llmspell_agent_after``."""


@hookspec
def llmspell_tool_error(call: HookCall) -> HookResult | None:
    """A tool raised ``call.error``. Same results as ``llmspell_agent_error``."""


@hookspec
def llmspell_model_before(call: HookCall) -> HookResult | None:
    """A model provider is about to be asked ``call.request`` (a ``ModelRequest``).

    ``Replace(response)`` skips the provider (a cache hit, a canned answer). May be async.
    """


@hookspec
def llmspell_model_after(call: HookCall) -> HookResult | None:
    """A model provider answered ``call.result``. Same results as ``llmspell_agent_after``."""


@hookspec
def llmspell_model_error(call: HookCall) -> HookResult | None:
    """A model provider raised ``call.error``. Same results as ``llmspell_agent_error``."""


@hookspec
def llmspell_agent_handoff(call: HookCall) -> HookResult | None:
    """One agent hands off to another.

    ``call.request`` is a ``Handoff`` (source, target, the state passed and its schema
    version); change its ``state`` to filter, rename or summarise what the target sees.
    ``Cancel`` stops the handoff. Runs in order; each hook sees the previous one's
    changes. May be async.
    """


# ---------------------------------------------------------------------------------
# Hook points: agent lifecycle
# ---------------------------------------------------------------------------------


@hookspec
def llmspell_agent_created(agent: Any, call: HookCall) -> None:
    """A new agent instance was built by the factory (state ``created``). May be async."""


@hookspec
def llmspell_agent_initialize(agent: Any, ctx: ExecutionContext, call: HookCall) -> None:
    """An agent is initializing: acquire resources, restore state.

    An exception fails the initialization (the agent goes to ``failed``) with an error
    naming the hook. May be async.
    """


@hookspec
def llmspell_agent_shutdown(agent: Any, ctx: ExecutionContext, call: HookCall) -> None:
    """An agent is stopping: release resources, snapshot state. May be async."""


@hookspec
def llmspell_agent_state_snapshot(
    agent: Any, ctx: ExecutionContext, call: HookCall
) -> Mapping[str, Any] | None:
    """Contribute to an agent's persisted state.

    Called after each execution and at shutdown. Return a JSON-safe mapping; all
    returned mappings are merged (later hooks win on equal keys) into the snapshot
    saved in the agent's state scope. May be async.
    """


@hookspec
def llmspell_agent_state_restore(
    agent: Any, state: Mapping[str, Any], ctx: ExecutionContext, call: HookCall
) -> None:
    """Give an agent back its persisted ``state`` when it initializes. May be async."""


# ---------------------------------------------------------------------------------
# Hook points: sessions, state, artifacts, events
# ---------------------------------------------------------------------------------


@hookspec
def llmspell_session_created(session: Any, call: HookCall) -> None:
    """A session was created (or forked, or imported). May be async."""


@hookspec
def llmspell_session_transition(session: Any, old: str, new: str, call: HookCall) -> HookResult | None:
    """A session is about to move from status ``old`` to ``new``.

    ``Cancel(reason)`` vetoes the transition. May be async.
    """


@hookspec
def llmspell_session_before_delete(session: Any, call: HookCall) -> HookResult | None:
    """A session is about to be deleted with its state, events and artifacts.

    ``Cancel(reason)`` vetoes the deletion. May be async.
    """


@hookspec
def llmspell_session_expired(session: Any, call: HookCall) -> None:
    """A session passed its TTL and was marked ``expired``. May be async."""


@hookspec
def llmspell_session_cleanup(session: Any, reason: str, call: HookCall) -> None:
    """Release what a session held; ``reason`` is ``expired``, ``deleted`` or ``archived``.

    Called once per session and reason. May be async.
    """


@hookspec
def llmspell_state_before_write(call: HookCall) -> HookResult | None:
    """A state write is about to happen; ``call.request`` is a ``StateWrite``.

    Change its ``value`` to change what is stored, or ``Cancel`` to refuse the write.
    May be async.
    """


@hookspec
def llmspell_state_written(change: Any, call: HookCall) -> None:
    """A state write succeeded; ``change`` is a ``StateChange`` (key, versions). May be async."""


@hookspec
def llmspell_artifact_before_save(call: HookCall) -> HookResult | None:
    """An artifact is about to be saved; ``call.request`` describes it (name, scope, type).

    ``Cancel`` refuses the save. May be async.
    """


@hookspec
def llmspell_artifact_saved(ref: Any, call: HookCall) -> None:
    """An artifact version was saved; ``ref`` is its ``ArtifactRef``. May be async."""


@hookspec
def llmspell_artifact_loaded(ref: Any, call: HookCall) -> None:
    """An artifact version was read (after the access check). May be async."""


@hookspec
def llmspell_artifact_deleted(ref: Any, call: HookCall) -> None:
    """An artifact version was deleted. May be async."""


@hookspec
def llmspell_event_before_publish(event: Any, call: HookCall) -> HookResult | None:
    """An event is about to be published (before it is logged and delivered).

    ``Cancel`` drops it with an error to the publisher. Keep this cheap: it runs for
    every event. May be async.
    """
