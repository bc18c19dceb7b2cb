"""The bridge from synchronous code to the kernel's loop in another thread (``wait_on``)."""

from __future__ import annotations

import asyncio
import contextvars
import signal
import threading
from collections.abc import Iterator

import pytest

from llmspell.contrib import KernelThread
from llmspell.contrib._interop import Bridge, wait_on
from llmspell.errors import LlmspellError

WHO: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")


@pytest.fixture
def loop_thread() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()


def test_wait_on_returns_the_result_from_the_loops_thread_with_the_callers_context(loop_thread) -> None:
    async def where() -> tuple[str, str, bool]:
        await asyncio.sleep(0)  # suspends once: the task is resumed by the loop
        return threading.current_thread().name, WHO.get(), asyncio.current_task() is not None

    WHO.set("caller")
    name, who, in_task = wait_on(loop_thread, where())
    assert name != threading.current_thread().name and who == "caller" and in_task


def test_wait_on_raises_what_the_coroutine_raised(loop_thread) -> None:
    async def fail() -> None:
        raise LlmspellError("broken on the loop")

    with pytest.raises(LlmspellError, match="broken on the loop"):
        wait_on(loop_thread, fail())


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals reach the main thread")
def test_an_interrupted_wait_cancels_the_task(loop_thread) -> None:
    started, cancelled = threading.Event(), threading.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    def interrupt() -> None:
        started.wait(10)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        wait_on(loop_thread, forever())
    assert cancelled.wait(10)


def test_a_kernel_thread_serves_the_bridge(tmp_path) -> None:
    async def state_round_trip(kernel) -> object:
        scope = kernel.state.scope("user", "u1")
        await scope.set("k", {"v": 1})
        return await scope.get("k")

    with KernelThread({"plugins": {"autoload": False}}, data_dir=tmp_path, env={}) as kernel:
        bridge = Bridge(kernel)
        assert [bridge.call(state_round_trip(kernel)) for _ in range(3)] == [{"v": 1}] * 3
