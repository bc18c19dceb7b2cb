"""What the framework adapters share: extras, the kernel's event loop, ids, plain JSON.

The LangGraph, Google ADK and OpenAI Agents SDK adapters are classes of those
frameworks that call llmspell's services. Three things come up in each of them:

* **The extra.** Each adapter package checks at import that its framework is installed
  (:func:`require`) and otherwise raises :class:`~llmspell.errors.MissingExtraError`
  with the exact ``pip install`` line. Nothing in llmspell imports an adapter.
* **The event loop.** llmspell's services belong to the event loop the kernel started
  on. A framework may call an adapter from that loop (the usual case: ``ainvoke``,
  ``Runner.run_async``), from another loop (ADK's synchronous ``Runner.run`` runs its
  own loop in a thread) or from plain synchronous code (``graph.invoke``).
  :class:`Bridge` runs the adapter's coroutines on the kernel's loop in every case, and
  :class:`KernelThread` starts a kernel on a loop of its own for synchronous programs.
* **Ids.** Frameworks allow any string as a thread or session id; an llmspell session id
  follows :func:`llmspell.plugins.sessions.api.check_session_id` (1 to 128 characters of
  ``A-Z a-z 0-9 . _ @ + = -``). :func:`session_id_for` keeps a
  valid id as it is and maps anything else to a stable hashed id.
"""

from __future__ import annotations

import _thread
import asyncio
import hashlib
import importlib.util
import math
import threading
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar, cast

from llmspell.errors import LlmspellError, MissingExtraError
from llmspell.plugins.sessions.api import is_session_id
from llmspell.services import StashKey

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = [
    "require",
    "Bridge",
    "KernelThread",
    "LOOP",
    "session_id_for",
    "valid_session_id",
    "is_plain_json",
]

T = TypeVar("T")

#: The event loop a kernel runs on, recorded by :class:`KernelThread` and :class:`Bridge`.
LOOP: StashKey[asyncio.AbstractEventLoop] = StashKey("interop.loop")

def require(extra: str, module: str, what: str) -> None:
    """Raise :class:`MissingExtraError` unless ``module`` can be imported."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingExtraError(what, extra, module.split(".")[0])


def valid_session_id(text: str) -> bool:
    """Whether ``text`` can be an llmspell session id as it is."""
    return is_session_id(text)


def session_id_for(name: str, *, prefix: str, parts: tuple[str, ...] = ()) -> str:
    """The llmspell session id of a framework's thread or session ``name``.

    Without ``parts`` a valid id is kept as it is, so ``kernel.sessions.get(thread_id)``
    finds a LangGraph thread. With ``parts`` (an ADK session id is only unique within
    its app and user) or for an id that is not valid, the result is ``prefix`` and a
    sha-256 of all of them: stable, and never longer than the limit.
    """
    if not parts and valid_session_id(name):
        return name
    digest = hashlib.sha256("\x00".join((*parts, name)).encode("utf-8", "surrogatepass")).hexdigest()
    return f"{prefix}-{digest[:40]}"


def is_plain_json(value: Any) -> bool:
    """Whether ``value`` is JSON data that comes back from JSON *exactly* as it is.

    Stricter than :func:`llmspell.serde.is_json`: tuples (which come back as lists) and
    subclasses of the JSON types (enums, named tuples, ``OrderedDict``) do not count,
    so a value that passes round-trips through orjson unchanged, type for type.
    """
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return -(2**63) <= value < 2**64
    if kind is float:
        return math.isfinite(value)
    if kind is dict:
        return all(type(k) is str and is_plain_json(v) for k, v in value.items())
    if kind is list:
        return all(is_plain_json(v) for v in value)
    return False


def wait_on(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` as a task on ``loop`` (running in another thread) and wait for its result.

    One hop each way and nothing else: the loop is woken once to start the task, and the
    task releases a lock the caller waits on as soon as ``coro`` returns or raises
    (``run_coroutine_threadsafe`` adds a ``concurrent.futures.Future``, its condition
    variable, two chained futures and a turn of the loop for their callbacks). When the
    wait is interrupted (Ctrl-C), the task is cancelled.
    """
    done = _thread.allocate_lock()
    done.acquire()
    outcome: list[Any] = []
    tasks: list[asyncio.Task[None]] = []

    async def run() -> None:
        try:
            outcome.append((True, await coro))
        except BaseException as exc:  # handed to the caller, who raises it
            outcome.append((False, exc))
        finally:
            done.release()

    stopped: list[bool] = []

    def start() -> None:
        if stopped:  # interrupted before it started
            coro.close()
        else:
            tasks.append(loop.create_task(run()))

    def stop() -> None:
        stopped.append(True)
        if tasks:
            tasks[0].cancel()

    try:
        loop.call_soon_threadsafe(start)
        done.acquire()
    except BaseException:  # interrupted, or the loop is closed
        try:
            loop.call_soon_threadsafe(stop)  # runs after start: the work stops either way
        except RuntimeError:  # the loop is closed: nothing was started
            coro.close()
        raise
    ok, value = outcome[0]
    if ok:
        return cast(T, value)
    raise value


class Bridge:
    """Runs coroutines on the event loop of the kernel whose services they use.

    ``loop`` defaults to the loop recorded for the kernel (by :class:`KernelThread`),
    else the loop running when the bridge is made (an adapter built in async code).
    """

    def __init__(self, kernel: Kernel, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.kernel = kernel
        if loop is None:
            loop = kernel.stash.get(LOOP, None)
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
        self.loop = loop
        if loop is not None and LOOP not in kernel.stash:
            kernel.stash[LOOP] = loop

    def _target(self) -> asyncio.AbstractEventLoop:
        if self.loop is None:
            raise LlmspellError(
                "this adapter was made outside an event loop and the kernel has no loop of its own: "
                "make it inside 'async with Kernel() as kernel:', or start the kernel with "
                "llmspell.contrib.KernelThread for synchronous code"
            )
        return self.loop

    def here(self) -> bool:
        """Whether the caller runs on the kernel's loop (then coroutines are awaited directly)."""
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the kernel's loop, from any loop."""
        loop = self._target()
        if asyncio.get_running_loop() is loop:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the kernel's loop from synchronous code and return its result."""
        loop = self._target()
        if self.here():
            coro.close()
            raise LlmspellError(
                "a synchronous method was called on the kernel's own event loop, where it would "
                "block the loop it waits for: use the async method (ainvoke, astream, aget_tuple ...)"
            )
        return wait_on(loop, coro)


class KernelThread:
    """A kernel running on an event loop in a background thread, for synchronous code.

    ``with KernelThread(data_dir="...") as kernel:`` starts ``Kernel(*args, **kwargs)``
    on its own loop and stops it on exit; adapters made with that kernel run their work
    there, so ``graph.invoke(...)`` or ``Runner.run(...)`` can be called from plain code.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = args
        self._kwargs = kwargs
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="llmspell-kernel", daemon=True)
        self.kernel: Kernel | None = None

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def _submit(self, coro: Coroutine[Any, Any, T]) -> T:
        return wait_on(self.loop, coro)

    def __enter__(self) -> Kernel:
        from llmspell import Kernel

        self._thread.start()

        async def start() -> Kernel:
            kernel = Kernel(*self._args, **self._kwargs)
            kernel.stash[LOOP] = self.loop
            return await kernel.start()

        try:
            self.kernel = self._submit(start())
        except BaseException:
            self._stop_loop()
            raise
        return self.kernel

    def __exit__(self, *exc: object) -> None:
        try:
            if self.kernel is not None:
                self._submit(self.kernel.stop())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()
