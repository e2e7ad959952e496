"""Bot process: the bot's connection to Redis, whether it is up, and how its loops wait for it.

Every loop over it survives Redis going away: a failed command marks the connection down (the
runtime then refuses new jobs, accepted ones wait in the fair queue) and the dispatcher's keeper
loop reconnects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ...config import BrokerConfig
from ...errors import ConfigError
from .streams import check_cancelled, connect, shown_url

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["BrokerConnection"]

log = logging.getLogger(__name__)


class BrokerConnection:
    """One client, its up/down state, and the outage told once per outage."""

    def __init__(self, url: str, config: BrokerConfig, *, on_lost: Callable[[], None]) -> None:
        self._url = url
        self.shown_url = shown_url(url)
        self.config = config
        self._on_lost = on_lost
        self._client: aioredis.Redis | None = None
        self.is_connected = False
        self._is_outage_told = False
        self._connected = asyncio.Event()
        #: A blocking read waits this long at most, so the loops notice changes.
        self.block_ms = max(1, int(config.heartbeat_s * 1000))

    @property
    def client(self) -> aioredis.Redis:
        assert self._client is not None, "the connection is not open"
        return self._client

    def open(self) -> None:
        """Build the client (it connects on first use).

        Raises
        ------
        ConfigError
            The URL is not a Redis URL.
        """
        try:
            self._client = connect(self._url, self.config)
        except ValueError as exc:
            raise ConfigError(f"runtime.redis_url: {exc}") from exc

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    def up(self) -> None:
        """Redis answered and the bot's state is reconciled with it."""
        self.is_connected = True
        self._is_outage_told = False
        self._connected.set()

    def lost(self, exc: BaseException) -> None:
        """Redis stopped answering: refuse new jobs until the next reconnection."""
        check_cancelled()
        if not self._is_outage_told:
            self._is_outage_told = True
            log.warning(
                "Redis at %s is unreachable (%s): new jobs are refused, accepted ones wait", self.shown_url, exc
            )
        self.is_connected = False
        self._connected.clear()
        self._on_lost()
