"""Both processes: background tasks that cannot die silently.

A supervised loop that raises is logged with its traceback and started again after a backoff that
doubles up to ``max_backoff_s`` (and starts over once a run lasted longer than that); meanwhile its
name is in ``unhealthy``, which the health endpoints report. With ``max_failures``, a supervisor
whose loops failed more often than that within ``failure_window_s`` gives up: the loop that failed
last is not restarted (it stays unhealthy) and ``on_give_up`` is told why in one line, so that its
process can exit instead of spinning. One-shot tasks (a message to deliver) are kept until done,
and their failure is logged with its traceback instead of "Task exception was never retrieved".
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["Supervisor"]

log = logging.getLogger(__name__)

LoopFactory = Callable[[], Coroutine[Any, Any, None]]


class Supervisor:
    """Runs named loops (restarted when they fail) and one-shot tasks, and stops them all on ``close``.

    Parameters
    ----------
    owner:
        Names the process or object in log lines and task names.
    min_backoff_s, max_backoff_s:
        The first wait before a restart, and the most it doubles to.
    max_failures:
        Give up once more loop failures than this fell within ``failure_window_s``; None never gives up.
    on_give_up:
        Called once, with one line saying why, when the supervisor gives up.
    clock:
        Monotonic seconds, for the backoff and the failure window.
    """

    def __init__(
        self,
        owner: str,
        *,
        min_backoff_s: float = 0.1,
        max_backoff_s: float = 10.0,
        max_failures: int | None = None,
        failure_window_s: float = 60.0,
        on_give_up: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._owner = owner
        self._min_backoff_s = min_backoff_s
        self._max_backoff_s = max_backoff_s
        self._max_failures = max_failures
        self._failure_window_s = failure_window_s
        self._on_give_up = on_give_up
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        self._failing: set[str] = set()
        self._failed_at: collections.deque[float] = collections.deque()
        self.restarts = 0
        self.is_closing = False
        #: Why the supervisor gave up (one line), or None while it keeps restarting.
        self.give_up_reason: str | None = None

    @property
    def unhealthy(self) -> tuple[str, ...]:
        """The loops that failed and wait to be started again (or were given up on), by name."""
        return tuple(sorted(self._failing))

    def loop(self, name: str, factory: LoopFactory) -> asyncio.Task[None]:
        """Run ``factory()`` until it returns; restart it (with backoff) each time it raises.

        Cancelling the returned task stops the loop for good.
        """
        return self._track(asyncio.create_task(self._keep(name, factory), name=f"{self._owner}:{name}"))

    def once(self, name: str, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run one coroutine in the background; a failure is logged with its traceback."""
        return self._track(asyncio.create_task(self._run_once(name, coroutine), name=f"{self._owner}:{name}"))

    async def close(self, timeout: float) -> None:
        """Cancel every task and wait ``timeout`` seconds at most; a task that does not stop is left behind (logged).

        A supervised task may call this itself: it is not cancelled nor waited for.
        """
        self.is_closing = True
        tasks = [task for task in self._tasks if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=timeout)
            for task in stuck:
                log.warning("task %s did not stop; left behind", task.get_name())

    def _track(self, task: asyncio.Task[None]) -> asyncio.Task[None]:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _keep(self, name: str, factory: LoopFactory) -> None:
        backoff = self._min_backoff_s
        while not self.is_closing:
            began = self._clock()
            try:
                await factory()
                return
            except Exception:  # a cancelled loop raises CancelledError, which ends it here
                self._failing.add(name)
                self.restarts += 1
                if self._is_over_budget(name):
                    log.exception("%s: the %s loop failed; giving up on it", self._owner, name)
                    self._give_up(name)
                    return
                if self._clock() - began > self._max_backoff_s:
                    backoff = self._min_backoff_s
                log.exception("%s: the %s loop failed; restarting it in %.1f s", self._owner, name, backoff)
            try:
                await asyncio.sleep(backoff)
            finally:
                self._failing.discard(name)
            backoff = min(self._max_backoff_s, backoff * 2)

    def _is_over_budget(self, name: str) -> bool:
        if self._max_failures is None:
            return False
        now = self._clock()
        self._failed_at.append(now)
        while self._failed_at and self._failed_at[0] < now - self._failure_window_s:
            self._failed_at.popleft()
        return len(self._failed_at) > self._max_failures

    def _give_up(self, name: str) -> None:
        if self.give_up_reason is not None:
            return
        self.give_up_reason = (
            f"{self._owner}: background loops failed {len(self._failed_at)} times within "
            f"{self._failure_window_s:.0f} s (the {name} loop last)"
        )
        log.critical("%s; giving up", self.give_up_reason)
        if self._on_give_up is not None:
            self._on_give_up(self.give_up_reason)

    async def _run_once(self, name: str, coroutine: Coroutine[Any, Any, None]) -> None:
        try:
            await coroutine
        except Exception:
            log.exception("%s: %s failed", self._owner, name)
