"""The live hub's life in one app worker: load, listen, refresh, stop (the app's lifespan)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from contextlib import suppress
from typing import Any

from sqlalchemy import Engine

from twin.live.feed import Feed
from twin.live.hub import Hub
from twin.settings import Settings

LOGGER = logging.getLogger(__name__)


class LiveService:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.settings = settings
        self.hub = Hub(engine, settings)
        self.feed: Feed | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Load the registry and latest values, then listen; the first subscription (and
        every later one) reloads everything, for what was published in between."""
        await self.hub.reload(everything=True)
        loop = asyncio.get_running_loop()
        self.feed = Feed(self.settings, loop, self.hub.feed, self._resubscribed)
        self.feed.start()
        self._spawn(self._refresh())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _resubscribed(self) -> None:
        self._spawn(self._reload(everything=True))

    async def _reload(self, *, everything: bool) -> None:
        try:
            await self.hub.reload(everything=everything)
        except Exception:  # the database is away: keep serving what is known, retry later
            LOGGER.exception("live hub: reloading from the database failed")

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self.settings.live_devices_seconds)
            await self._reload(everything=False)

    async def stop(self) -> None:
        if self.feed is not None:
            await asyncio.to_thread(self.feed.stop)
        for task in list(self._tasks):
            task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await task
        for session in list(self.hub.sessions):
            self.hub.close(session)
