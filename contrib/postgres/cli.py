"""``llmspell postgres migrate|status``: the schema's migration level, and upgrading it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from collections.abc import Callable

    from llmspell import Kernel

__all__ = ["register_commands"]


def register_commands(cli: click.Group, database: Callable[[Kernel], Any]) -> None:
    """Add ``llmspell postgres``; ``database``: the plugin's shared database of a kernel."""
    from llmspell.plugins.cli.api import echo_json, pass_kernel, run

    @cli.group("postgres")
    def postgres() -> None:
        """The PostgreSQL schema of the postgres backends: status and migrations."""

    @postgres.command("status")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @pass_kernel
    def status(kernel: Kernel, as_json: bool) -> None:
        """Show the server, the schema and its migration level."""
        from .migrations import LATEST, MIGRATIONS, level

        async def go() -> dict[str, Any]:
            db = database(kernel)
            await db.open_pool()
            try:
                async with db.connection() as conn:
                    current = await level(conn, db.schema)
            finally:
                await db.close_pool()
            due = [m.version for m in MIGRATIONS if m.version > (current or 0)]
            return {"server": db.where, "schema": db.schema, "level": current or 0, "latest": LATEST, "pending": due}

        info = run(go())
        if as_json:
            echo_json(info)
            return
        click.echo(f"server  {info['server']}\nschema  {info['schema']}\nlevel   {info['level']} of {info['latest']}")
        if info["pending"]:
            click.echo(f"pending {', '.join(map(str, info['pending']))}: run `llmspell postgres migrate`")

    @postgres.command("migrate")
    @click.option("--dry-run", is_flag=True, help="List the migrations that would run; change nothing.")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @pass_kernel
    def migrate_cmd(kernel: Kernel, dry_run: bool, as_json: bool) -> None:
        """Create the schema's tables, or bring them to the current migration."""
        from .migrations import migrate

        async def go() -> list[Any]:
            db = database(kernel)
            await db.open_pool()
            try:
                async with db.connection() as conn:
                    return await migrate(conn, db.schema, dry_run=dry_run)
            finally:
                await db.close_pool()

        done = run(go())
        rows = [{"version": m.version, "name": m.name} for m in done]
        if as_json:
            echo_json({"dry_run": dry_run, "migrations": rows})
            return
        verb = "would apply" if dry_run else "applied"
        if not rows:
            click.echo("the schema is up to date")
        for row in rows:
            click.echo(f"{verb} {row['version']}: {row['name']}")
