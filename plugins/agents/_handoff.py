"""Handoffs: state propagation through a transformation pipeline, with version checks.

When an agent's output names ``transfer_to``, the service builds a
:class:`~llmspell.plugins.agents.api.Handoff` (source, target, input, the ``handoff_state`` the source
passed and the source's ``state_schema`` version) and runs the ``handoff`` hook point:
plugin hooks, runtime hooks (``kernel.hooks.register("agent_handoff", fn)``) and the source
agent's callbacks, in the usual order, each seeing the previous one's changes.
:func:`keep`, :func:`drop`, :func:`rename` and :func:`summarise` build such hooks.

Then the state's schema version is checked against the target's ``state_schema``.
When they differ, registered migrations (namespace ``agents.handoff``, registered with
``llmspell_register_state_migrations`` or :meth:`Handoffs.add_migration`) are applied
one version at a time; if no chain reaches the target's version, the handoff fails with
a :class:`~llmspell.errors.SchemaVersionError` naming both agents and both versions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from llmspell.context import ExecutionContext
from llmspell.errors import MigrationError, SchemaVersionError
from llmspell.hooks import HookCall
from llmspell.plugins.agents.api import AgentOutput, AgentRequest, Handoff
from llmspell.registry import Registry

from ._calls import report

if TYPE_CHECKING:
    from llmspell import Kernel

    from ._lifecycle import AgentsSettings
    from .api import BaseAgent

__all__ = ["Handoffs", "NAMESPACE", "keep", "drop", "rename", "summarise"]

NAMESPACE = "agents.handoff"
Hook = Callable[[HookCall], None]


class Handoffs:
    """The handoff pipeline of one agent service, built with the kernel (its hook points,
    system events and migration registry) and the ``[agents]`` settings."""

    def __init__(self, kernel: Kernel, settings: AgentsSettings) -> None:
        self.kernel = kernel
        self.settings = settings

    @property
    def _migrations(self) -> Registry[Any]:
        return self.kernel.registry("state_migration")

    def add_migration(self, from_version: int, fn: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        """Register ``fn`` turning handoff state at ``from_version`` into ``from_version + 1``."""
        self._migrations.add((NAMESPACE, from_version), fn, plugin="<runtime>")

    async def follow(self, source: BaseAgent, target: BaseAgent, request: AgentRequest, output: AgentOutput,
                     depth: int, ctx: ExecutionContext) -> Handoff:
        kernel = self.kernel
        handoff = Handoff(
            source=source.name, target=target.name,
            input=output.metadata.get("handoff_input", request.input),
            state=dict(output.handoff_state), schema_version=source.config.state_schema,
            depth=depth, reason=str(output.metadata.get("handoff_reason", "")),
        )
        if kernel.hook.agent_handoff.active(source.callbacks):
            call = await kernel.hook.agent_handoff(ctx=ctx, component=target, request=handoff, source=source,
                                                   target=target, extra=source.callbacks)
            handoff = call.request
        handoff = self.check_version(handoff, target)
        if self.settings.publish:
            await kernel.emit("agent.handoff", {"from": source.name, "to": target.name, "depth": depth,
                                                "state_keys": sorted(handoff.state),
                                                "schema_version": handoff.schema_version},
                              session_id=ctx.session_id, user_id=ctx.user_id, correlation_id=ctx.trace_id,
                              source=f"agent:{source.name}")
        report("handoff", source.name, {"to": target.name, "state": handoff.state})
        return handoff

    def check_version(self, handoff: Handoff, target: BaseAgent) -> Handoff:
        """Migrate ``handoff.state`` up to what ``target`` accepts, or fail clearly."""
        want = target.config.state_schema
        version = handoff.schema_version
        if target.accepts(version):
            return handoff
        state = dict(handoff.state)
        start = version
        while version < want:
            fn = self._migrations.find((NAMESPACE, version))
            if fn is None:
                break
            try:
                state = fn(state)
            except Exception as exc:
                raise MigrationError(
                    f"handoff state migration {version} -> {version + 1} failed for {handoff.source!r} -> "
                    f"{handoff.target!r}: {type(exc).__name__}: {exc}"
                ) from exc
            version += 1
        if not target.accepts(version):
            raise SchemaVersionError(
                f"agent {handoff.target!r} accepts handoff state schema version {want}, but "
                f"{handoff.source!r} passed version {start}"
                + (f" (migrated up to {version})" if version != start else "")
                + f"; register a migration for namespace {NAMESPACE!r} from version {version}, "
                "or align the agents' state_schema"
            )
        return handoff.evolve(state=state, schema_version=version)


# -- ready-made transformation hooks ------------------------------------------------------------


def _update(call: HookCall, state: dict[str, Any]) -> None:
    call.request = call.request.evolve(state=state)


def keep(keys: Iterable[str]) -> Hook:
    """A handoff hook passing only ``keys`` of the state."""
    wanted = set(keys)

    def hook(call: HookCall) -> None:
        _update(call, {k: v for k, v in call.request.state.items() if k in wanted})

    return hook


def drop(keys: Iterable[str]) -> Hook:
    """A handoff hook removing ``keys`` (secrets, scratch data) from the state."""
    unwanted = set(keys)

    def hook(call: HookCall) -> None:
        _update(call, {k: v for k, v in call.request.state.items() if k not in unwanted})

    return hook


def rename(mapping: Mapping[str, str]) -> Hook:
    """A handoff hook renaming state keys (``{"old": "new"}``)."""

    def hook(call: HookCall) -> None:
        _update(call, {mapping.get(k, k): v for k, v in call.request.state.items()})

    return hook


def summarise(fn: Callable[[dict[str, Any]], dict[str, Any]] | None = None, *, max_chars: int = 200) -> Hook:
    """A handoff hook condensing the state: ``fn(state)``, or long strings cut to ``max_chars``."""

    def default(state: dict[str, Any]) -> dict[str, Any]:
        return {k: (v[: max_chars - 1] + "…" if isinstance(v, str) and len(v) > max_chars else v)
                for k, v in state.items()}

    summarize = fn or default

    def hook(call: HookCall) -> None:
        _update(call, summarize(dict(call.request.state)))

    return hook
