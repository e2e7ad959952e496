"""Both processes: background tasks that cannot die silently.

A supervised loop that raises is logged with its traceback and started again after a backoff that
doubles up to ``max_backoff_s`` (and starts over once a run lasted longer than that); meanwhile its
name is in ``unhealthy``, which the health endpoints report. One-shot tasks (a message to deliver)
are kept until done, and their failure is logged with its traceback instead of "Task exception
was never retrieved".
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["Supervisor"]

log = logging.getLogger(__name__)

LoopFactory = Callable[[], Coroutine[Any, Any, None]]


class Supervisor:
    """Runs named loops (restarted when they fail) and one-shot tasks, and stops them all on ``close``."""

    def __init__(self, owner: str, *, min_backoff_s: float = 0.1, max_backoff_s: float = 10.0) -> None:
        self._owner = owner
        self._min_backoff_s = min_backoff_s
        self._max_backoff_s = max_backoff_s
        self._tasks: set[asyncio.Task[None]] = set()
        self._failing: set[str] = set()
        self.restarts = 0
        self.is_closing = False

    @property
    def unhealthy(self) -> tuple[str, ...]:
        """The loops that failed and wait to be started again, by name."""
        return tuple(sorted(self._failing))

    def loop(self, name: str, factory: LoopFactory) -> None:
        """Run ``factory()`` until it returns; restart it (with backoff) each time it raises."""
        self._track(asyncio.create_task(self._keep(name, factory), name=f"{self._owner}:{name}"))

    def once(self, name: str, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run one coroutine in the background; a failure is logged with its traceback."""
        self._track(asyncio.create_task(self._run_once(name, coroutine), name=f"{self._owner}:{name}"))

    async def close(self, timeout: float) -> None:
        """Cancel every task and wait ``timeout`` seconds at most; a task that does not stop is left behind (logged)."""
        self.is_closing = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=timeout)
            for task in stuck:
                log.warning("task %s did not stop; left behind", task.get_name())

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _keep(self, name: str, factory: LoopFactory) -> None:
        backoff = self._min_backoff_s
        while not self.is_closing:
            began = time.monotonic()
            try:
                await factory()
                return
            except Exception:  # a cancelled loop raises CancelledError, which ends it here
                self._failing.add(name)
                self.restarts += 1
                if time.monotonic() - began > self._max_backoff_s:
                    backoff = self._min_backoff_s
                log.exception("%s: the %s loop failed; restarting it in %.1f s", self._owner, name, backoff)
                await asyncio.sleep(backoff)
                backoff = min(self._max_backoff_s, backoff * 2)
                self._failing.discard(name)

    async def _run_once(self, name: str, coroutine: Coroutine[Any, Any, None]) -> None:
        try:
            await coroutine
        except Exception:
            log.exception("%s: %s failed", self._owner, name)
