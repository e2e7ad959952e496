"""The executor: ``submit(request) -> JobHandle`` over a fair bounded queue. Torch-free.

Two backends meet ``JobRuntime``: ``Runtime`` runs the engine on one engine thread in this
process; ``RedisRuntime`` (the ``redis`` package) feeds worker processes (one per GPU, on any
host) through Redis Streams.
"""

from __future__ import annotations

from .base import JobRuntime
from .handle import JobHandle, Update
from .redis import RedisRuntime
from .runtime import Runtime
from .supervisor import Supervisor

__all__ = ["JobHandle", "JobRuntime", "RedisRuntime", "Runtime", "Supervisor", "Update"]
