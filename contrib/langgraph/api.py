"""The public methods of the checkpointer: LangGraph's async and synchronous API.

Each runs the saver's own coroutine on the kernel's event loop (see
:class:`~llmspell.contrib.Bridge`): awaited directly from that loop, marshalled from
another loop, and called from another thread for the synchronous methods.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata, CheckpointTuple

from . import maintenance

if TYPE_CHECKING:
    from llmspell import Kernel

    from .saver import LlmspellSaver

__all__ = ["SaverAPI"]


class SaverAPI:
    """Mixed into :class:`~.saver.LlmspellSaver` ahead of ``BaseCheckpointSaver``."""

    if TYPE_CHECKING:  # provided by LlmspellSaver
        kernel: Kernel
        bridge: Any
        threads: Any
        _get_tuple: Any
        _list: Any
        _put: Any
        _put_writes: Any
        _delete_thread: Any

    def _saver(self) -> LlmspellSaver:
        return cast("LlmspellSaver", self)

    # -- a context manager, as InMemorySaver is (the kernel owns what there is to close) --

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    # -- the async API --------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self.bridge.run(self._get_tuple(config))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        listing = self._list(config, filter=filter, before=before, limit=limit)
        if self.bridge.here():
            async for item in listing:
                yield item
            return
        for item in await self.bridge.run(_collect(listing)):
            yield item

    async def aput(
        self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self.bridge.run(self._put(config, checkpoint, metadata, new_versions))

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        await self.bridge.run(self._put_writes(config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        await self.bridge.run(self._delete_thread(thread_id))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await self.bridge.run(maintenance.delete_for_runs(self._saver(), run_ids))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await self.bridge.run(maintenance.copy_thread(self._saver(), source_thread_id, target_thread_id))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await self.bridge.run(maintenance.prune(self._saver(), thread_ids, strategy))

    async def afork_thread(self, thread_id: str, **changes: Any) -> str:
        """Fork a thread with ``kernel.sessions.fork``; returns the new thread's id.

        The fork has every checkpoint of the original (and its session's other state and
        artifacts); ``changes`` may set its title, metadata, tags, ttl or user_id.
        """
        fork = await self.bridge.run(self.kernel.sessions.fork(self.threads.sid(thread_id), **changes))
        return str(fork.id)

    async def athreads(self, *, user_id: str | None = None) -> list[str]:
        """The ids of the threads of this saver's app (of one user), newest first."""

        async def collect() -> list[str]:
            filters = {} if user_id is None else {"user_id": user_id}
            out = []
            async for session in self.threads.sessions(**filters):
                if not self.threads._expired(self.threads._remember(session.id, session)):
                    out.append(self.threads.thread_of(session))
            return out

        return await self.bridge.run(collect())

    # -- the synchronous API (the kernel must run on another thread) ----------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self.bridge.call(self._get_tuple(config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        yield from self.bridge.call(_collect(self._list(config, filter=filter, before=before, limit=limit)))

    def put(
        self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self.bridge.call(self._put(config, checkpoint, metadata, new_versions))

    def put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        self.bridge.call(self._put_writes(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        self.bridge.call(self._delete_thread(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        self.bridge.call(maintenance.delete_for_runs(self._saver(), run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self.bridge.call(maintenance.copy_thread(self._saver(), source_thread_id, target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self.bridge.call(maintenance.prune(self._saver(), thread_ids, strategy))



async def _collect(items: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in items]
