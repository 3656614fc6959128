"""Wiring: builds the aiohttp application and owns the lifetime of its parts.

Each long-lived part lives in a ``cleanup_ctx`` generator: set up before the server
accepts requests, torn down in reverse order at shutdown (aiohttp
``examples/background_tasks.py``). Tests start the app without the poller.

What depends on the configuration (feed cache, pipeline, scheduler) sits in one
:class:`~feedsvc.live.Live` holder so a config reload (SIGHUP or a changed file, issue
#3 item 4) can swap it whole; the store, the CPU pool and the fetcher's connections
outlive reloads, so nothing stored is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import replace
from typing import Any

from aiohttp import web

from feedsvc.config import Settings, default_base_url, load_config
from feedsvc.cpu import CpuPool
from feedsvc.errors import ConfigError
from feedsvc.extractor import sites_stamp
from feedsvc.feeds import FeedCache
from feedsvc.fetch import Fetcher
from feedsvc.live import LIVE, Live
from feedsvc.metrics import MULTIPROC_ENV, Metrics
from feedsvc.pipeline import Pipeline, poller_id
from feedsvc.scheduler import Scheduler
from feedsvc.store import Store, create_store
from feedsvc.web import METRICS, STORE, add_routes, refresh_metrics

log = logging.getLogger("feedsvc.app")

CPU = web.AppKey("cpu", CpuPool)
# Rendering gets its own worker: queued behind a crawl's extractions in the main pool, a
# changed feed would wait seconds to be re-rendered (issue #3 item 2).
RENDER_CPU = web.AppKey("render_cpu", CpuPool)
# Under contention the serving loop comes first, then the renderer (a changed feed), then
# extraction (a crawl): Linux gives a task of nice 5 about a third of the CPU share of a
# nice-0 one (CFS weight 335 against 1024); extraction workers run in SCHED_IDLE too.
RENDER_NICENESS = 5
INGEST_NICENESS = 10
FETCHER = web.AppKey("fetcher", Fetcher)
# With several processes (multiprocess metrics), each one folds its counts and checks the
# store this often, since a scrape reaches only one of them (issue #3 item 5).
METRICS_INTERVAL = 2.0


class Runtime:
    """Builds, starts, stops and swaps the configuration-dependent parts."""

    def __init__(
        self,
        app: web.Application,
        *,
        poll: bool,
        watch_interval: float,
        serve: bool = True,
        prerender: bool = False,
    ) -> None:
        self.app = app
        self.poll = poll
        # The first requests after start-up would otherwise wait for the render worker
        # to start and render (~0.1-0.3 s: the largest latency in the ingest bench).
        self.prerender = prerender
        # A poll-only process (serve --workers N) renders nothing: the serving processes
        # see its changes through the store's topic versions.
        self.serve = serve
        self.watch_interval = watch_interval
        # One name in the store's poll claims for this process's life: a reload's new
        # pipeline keeps the claims the old one held.
        self.owner = poller_id()
        self._watcher: asyncio.Task[None] | None = None
        self._reextract: asyncio.Task[int] | None = None
        # One reload at a time: two at once (a double SIGHUP, or a SIGHUP while the file
        # watch sees the same edit) each stopped the same old scheduler and started
        # their own, leaving every source polled twice.
        self._reload_lock = asyncio.Lock()
        self.reloads = 0

    def build(self, settings: Settings) -> Live:
        app = self.app
        feeds = FeedCache(settings, app[STORE], app[RENDER_CPU])
        pipeline = Pipeline(
            settings, app[STORE], app[FETCHER], app[CPU],
            on_change=feeds.invalidate if self.serve else None, metrics=app[METRICS],
            owner=self.owner,
        )
        scheduler = Scheduler(settings.all_sources(), pipeline.poll, app[STORE])
        return Live(settings=settings, feeds=feeds, pipeline=pipeline, scheduler=scheduler)

    async def start(self, live: Live, *, resume: bool = False) -> None:
        if self.serve and self.prerender and not resume:
            await live.feeds.render_all()
        if self.serve:
            self._watcher = asyncio.create_task(
                live.feeds.watch(self.watch_interval), name="feed version watcher"
            )
        if self.poll:
            await live.scheduler.start()
            self.reextract(live)

    async def start_polling(self) -> None:
        """Start the scheduler of an app created without it. The command line calls this
        once the service is listening, so a service that cannot take its port exits
        without having polled anyone."""
        async with self._reload_lock:  # not halfway through a reload's swap
            if self.poll:
                return
            self.poll = True
            live = self.app[LIVE]
            await live.scheduler.start()
            self.reextract(live)

    def reextract(self, live: Live) -> None:
        """Re-extract, in the background, stored entries whose site rule changed."""
        if self._reextract is None or self._reextract.done():
            self._reextract = asyncio.create_task(
                live.pipeline.reextract_changed(), name="re-extract after rule change"
            )
            self._reextract.add_done_callback(_log_failure)

    async def stop(self, live: Live) -> None:
        await live.scheduler.stop()
        if self._reextract is not None:
            self._reextract.cancel()
            # Its failure was logged when it ended (_log_failure): a reload or a shutdown
            # must not stop halfway over it.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reextract
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await live.feeds.close()

    async def reload(self) -> bool:
        """Load the config file again; apply it if valid, else keep the old one.

        Returns True when the new configuration was applied.
        """
        async with self._reload_lock:
            return await self._reload()

    async def _reload(self) -> bool:
        live = self.app[LIVE]
        path = live.settings.path
        try:
            settings = await asyncio.get_running_loop().run_in_executor(None, load_config, path)
        except ConfigError as exc:
            log.error("config reload failed, keeping the running config: %s", exc)
            return False
        changed = [key for attr, key in RESTART_ONLY.items()
                   if getattr(settings, attr) != getattr(live.settings, attr)]
        for key in dict.fromkeys(changed):  # once each ("listen" is host and port)
            log.warning("config reload: %s changed; it takes effect after a restart", key)
        settings = _keep_running(settings, live.settings)
        await self.stop(live)
        new = self.build(settings)
        new.feeds.adopt(live.feeds)
        new.pipeline.adopt(live.pipeline)
        live.replace_with(new)
        # Sources polled moments ago are not polled again at once: their stored next due
        # time is honoured (Scheduler.start), unless their config changed.
        await self.start(live, resume=True)
        self.reloads += 1
        log.info("config reloaded from %s: %d topics, %d sources", path, len(settings.topics),
                 len(settings.all_sources()))
        return True


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s failed", task.get_name(), exc_info=task.exception())


RUNTIME = web.AppKey("runtime", Runtime)

# Settings read once at start-up (the store, the listening socket, the fetcher's
# session and limits, the CPU pools): a reload keeps the running values and says so.
RESTART_ONLY = {
    "redis_url": "service.redis_url",
    "listen_host": "service.listen",
    "listen_port": "service.listen",
    "user_agent": "service.user_agent",
    "concurrency": "defaults.concurrency",
    "per_host": "defaults.per_host",
    "extract_workers": "service.extract_workers",
    # The extractor reads these two, and it is rebuilt on reload; they stay restart-only
    # as they always were (the file watch follows the running rules directory).
    "extract_timeout": "service.extract_timeout",
    "sites_dir": "service.sites_dir",
    "log_format": "service.log_format",  # and --log-format wins over it anyway
}


def _keep_running(new: Settings, running: Settings) -> Settings:
    """``new`` with the running values of the settings read once at start-up
    (:data:`RESTART_ONLY`): the pools, the fetcher and the listening socket still use
    them, so the rest of the service must too (the file watch, the article workers sized
    by ``concurrency``), and a base_url the file derives from ``listen`` must not point
    feed links at a port only a restart would open. The restart-only check compares the
    file with these running values, so it warns again at each reload until a restart."""
    kept = replace(new, **{attr: getattr(running, attr) for attr in RESTART_ONLY})
    moved = (new.listen_host, new.listen_port) != (running.listen_host, running.listen_port)
    if moved and new.base_url == default_base_url(new.listen_host, new.listen_port):
        kept = replace(kept, base_url=default_base_url(running.listen_host, running.listen_port))
    return kept


def _stamp(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    cpu: CpuPool | None = None,
    start_scheduler: bool = True,
    watch_interval: float = 1.0,
    reload_signals: bool = False,
    config_watch_interval: float | None = None,
    on_sighup: Callable[[], None] | None = None,
    serve: bool = True,
    prerender: bool = False,
    extract_workers: int | None = None,
) -> web.Application:
    """The feedsvc application. A ``store`` or ``cpu`` passed in is not closed by the app.

    ``reload_signals`` reloads the config on SIGHUP; ``config_watch_interval`` (seconds)
    also reloads it when the file changes. ``prerender`` renders every feed during
    start-up, before the server accepts connections. ``extract_workers`` sizes the
    extraction pool instead of the config (a serving process beside a poller needs one).
    """
    app = web.Application()
    app[METRICS] = Metrics()
    runtime = app[RUNTIME] = Runtime(
        app, poll=start_scheduler, watch_interval=watch_interval, serve=serve,
        prerender=prerender,
    )

    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        own = store is None
        app[STORE] = store if store is not None else create_store(settings)
        yield
        if own:
            await app[STORE].close()

    async def cpu_ctx(app: web.Application) -> AsyncIterator[None]:
        if cpu is not None:
            app[CPU] = app[RENDER_CPU] = cpu
            yield
            return
        app[CPU] = CpuPool(
            extract_workers or settings.extract_workers, niceness=INGEST_NICENESS, idle=True,
        )
        # a poll-only process renders nothing: no render worker for it
        app[RENDER_CPU] = CpuPool(1, niceness=RENDER_NICENESS) if serve else app[CPU]
        yield
        loop = asyncio.get_running_loop()
        pools = {id(p): p for p in (app[CPU], app[RENDER_CPU])}.values()
        await asyncio.gather(*(loop.run_in_executor(None, p.close) for p in pools))

    async def live_ctx(app: web.Application) -> AsyncIterator[None]:
        async with Fetcher(
            user_agent=settings.user_agent,
            concurrency=settings.concurrency,
            per_host=settings.per_host,
        ) as fetcher:
            app[FETCHER] = fetcher
            live = app[LIVE] = runtime.build(settings)
            await runtime.start(live)
            yield
            await runtime.stop(live)
            # the running config's (a reload may have replaced the first)
            await app[LIVE].pipeline.release_claims()

    async def reload_ctx(app: web.Application) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        tasks: list[asyncio.Task[bool]] = []

        def on_hup() -> None:
            log.info("SIGHUP: reloading the config")
            if on_sighup is not None:
                on_sighup()
            tasks[:] = [t for t in tasks if not t.done()]
            tasks.append(loop.create_task(runtime.reload()))

        if reload_signals:
            loop.add_signal_handler(signal.SIGHUP, on_hup)
        watcher = None
        if config_watch_interval:
            watcher = loop.create_task(_watch_file(runtime, config_watch_interval))
        yield
        if reload_signals:
            loop.remove_signal_handler(signal.SIGHUP)
        for task in [*tasks, *([watcher] if watcher else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.cleanup_ctx.extend([store_ctx, cpu_ctx, live_ctx, reload_ctx])
    if os.environ.get(MULTIPROC_ENV):  # one process alone: /metrics folds and checks
        app.cleanup_ctx.append(background_ctx(_refresh_metrics))
    add_routes(app, settings.topics)
    return app


def background_ctx(
    run: Callable[[web.Application], Coroutine[Any, Any, None]],
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` running ``run(app)`` as a task while the app runs."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.get_running_loop().create_task(run(app))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return ctx


async def _refresh_metrics(app: web.Application) -> None:
    while True:
        await asyncio.sleep(METRICS_INTERVAL)
        await refresh_metrics(app)


async def _watch_file(runtime: Runtime, interval: float) -> None:
    """Reload when the config file changes; re-extract when a site rule file changes.
    Polling stat is enough here and works on bind mounts and network filesystems where
    inotify does not."""
    live = runtime.app[LIVE]
    last = _stamp(live.settings.path)
    last_sites = sites_stamp(live.settings.sites_dir)
    while True:
        await asyncio.sleep(interval)
        now = _stamp(live.settings.path)
        if now != last and now is not None:
            last = now
            log.info("%s changed: reloading the config", live.settings.path)
            await runtime.reload()
        sites = sites_stamp(live.settings.sites_dir)
        if sites != last_sites:
            last_sites = sites
            log.info("site rules in %s changed: re-extracting affected entries",
                     live.settings.sites_dir)
            if runtime.poll:
                runtime.reextract(live)
