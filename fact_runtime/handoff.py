"""The one path from the worker thread to the event loop: callbacks run on the loop, never on the worker."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import Callable, Iterable

from .errors import FactError
from .jobs import JobHandle
from .request import JobResult, Progress

__all__ = ["LoopHandoff"]

log = logging.getLogger(__name__)


class LoopHandoff:
    """Hands progress and outcomes to JobHandles on their event loop, from any thread."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        # Stamps order progress snapshots sent from both threads; see JobHandle._put_progress.
        self._stamps = itertools.count()

    def bind(self) -> asyncio.AbstractEventLoop:
        """Remember the running loop (the first caller's); every later caller must be on it."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop, self._loop_thread = loop, threading.get_ident()
        elif loop is not self._loop:
            raise RuntimeError("the runtime is bound to another event loop")
        return loop

    def progress(self, handle: JobHandle, progress: Progress) -> None:
        self._call(handle._put_progress, progress, next(self._stamps))

    def progress_many(self, updates: Iterable[tuple[JobHandle, Progress]]) -> None:
        """Send many snapshots in one callback: one wake-up of the loop, not one per job."""
        stamped = [(handle, progress, next(self._stamps)) for handle, progress in updates]
        if stamped:
            self._call(_put_all, stamped)

    def resolve(self, handle: JobHandle, result: JobResult | None, error: FactError | None, final: Progress) -> None:
        self._call(handle._resolve, result, error, final)

    def settle(self, future: asyncio.Future[None] | None, error: BaseException | None = None) -> None:
        """Complete a loop future (start's readiness, the worker's exit) from the worker."""
        if future is not None:
            self._call(_settle, future, error)

    def _call(self, callback: Callable[..., None], *args: object) -> None:
        if self._loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            callback(*args)
            return
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            log.debug("event loop closed; dropped %s", getattr(callback, "__name__", callback))


def _put_all(updates: list[tuple[JobHandle, Progress, int]]) -> None:
    for handle, progress, stamp in updates:
        handle._put_progress(progress, stamp)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
