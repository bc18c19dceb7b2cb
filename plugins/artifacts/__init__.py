"""The default artifact service: versioned, scoped, content-addressed binary artifacts.

Registers the ``[artifacts]`` config section, the blob stores ``filesystem`` (default)
and ``memory``, the metadata indexes ``sqlite`` (default) and ``memory``, the codecs
``zstd`` and ``aesgcm``, the :class:`~llmspell.plugins.artifacts.api.ArtifactService`, session
cleanup and the ``llmspell artifacts`` commands. Block it with
``[plugins] disable = ["artifacts"]``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from llmspell import hookimpl
from llmspell.errors import ConfigError
from llmspell.plugins.artifacts.api import ArtifactService
from llmspell.plugins.artifacts.backend import KeyProvider
from llmspell.services import StashKey

from ._aesgcm import AesGcmCodec, StaticKeys, parse_key
from ._blobs_fs import FilesystemBlobStore
from ._blobs_memory import MemoryBlobStore
from ._config import ArtifactsConfig, RetentionPolicy
from ._index_memory import MemoryArtifactIndex
from ._index_sqlite import SqliteArtifactIndex
from ._lifecycle import GcReport, RetentionReport, RotationReport
from ._service import ArtifactReader, ArtifactStore
from ._zstd import ZstdCodec

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = [
    "ArtifactStore",
    "ArtifactReader",
    "ArtifactsConfig",
    "RetentionPolicy",
    "FilesystemBlobStore",
    "MemoryBlobStore",
    "MemoryArtifactIndex",
    "SqliteArtifactIndex",
    "ZstdCodec",
    "AesGcmCodec",
    "StaticKeys",
    "GcReport",
    "RetentionReport",
    "RotationReport",
    "SERVICE",
    "SessionCleanup",
]

SERVICE: StashKey[ArtifactStore] = StashKey("artifacts.service")


def _root(kernel: Kernel) -> Any:
    config: ArtifactsConfig = kernel.config.section("artifacts")
    path = os.path.join(kernel.data_dir, config.path)
    return os.path.abspath(path)


@hookimpl
def llmspell_register_config(register: Any) -> None:
    register("artifacts", ArtifactsConfig, "artifact storage: backends, codecs, keys, retention",
             backends={"backend": "artifact_backend", "metadata": "artifact_metadata_backend"})


@hookimpl(trylast=True)
def llmspell_register_artifact_backends(register: Any) -> None:
    register(
        "filesystem",
        lambda kernel: FilesystemBlobStore(
            os.path.join(_root(kernel), "store"), fsync=kernel.config.section("artifacts").fsync
        ),
        "files under the data directory, sharded by hash, atomic writes",
    )
    register("memory", lambda kernel: MemoryBlobStore(), "process memory (tests)")


@hookimpl(trylast=True)
def llmspell_register_artifact_metadata_backends(register: Any) -> None:
    register(
        "sqlite",
        lambda kernel: SqliteArtifactIndex(os.path.join(_root(kernel), "index.sqlite3")),
        "SQLite in WAL mode under the data directory",
    )
    register("memory", lambda kernel: MemoryArtifactIndex(), "process memory (tests)")


@hookimpl(trylast=True)
def llmspell_register_artifact_codecs(register: Any) -> None:
    register("zstd", ZstdCodec(), "zstd compression in frames, skipped where it does not help (extra: zstd)")
    register("aesgcm", AesGcmCodec(), "AES-256-GCM encryption at rest in authenticated frames (extra: crypto)")


def _keys(kernel: Kernel, config: ArtifactsConfig) -> KeyProvider | None:
    if config.key_provider:
        from llmspell.config import resolve

        try:
            factory = resolve(config.key_provider)
        except ValueError as exc:
            raise ConfigError([f"artifacts.key_provider: {exc}"]) from None
        provider = factory(kernel) if _takes_arg(factory) else factory()
        if not isinstance(provider, KeyProvider):
            raise ConfigError([f"artifacts.key_provider: {config.key_provider} did not return a KeyProvider"])
        return provider
    keys = {kid: parse_key(text, f"artifacts.old_keys.{kid}") for kid, text in config.old_keys.items()}
    if config.key:
        keys[config.key_id] = parse_key(config.key)
    return StaticKeys(config.key_id, keys) if keys else None


def _takes_arg(fn: Any) -> bool:
    import inspect

    try:
        return bool(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return False


@hookimpl
def llmspell_configure(kernel: Kernel) -> None:
    config: ArtifactsConfig = kernel.config.section("artifacts")
    problems = []
    codecs = kernel.registry("artifact_codec")
    for where, chain in [("codecs", config.codecs), *((f"scope_codecs.{s}", c) for s, c in config.scope_codecs.items())]:
        for name in chain:
            if name not in codecs:
                known = ", ".join(str(n) for n in codecs.names())
                problems.append(f"artifacts.{where}: unknown artifact codec {name!r} (registered: {known})")
    if problems:
        raise ConfigError(problems, source=kernel.config.source)


@hookimpl
def llmspell_register_services(kernel: Kernel, register: Any) -> None:
    config: ArtifactsConfig = kernel.config.section("artifacts")
    store = kernel.create_backend("artifact_backend", config.backend)
    index = kernel.create_backend("artifact_metadata_backend", config.metadata)
    if isinstance(store, FilesystemBlobStore) and isinstance(index, SqliteArtifactIndex):
        # the embedded pair: small blobs go to the index's database, ordered before the
        # versions that refer to them by its write-ahead log (see _blobs_fs)
        store.share_index(index.path)
        index.share_small_blobs()
    codecs = {str(r.name): r.value for r in kernel.registry("artifact_codec")}
    service = ArtifactStore(kernel, config, store, index, codecs, _keys(kernel, config))
    kernel.stash[SERVICE] = service
    register(ArtifactService, service)
    if kernel.pm.has_plugin(CLEANUP_PLUGIN):
        kernel.pm.unregister(name=CLEANUP_PLUGIN)
    kernel.pm.register(SessionCleanup(service), name=CLEANUP_PLUGIN)


@hookimpl
async def llmspell_startup(kernel: Kernel) -> None:
    await kernel.stash[SERVICE].start()


@hookimpl
async def llmspell_shutdown(kernel: Kernel) -> None:
    if SERVICE in kernel.stash:
        service = kernel.stash[SERVICE]
        del kernel.stash[SERVICE]
        if kernel.pm.has_plugin(CLEANUP_PLUGIN):
            kernel.pm.unregister(name=CLEANUP_PLUGIN)
        await service.close()


class SessionCleanup:
    """The per-kernel plugin that ties session cleanup to this kernel's artifact service.

    Registered as ``artifacts.sessions`` while the kernel runs. For reason ``deleted`` a
    session's artifacts are deleted at once; for ``expired`` and ``archived`` the session
    counts as ended (``session.ended_at`` when it has one, else now) for the
    ``session_end_days`` retention policy.
    """

    def __init__(self, service: ArtifactStore) -> None:
        self.service = service

    @hookimpl
    async def llmspell_session_cleanup(self, session: Any, reason: str) -> None:
        if reason == "deleted":
            await self.service.delete_session(session.id)
        else:
            await self.service.session_ended(session.id, at=getattr(session, "ended_at", None))


CLEANUP_PLUGIN = "artifacts.sessions"


@hookimpl
def llmspell_register_commands(cli: Any, kernel: Kernel) -> None:
    from ._cli import register_commands

    register_commands(cli)
