"""``llmspell state get|set|list|delete|migrate|info``.

A scope is written ``SCOPE:OWNER`` (``user:u1``, ``session:3f2a...``, ``agent:helper``)
or just ``app`` for the application's own scope. Values are JSON on the command line
(``'{"dark": true}'``, ``42``, ``'"text"'``), or any text with ``--string``.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from llmspell.errors import ValidationError

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["register"]


def _parse_scope(text: str) -> tuple[str, str | None]:
    kind, sep, owner = text.partition(":")
    if kind == "temp":
        raise ValidationError("the temp scope lives inside one invocation and is never stored")
    return kind, (owner if sep else None)


def _item_dict(kind: str, owner: str, key: str, item: Any) -> dict[str, Any]:
    return {
        "scope": kind,
        "owner": owner,
        "key": key,
        "value": item.value,
        "version": item.version,
        "schema_version": item.schema_version,
    }


def register(cli: click.Group) -> None:
    """Add the ``state`` group to the root command."""
    from llmspell.plugins.cli.api import console, echo_json, pass_kernel, pass_reader, progress, run

    @cli.group("state")
    def state_group() -> None:
        """Read and write durable state; migrate stored records."""

    @state_group.command("get")
    @click.argument("scope")
    @click.argument("key")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @pass_reader
    def get_cmd(kernel: Kernel, scope: str, key: str, as_json: bool) -> None:
        """Print the value and version of KEY in SCOPE (e.g. user:u1)."""
        kind, owner = _parse_scope(scope)

        async def go() -> Any:
            async with kernel:
                handle = kernel.state.scope(kind, owner)
                return handle, await handle.get_versioned(key)

        handle, item = run(go())
        if item is None:
            if as_json:
                echo_json({"scope": handle.kind, "owner": handle.owner, "key": key, "found": False})
            else:
                click.echo(f"{key!r} is not set in {handle.kind}:{handle.owner}", err=True)
            sys.exit(1)
        if as_json:
            echo_json({**_item_dict(handle.kind, handle.owner, key, item), "found": True})
            return
        console.print_json(json.dumps(item.value))
        click.echo(f"version {item.version} (schema {item.schema_version})", err=True)

    @state_group.command("set")
    @click.argument("scope")
    @click.argument("key")
    @click.argument("value")
    @click.option("--string", "as_string", is_flag=True, help="Store VALUE as text instead of parsing JSON.")
    @click.option(
        "--expected-version",
        type=int,
        default=None,
        help="Compare-and-set: fail unless KEY is at this version (0: must not exist).",
    )
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @pass_kernel
    def set_cmd(
        kernel: Kernel,
        scope: str,
        key: str,
        value: str,
        as_string: bool,
        expected_version: int | None,
        as_json: bool,
    ) -> None:
        """Store VALUE (JSON) under KEY in SCOPE; prints the new version."""
        kind, owner = _parse_scope(scope)
        if as_string:
            data: Any = value
        else:
            try:
                data = json.loads(value)
            except json.JSONDecodeError as exc:
                raise click.BadParameter(
                    f"not JSON ({exc}); quote text as '\"text\"' or pass --string", param_hint="VALUE"
                ) from None

        async def go() -> Any:
            async with kernel:
                handle = kernel.state.scope(kind, owner)
                return handle, await handle.set(key, data, expected_version=expected_version)

        handle, version = run(go())
        if as_json:
            echo_json({"scope": handle.kind, "owner": handle.owner, "key": key, "version": version})
        else:
            click.echo(f"{handle.kind}:{handle.owner} {key} -> version {version}")

    @state_group.command("list")
    @click.argument("scope")
    @click.option("--prefix", default="", help="Only keys starting with this.")
    @click.option("--values", is_flag=True, help="Also print values.")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @pass_reader
    def list_cmd(kernel: Kernel, scope: str, prefix: str, values: bool, as_json: bool) -> None:
        """List the keys of SCOPE with their versions."""
        kind, owner = _parse_scope(scope)

        async def go() -> Any:
            async with kernel:
                handle = kernel.state.scope(kind, owner)
                return handle, [item async for item in handle.scan(prefix)]

        handle, items = run(go())
        rows = [
            {
                "key": i.key,
                "version": i.version,
                "schema_version": i.schema_version,
                **({"value": i.value} if values else {}),
            }
            for i in items
        ]
        if as_json:
            echo_json({"scope": handle.kind, "owner": handle.owner, "items": rows})
            return
        for row in rows:
            extra = f"  {json.dumps(row['value'])}" if values else ""
            click.echo(f"{row['key']}  v{row['version']}{extra}")

    @state_group.command("delete")
    @click.argument("scope")
    @click.argument("key")
    @click.option("--expected-version", type=int, default=None, help="Only delete if KEY is at this version.")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @pass_kernel
    def delete_cmd(kernel: Kernel, scope: str, key: str, expected_version: int | None, as_json: bool) -> None:
        """Delete KEY from SCOPE."""
        kind, owner = _parse_scope(scope)

        async def go() -> Any:
            async with kernel:
                handle = kernel.state.scope(kind, owner)
                return handle, await handle.delete(key, expected_version=expected_version)

        handle, deleted = run(go())
        if as_json:
            echo_json({"scope": handle.kind, "owner": handle.owner, "key": key, "deleted": deleted})
        else:
            click.echo(f"deleted {key!r}" if deleted else f"{key!r} was not set")

    @state_group.command("migrate")
    @click.option("--dry-run", is_flag=True, help="Run the migrations but write nothing.")
    @click.option("--scope", "scope_name", default=None, help="Only this scope (user) or owner (user:u1).")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @pass_kernel
    def migrate_cmd(kernel: Kernel, dry_run: bool, scope_name: str | None, as_json: bool) -> None:
        """Migrate every stored record to its namespace's current schema version."""
        kind, owner = _parse_scope(scope_name) if scope_name else (None, None)

        async def go() -> Any:
            async with kernel:
                with progress(json_mode=as_json, unit="items") as bar:
                    task = bar.add_task("migrating state records", total=None)

                    def on_progress(done: int, total: int) -> None:
                        bar.update(task, completed=done, total=total)

                    return await kernel.state.migrate(
                        dry_run=dry_run, scope=kind, owner=owner, on_progress=on_progress
                    )

        report = run(go())
        data = {
            "dry_run": report.dry_run,
            "scanned": report.scanned,
            "migrated": report.migrated,
            "current": report.current,
            "failed": [{"key": k, "error": e} for k, e in report.failed],
        }
        if as_json:
            echo_json(data)
        else:
            verb = "would migrate" if dry_run else "migrated"
            click.echo(
                f"{report.scanned} records: {verb} {report.migrated}, {report.current} already current, {len(report.failed)} failed"
            )
            for key, error in report.failed:
                click.echo(f"  {key}: {error}", err=True)
        if report.failed:
            sys.exit(1)

    @state_group.command("info")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @pass_reader
    def info_cmd(kernel: Kernel, as_json: bool) -> None:
        """Show the backend, conflict-policy rules, reducers and schema namespaces."""
        config = kernel.config.section("state")
        from ._policies import PolicyTable

        table = PolicyTable(kernel.registry("state_reducer"), config.default_policy)
        for pattern, spec in config.policies.items():
            table.set(pattern, spec, source="config")
        from ._migrations import Schemas

        data = {
            "backend": config.backend,
            "backends": [str(r.name) for r in kernel.registry("state_backend")],
            "default_policy": config.default_policy,
            "policies": table.rules(),
            "reducers": [str(r.name) for r in kernel.registry("state_reducer")],
            "schemas": Schemas(
                kernel.registry("state_schema"), kernel.registry("state_migration")
            ).describe(),
        }
        if as_json:
            echo_json(data)
        else:
            console.print_json(json.dumps(data))
