"""JobRuntime: what the bot needs of an executor, met by the local ``Runtime`` and by ``RedisRuntime``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..limits import RequestLimits
    from ..metrics import RuntimeMetrics
    from ..request import JobRequest
    from .handle import JobHandle

__all__ = ["JobRuntime"]


class JobRuntime(Protocol):
    """``submit -> JobHandle``, the queries behind /queue, and the lifetime; see ``Runtime`` for each."""

    @property
    def limits(self) -> RequestLimits: ...

    async def start(self) -> None: ...

    async def close(self, *, cancel_running: bool | None = None) -> None: ...

    async def wait_dead(self) -> str: ...

    @property
    def is_dead(self) -> bool: ...

    @property
    def is_alive(self) -> bool: ...

    @property
    def unhealthy_tasks(self) -> tuple[str, ...]:
        """Background tasks or threads that died and are being restarted (empty when all is well), for ``/readyz``."""
        ...

    @property
    def queue_depth(self) -> int: ...

    def submit(self, request: JobRequest, *, job_id: str | None = None) -> JobHandle: ...

    def get(self, job_id: str) -> JobHandle | None: ...

    def forget_user(self, user_id: str) -> None: ...

    def jobs_of(self, user_id: str) -> list[JobHandle]: ...

    def queue_position(self, job_id: str) -> int: ...

    def metrics(self) -> RuntimeMetrics: ...
