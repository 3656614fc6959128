"""Wiring: builds the aiohttp application and owns the lifetime of its parts.

Each long-lived part lives in a ``cleanup_ctx`` generator: set up before the server
accepts requests, torn down in reverse order at shutdown (aiohttp
``examples/background_tasks.py``). Tests start the app without the poller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from feedsvc.config import Settings
from feedsvc.cpu import CpuPool
from feedsvc.feeds import FeedCache
from feedsvc.fetch import Fetcher
from feedsvc.metrics import Metrics
from feedsvc.pipeline import Pipeline
from feedsvc.scheduler import Scheduler
from feedsvc.store import Store, create_store
from feedsvc.web import FEEDS, METRICS, SETTINGS, STORE, add_routes

log = logging.getLogger("feedsvc.app")

CPU = web.AppKey("cpu", CpuPool)
PIPELINE = web.AppKey("pipeline", Pipeline)


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    cpu: CpuPool | None = None,
    start_scheduler: bool = True,
    watch_interval: float = 1.0,
) -> web.Application:
    """The feedsvc application. A ``store`` or ``cpu`` passed in is not closed by the app."""
    app = web.Application()
    app[SETTINGS] = settings
    app[METRICS] = Metrics()

    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        own = store is None
        app[STORE] = store if store is not None else create_store(settings)
        yield
        if own:
            await app[STORE].close()

    async def cpu_ctx(app: web.Application) -> AsyncIterator[None]:
        own = cpu is None
        app[CPU] = cpu if cpu is not None else CpuPool(
            settings.extract_workers, sites_dir=settings.sites_dir,
            time_budget=settings.extract_timeout,
        )
        yield
        if own:
            await asyncio.get_running_loop().run_in_executor(None, app[CPU].close)

    async def feeds_ctx(app: web.Application) -> AsyncIterator[None]:
        cache = app[FEEDS] = FeedCache(settings, app[STORE], app[CPU])
        watcher = asyncio.create_task(cache.watch(watch_interval), name="feed version watcher")
        yield
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await cache.close()

    async def poller_ctx(app: web.Application) -> AsyncIterator[None]:
        async with Fetcher(
            user_agent=settings.user_agent,
            concurrency=settings.concurrency,
            per_host=settings.per_host,
        ) as fetcher:
            pipeline = Pipeline(
                settings, app[STORE], fetcher, app[CPU], on_change=app[FEEDS].invalidate,
                metrics=app[METRICS],
            )
            app[PIPELINE] = pipeline
            scheduler = Scheduler(settings.all_sources(), pipeline.poll, app[STORE])
            if start_scheduler:
                await scheduler.start()
            yield
            await scheduler.stop()

    app.cleanup_ctx.extend([store_ctx, cpu_ctx, feeds_ctx, poller_ctx])
    add_routes(app)
    return app
