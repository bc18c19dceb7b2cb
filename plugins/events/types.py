"""The typed system events: kernel, plugin, agent, tool, model, state, session, artifact,
workflow and hook events.

Each family has a base class registered for ``<family>.**``, so an event of that family
whose exact type has no class of its own (``agent.paused``) is still read back as the
family class; each known type has a class registered under its name. Typed classes add
no fields (see :mod:`llmspell.plugins.events.api`): the payload keys below are read with
``payload_field`` and only the workflow and hook events, which this plugin and the
kernel publish themselves, insist on theirs (``REQUIRED``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from llmspell.plugins.events.api import Event, payload_field

# -- families -------------------------------------------------------------------------


@attrs.frozen
class KernelEvent(Event):
    """``kernel.**``: the kernel started or is stopping."""


@attrs.frozen
class PluginEvent(Event):
    """``plugin.**``: a plugin was loaded, started or failed."""

    plugin = payload_field[str]("plugin")


@attrs.frozen
class AgentEvent(Event):
    """``agent.**``: an agent's lifecycle and runs."""

    agent = payload_field[str]("agent", doc="The agent's name or id.")
    agent_type = payload_field[str]("agent_type")


@attrs.frozen
class ToolEvent(Event):
    """``tool.**``: tool calls."""

    tool = payload_field[str]("tool")


@attrs.frozen
class ModelEvent(Event):
    """``model.**``: model-provider calls."""

    provider = payload_field[str]("provider")
    model = payload_field[str]("model")


@attrs.frozen
class StateEvent(Event):
    """``state.**``: state writes."""

    scope = payload_field[str]("scope")
    owner = payload_field[str]("owner")
    key = payload_field[str]("key")


@attrs.frozen
class SessionEvent(Event):
    """``session.**``: session lifecycle."""

    status = payload_field[str]("status")


@attrs.frozen
class ArtifactEvent(Event):
    """``artifact.**``: artifact versions saved, read and deleted."""

    name = payload_field[str]("name")
    version = payload_field[int]("version")


@attrs.frozen
class WorkflowEvent(Event):
    """``workflow.**``: workflow runs (see :mod:`llmspell.plugins.events.workflow`)."""

    REQUIRED: ClassVar[tuple[str, ...]] = ("workflow", "run_id")
    workflow = payload_field[str]("workflow")
    run_id = payload_field[str]("run_id")


@attrs.frozen
class HookEvent(Event):
    """``hook.**``: hook isolation (circuit breakers)."""


# -- types ----------------------------------------------------------------------------


@attrs.frozen
class KernelStarted(KernelEvent):
    """The kernel started; ``plugins`` lists the loaded plugins."""

    TYPE = "kernel.started"
    plugins = payload_field[list[str]]("plugins", doc="Names of the loaded plugins.")


@attrs.frozen
class KernelStopping(KernelEvent):
    """The kernel is about to stop."""

    TYPE = "kernel.stopping"


@attrs.frozen
class StateChanged(StateEvent):
    """A state key was written or deleted.

    Payload: ``scope``, ``owner``, ``key``, ``old_version``, ``new_version``, ``value``
    (the new value; None when deleted) and ``deleted``.
    """

    TYPE = "state.changed"
    old_version = payload_field[int]("old_version")
    new_version = payload_field[int]("new_version")
    value = payload_field[Any]("value")
    deleted = payload_field[bool]("deleted", False)


@attrs.frozen
class WorkflowStarted(WorkflowEvent):
    """A workflow run started (``input`` in the payload, if any)."""

    TYPE = "workflow.started"


@attrs.frozen
class WorkflowStep(WorkflowEvent):
    """One step of a run: ``step`` (name), ``index`` (0-based) and ``status``."""

    TYPE = "workflow.step"
    REQUIRED: ClassVar[tuple[str, ...]] = ("workflow", "run_id", "step", "index", "status")
    step = payload_field[str]("step")
    index = payload_field[int]("index")
    status = payload_field[str]("status", doc="started, finished or failed")


@attrs.frozen
class WorkflowFinished(WorkflowEvent):
    """A workflow run finished (``steps``, ``output``)."""

    TYPE = "workflow.finished"


@attrs.frozen
class WorkflowFailed(WorkflowEvent):
    """A workflow run failed (``steps``, ``error``)."""

    TYPE = "workflow.failed"
    error = payload_field[str]("error")


@attrs.frozen
class HookBreaker(HookEvent):
    """A hook's circuit breaker changed ``state`` (open, half-open, closed)."""

    TYPE = "hook.breaker"
    REQUIRED: ClassVar[tuple[str, ...]] = ("hook", "point", "state")
    hook = payload_field[str]("hook")
    point = payload_field[str]("point")
    state = payload_field[str]("state")


def _simple(base: type[Event], type_name: str) -> type[Event]:
    """A typed class with no payload accessors of its own."""
    name = "".join(part.capitalize() for part in type_name.replace("-", "_").split(".")[1].split("_"))
    family = type_name.split(".")[0].capitalize()
    cls = type(f"{family}{name}", (base,), {"TYPE": type_name, "__doc__": f"``{type_name}``."})
    cls.__module__ = __name__
    return attrs.frozen(cls)


FAMILIES: dict[str, type[Event]] = {
    "kernel.**": KernelEvent,
    "plugin.**": PluginEvent,
    "agent.**": AgentEvent,
    "tool.**": ToolEvent,
    "model.**": ModelEvent,
    "state.**": StateEvent,
    "session.**": SessionEvent,
    "artifact.**": ArtifactEvent,
    "workflow.**": WorkflowEvent,
    "hook.**": HookEvent,
}

_SIMPLE = {
    PluginEvent: ("plugin.loaded", "plugin.started", "plugin.failed"),
    AgentEvent: ("agent.created", "agent.initialized", "agent.started", "agent.finished",
                 "agent.failed", "agent.stopped", "agent.handoff"),
    ToolEvent: ("tool.called", "tool.finished", "tool.failed"),
    ModelEvent: ("model.called", "model.finished", "model.failed"),
    SessionEvent: ("session.created", "session.suspended", "session.resumed", "session.completed",
                   "session.failed", "session.expired", "session.forked", "session.deleted"),
    ArtifactEvent: ("artifact.saved", "artifact.loaded", "artifact.deleted"),
}

#: Every typed system event: type name -> class.
SYSTEM_TYPES: dict[str, type[Event]] = {
    str(cls.TYPE): cls
    for cls in (KernelStarted, KernelStopping, StateChanged, WorkflowStarted, WorkflowStep,
                WorkflowFinished, WorkflowFailed, HookBreaker)
}
for _base, _names in _SIMPLE.items():
    for _name in _names:
        SYSTEM_TYPES[_name] = _simple(_base, _name)

globals().update({cls.__name__: cls for cls in SYSTEM_TYPES.values()})


def _summary(cls: type) -> str:
    lines = (cls.__doc__ or "").strip().splitlines()
    return lines[0] if lines else ""


def register_types(register: Any) -> None:
    """Register the families and the typed system events."""
    for pattern, cls in FAMILIES.items():
        register(pattern, cls, description=_summary(cls))
    for name, cls in SYSTEM_TYPES.items():
        register(name, cls, description=_summary(cls))
