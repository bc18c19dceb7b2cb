"""``llmspell artifacts ls|put|get|stat|versions|rm|gc``.

Commands act as the system (the local operator) unless ``--as user:ID`` names another
principal. Artifacts are named by a reference (``artifact:session/<id>/name@3``) or by a
name plus ``--session``/``--user``/``--app`` (default: the app scope).
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import click

from llmspell.plugins.artifacts.api import ArtifactMeta

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["register_commands", "meta_json"]


def meta_json(meta: ArtifactMeta) -> dict[str, Any]:
    return {
        "ref": str(meta.ref), "scope": meta.ref.scope, "owner": meta.ref.owner, "name": meta.ref.name,
        "version": meta.ref.version, "size": meta.size, "sha256": meta.sha256, "content_type": meta.content_type,
        "created": meta.created.isoformat(), "creator": meta.creator, "tags": list(meta.tags),
        "metadata": meta.metadata, "codecs": list(meta.codecs), "stored_size": meta.stored_size,
    }


def _scope_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--as", "as_principal", metavar="KIND:ID", help="Act as this principal (default: the system).")(fn)
    fn = click.option("--app", "app", metavar="NAME", help="App scope (the default scope).")(fn)
    fn = click.option("--user", "user_id", metavar="ID", help="User scope of this user.")(fn)
    fn = click.option("--session", "session_id", metavar="ID", help="Session scope of this session.")(fn)
    return fn


def _where(session_id: str | None, user_id: str | None, app: str | None, as_principal: str | None) -> dict[str, Any]:
    where: dict[str, Any] = {"principal": as_principal}
    if session_id:
        where["session_id"] = session_id
    elif user_id:
        where["user_id"] = user_id
    elif app:
        where.update(scope="app", owner=app)
    return where


def register_commands(cli: click.Group) -> None:
    from llmspell.plugins.cli.api import console, echo_json, pass_kernel, pass_reader, progress, run

    @cli.group("artifacts")
    def artifacts() -> None:
        """Versioned binary artifacts: list, put, get, versions, rm, gc."""

    @artifacts.command("ls")
    @_scope_options
    @click.option("--prefix", default="", help="Only names starting with this.")
    @click.option("--tag", default=None, help="Only artifacts with this tag.")
    @click.option("--type", "content_type", default=None, help="Content type, or a family like image/*.")
    @click.option("--all-versions", is_flag=True, help="Every version, not only the latest.")
    @click.option("--limit", default=100, show_default=True, help="Page size.")
    @click.option("--cursor", default=None, help="Continue after a previous page.")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @pass_reader
    def ls_cmd(kernel: Kernel, session_id: Any, user_id: Any, app: Any, as_principal: Any, prefix: str, tag: Any,
               content_type: Any, all_versions: bool, limit: int, cursor: Any, as_json: bool) -> None:
        """List artifacts (all scopes unless one is given)."""
        where = _where(session_id, user_id, app, as_principal)

        async def go() -> Any:
            async with kernel:
                page = await kernel.artifacts.list(prefix=prefix, tag=tag, content_type=content_type,
                                                   all_versions=all_versions, limit=limit, cursor=cursor, **where)
                if session_id and not page.items:
                    from llmspell.plugins.sessions.api import SessionService

                    sessions = kernel.services.find(SessionService)
                    if sessions is not None:
                        await sessions.get(session_id)  # NotFoundError: the session does not exist
                return page

        page = run(go())
        if as_json:
            echo_json({"items": [meta_json(m) for m in page.items], "next_cursor": page.next_cursor})
            return
        from rich.table import Table

        table = Table(title="artifacts")
        table.add_column("ref", overflow="fold", min_width=26)  # folded, never cut: users copy it
        table.add_column("size", justify="right", no_wrap=True)
        table.add_column("type", overflow="fold", max_width=10)
        table.add_column("created", no_wrap=True)
        table.add_column("tags", overflow="fold", max_width=10)
        for m in page.items:
            table.add_row(str(m.ref), str(m.size), m.content_type, m.created.strftime("%m-%d %H:%M"), ", ".join(m.tags))
        console.print(table)
        if page.next_cursor:
            console.print(f"more: --cursor {page.next_cursor}")

    @artifacts.command("put")
    @click.argument("path", type=click.Path(dir_okay=False, allow_dash=True))
    @click.option("--name", default=None, help="Artifact name (default: the file's name).")
    @click.option("--type", "content_type", default=None, help="Content type (default: guessed from the name).")
    @click.option("--tag", "tags", multiple=True, help="A tag (repeatable).")
    @click.option("--codec", "codecs", multiple=True, help="Codec chain for this save (repeatable, in order).")
    @_scope_options
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @pass_kernel
    def put_cmd(kernel: Kernel, path: str, name: Any, content_type: Any, tags: tuple[str, ...], codecs: tuple[str, ...],
                session_id: Any, user_id: Any, app: Any, as_principal: Any, as_json: bool) -> None:
        """Save a file (or - for stdin) as a new version of an artifact."""
        if name is None:
            if path == "-":
                raise click.UsageError("--name is required when reading stdin")
            name = os.path.basename(path)
        where = _where(session_id, user_id, app, as_principal)
        total = None if path == "-" else os.path.getsize(path)

        async def go() -> Any:
            fh = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: ASYNC230
            try:
                with progress(json_mode=as_json) as bar:
                    task = bar.add_task(f"put {name}", total=total)

                    async def chunks() -> AsyncIterator[bytes]:
                        while chunk := fh.read(1 << 20):
                            bar.update(task, advance=len(chunk))
                            yield chunk

                    async with kernel:
                        ref = await kernel.artifacts.save(name, chunks(), content_type=content_type, tags=tags,
                                                          codecs=list(codecs) or None, **where)
                        return await kernel.artifacts.stat(ref, principal=as_principal)
            finally:
                if fh is not sys.stdin.buffer:
                    fh.close()

        meta = run(go())
        if as_json:
            echo_json(meta_json(meta))
        else:
            console.print(f"saved {meta.ref} ({meta.size} bytes, sha256 {meta.sha256[:16]}...)")

    @artifacts.command("get")
    @click.argument("target")
    @click.option("-o", "--output", default=None, type=click.Path(dir_okay=False, allow_dash=True), help="File to write (default: stdout).")
    @click.option("--version", type=int, default=None, help="A version (default: the latest).")
    @_scope_options
    @click.option("--json", "as_json", is_flag=True, help="Print the metadata as JSON (with -o).")
    @pass_reader
    def get_cmd(kernel: Kernel, target: str, output: Any, version: Any, session_id: Any, user_id: Any, app: Any,
                as_principal: Any, as_json: bool) -> None:
        """Write an artifact's content to a file or stdout, streamed and verified."""
        where = _where(session_id, user_id, app, as_principal)

        async def go() -> Any:
            async with kernel:
                reader = await kernel.artifacts.open(target, version=version, **where)
                to_stdout = output in (None, "-")
                tmp = None if to_stdout else f"{output}.part"
                fh = sys.stdout.buffer if tmp is None else open(tmp, "wb")  # noqa: ASYNC230
                try:
                    with progress(json_mode=as_json, stdout_data=to_stdout) as bar:
                        task = bar.add_task(f"get {reader.meta.ref.name}", total=reader.meta.size)
                        async with reader:
                            async for chunk in reader:
                                fh.write(chunk)
                                bar.update(task, advance=len(chunk))
                finally:
                    if not to_stdout:
                        fh.close()
                if tmp is not None:
                    os.replace(tmp, output)
                return reader.meta

        try:
            meta = run(go())
        finally:
            if output not in (None, "-") and os.path.exists(f"{output}.part"):
                os.unlink(f"{output}.part")
        if as_json and output not in (None, "-"):
            echo_json(meta_json(meta))

    @artifacts.command("stat")
    @click.argument("target")
    @click.option("--version", type=int, default=None, help="A version (default: the latest).")
    @_scope_options
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @pass_reader
    def stat_cmd(kernel: Kernel, target: str, version: Any, session_id: Any, user_id: Any, app: Any, as_principal: Any, as_json: bool) -> None:
        """Show one version's metadata."""
        where = _where(session_id, user_id, app, as_principal)

        async def go() -> Any:
            async with kernel:
                return await kernel.artifacts.stat(target, version=version, **where)

        data = meta_json(run(go()))
        if as_json:
            echo_json(data)
        else:
            for key, value in data.items():
                console.print(f"{key}: {value}", highlight=False)

    @artifacts.command("versions")
    @click.argument("target")
    @_scope_options
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @pass_reader
    def versions_cmd(kernel: Kernel, target: str, session_id: Any, user_id: Any, app: Any, as_principal: Any, as_json: bool) -> None:
        """List the versions of an artifact."""
        where = _where(session_id, user_id, app, as_principal)

        async def go() -> Any:
            async with kernel:
                return await kernel.artifacts.versions(target, **where)

        metas = run(go())
        if as_json:
            echo_json({"versions": [meta_json(m) for m in metas]})
            return
        console.print(f"{'version':>7}  {'size':>12}  {'created':<19}  {'sha256':<16}  creator", highlight=False)
        for m in metas:
            console.print(f"{m.ref.version:>7}  {m.size:>12}  {m.created:%Y-%m-%d %H:%M:%S}  {m.sha256[:16]}  {m.creator}",
                          highlight=False, markup=False)

    @artifacts.command("rm")
    @click.argument("target")
    @click.option("--version", type=int, default=None, help="Delete only this version.")
    @click.option("--all", "all_versions", is_flag=True, help="Delete every version (also of a ref).")
    @_scope_options
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @pass_kernel
    def rm_cmd(kernel: Kernel, target: str, version: Any, all_versions: bool, session_id: Any, user_id: Any, app: Any,
               as_principal: Any, as_json: bool) -> None:
        """Delete one version, or every version of an artifact (a bare name deletes all)."""
        where = _where(session_id, user_id, app, as_principal)

        async def go() -> Any:
            async with kernel:
                return await kernel.artifacts.delete(target, version=version, all_versions=all_versions, **where)

        refs = run(go())
        if as_json:
            echo_json({"deleted": [str(r) for r in refs]})
        else:
            for ref in refs:
                console.print(f"deleted {ref}", highlight=False)

    @artifacts.command("gc")
    @click.option("--dry-run", is_flag=True, help="Report what would be removed; remove nothing.")
    @click.option("--grace", type=float, default=None, help="Leave blobs younger than this many seconds (default: config).")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @pass_kernel
    def gc_cmd(kernel: Kernel, dry_run: bool, grace: Any, as_json: bool) -> None:
        """Remove unreferenced blobs and uploads left by crashes; report bytes freed."""

        async def go() -> Any:
            async with kernel:
                with progress(json_mode=as_json, unit="items") as bar:
                    task = bar.add_task("checking blobs" if dry_run else "collecting garbage", total=None)

                    def on_progress(done: int, total: int) -> None:
                        bar.update(task, completed=done, total=total)

                    return await kernel.artifacts.gc(dry_run=dry_run, grace=grace, on_progress=on_progress)

        report = run(go())
        data = {"dry_run": report.dry_run, "blobs": list(report.blobs), "uploads": list(report.uploads),
                "bytes_freed": report.bytes_freed}
        if as_json:
            echo_json(data)
        else:
            verb = "would free" if dry_run else "freed"
            console.print(f"{len(report.blobs)} blobs, {len(report.uploads)} uploads: {verb} {report.bytes_freed} bytes")
