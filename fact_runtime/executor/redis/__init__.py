"""The Redis backend: ``RedisRuntime`` in the bot process, ``WorkerProcess`` in each worker process.

Each module says in its first line which process runs it: the bot process (``runtime``,
``dispatcher``, ``connection``, ``inbox``, ``inflight``, ``events``, ``fleet``), the worker
process (``worker``, ``claims``, ``scripts``, ``health``) or both (``keys``, ``streams``,
``codec``, ``values``).
"""

from __future__ import annotations

from .runtime import RedisRuntime
from .worker import WorkerOptions, WorkerProcess

__all__ = ["RedisRuntime", "WorkerOptions", "WorkerProcess"]
