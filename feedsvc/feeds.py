"""The rendered-feed cache: rendered Atom bytes (and their gzip form) per topic, in memory.

A feed request is answered from here with no store round-trip, no rendering and no
compression while nothing changed (issue #3 item 1). A topic is re-rendered once
after it changes: the pipeline in this process says so directly, and a watcher
polls the store's topic versions (one round-trip for all topics) to notice changes
made by other replicas sharing the same Redis.

Re-rendering after a change happens in the background while requests keep getting
the previous bytes (stale-while-revalidate, as RFC 5861 describes for caches), and a
burst of changes (a crawl storing fifty articles) is coalesced into one render, so
feed latency stays flat while the service ingests (issue #3 item 2). Renders of one
topic are also spaced out: a 50-entry full-text feed takes ~65 ms of CPU to render and
gzip, and a cold crawl changes its topic many times a second, so rendering after every
0.1 s burst kept half a core busy competing with the requests it was meant to serve.
Only a feed never rendered under the current configuration makes a request wait for
its render.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from feedsvc.config import Settings, TopicConfig
from feedsvc.cpu import CpuPool
from feedsvc.errors import StoreError
from feedsvc.render import EPOCH, FeedMeta, RenderedFeed, render_feed
from feedsvc.store import Store, changed_at

log = logging.getLogger("feedsvc.feeds")

# Between the starts of two background renders of one topic: at least MIN_RENDER_INTERVAL
# seconds, and at least RENDER_SPACING times the last render's duration, which keeps
# re-rendering a changing topic under ~1/RENDER_SPACING of a core however big its feed
# is. New articles still show within a second or two, far inside the time-to-appear
# target (poll interval + 5 s, issue #3 item 3).
MIN_RENDER_INTERVAL = 1.0
RENDER_SPACING = 10.0
# ...and never more than this, whatever a render costs, so a new entry still shows within
# the poll interval + 5 s (issue #3 item 3) on a slow machine with a huge feed.
MAX_RENDER_INTERVAL = 3.0


def _last_modified(changed: datetime | None, previous: RenderedFeed | None) -> datetime:
    """Last-Modified for a new rendering of a topic that changed at ``changed`` (by the
    store's clock, which replicas share; now when unknown), in whole seconds.

    Not the newest entry's date: a story dated earlier (a late find), a pruned entry or
    a new title change the feed without moving it, and a reader revalidating with
    If-Modified-Since would be told 304 and miss them. After ``previous`` where the
    clock allows, since two versions served with one date would make a reader holding
    the first miss the second (HTTP-date has one-second resolution; background renders
    are a second apart), but never later than now (RFC 9110 §8.8.2.1).

    That step uses this process's history: with several replicas, one that never served
    the earlier version dates the later one a second before another replica does. A
    reader revalidating with If-None-Match (the ETag, which replicas agree on) is not
    affected; one sending only If-Modified-Since, holding the earlier of two versions of
    one second, may be told 304 by it until the topic changes again. Distinct dates for
    every version would have to run ahead of the clock during a burst of changes.
    """
    now = datetime.now(UTC).replace(microsecond=0)
    modified = min((changed or now).replace(microsecond=0), now)
    if previous is not None and modified <= previous.last_modified:
        modified = max(modified, min(previous.last_modified + timedelta(seconds=1), now))
    return modified


# After the store failed a render, requests that have an older feed to fall back on
# get it for this long without trying the store again.
STORE_DOWN_GRACE = 1.0


class FeedCache:
    """Rendered feeds per topic, re-rendered only when their topic changes."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        cpu: CpuPool,
        *,
        debounce: float = 0.1,
        min_interval: float = MIN_RENDER_INTERVAL,
    ) -> None:
        self._settings = settings
        self._store = store
        self._cpu = cpu
        self._debounce = debounce
        self._min_interval = min_interval
        # topic -> (monotonic start, duration) of its last render
        self._last_render: dict[str, tuple[float, float]] = {}
        self._feeds: dict[str, RenderedFeed] = {}
        self._versions: dict[str, int] = {}
        self._dirty: set[str] = set(settings.topics)
        self._rendered: set[str] = set()  # rendered under this configuration
        self._locks = {name: asyncio.Lock() for name in settings.topics}
        self._background: dict[str, asyncio.Task[None]] = {}
        self._store_failed_at = float("-inf")  # monotonic time of the last failure
        self.hits = 0
        self._hits_reported = 0
        self.renders = 0
        self._renders_unreported: Counter[str] = Counter()

    def take_renders(self) -> dict[str, int]:
        """Renders per topic since the last call (for the metrics)."""
        taken = dict(self._renders_unreported)
        self._renders_unreported.clear()
        return taken

    def take_hits(self) -> int:
        """Cache hits since the last call (counted as a plain int on the hot path)."""
        new, self._hits_reported = self.hits - self._hits_reported, self.hits
        return new

    def meta(self, topic: TopicConfig) -> FeedMeta:
        base = self._settings.base_url
        return FeedMeta(
            topic=topic.name,
            title=topic.title,
            description=topic.description,
            self_url=f"{base}/feeds/{topic.name}.atom",
            home_url=f"{base}/",
        )

    def adopt(self, old: FeedCache) -> None:
        """Keep ``old``'s rendered feeds (of topics still configured) as the fallback
        served while the store is down: a config reload during a Redis outage must not
        turn every feed into a 503 (issue #3 item 4). They stay dirty, so they are
        re-rendered with the new config as soon as the store answers."""
        for topic, feed in old._feeds.items():
            if topic in self._locks:
                self._feeds[topic] = feed
        # counts not yet folded into the metrics would be lost with the old cache
        self.hits += old.take_hits()
        self._renders_unreported.update(old.take_renders())

    def invalidate(self, topic: str) -> None:
        """Mark ``topic`` changed and re-render it in the background."""
        if topic not in self._locks:
            return
        self._dirty.add(topic)
        self._schedule(topic)

    def _schedule(self, topic: str) -> None:
        if topic not in self._background:
            task = asyncio.get_running_loop().create_task(self._rerender(topic))
            self._background[topic] = task

    async def _rerender(self, topic: str) -> None:
        try:
            await asyncio.sleep(self._debounce)  # let a burst of changes land first
            while topic in self._dirty:
                await asyncio.sleep(self._render_wait(topic))
                await self.refresh(topic)
        except StoreError as exc:
            log.warning("feed %s not re-rendered, store unavailable: %s", topic, exc)
        except Exception:  # it stays dirty: the next request or version change retries
            log.exception("feed %s not re-rendered", topic)
        finally:
            self._background.pop(topic, None)

    async def render_all(self) -> None:
        """Render every topic now; with the store down, leave them to the first request."""
        for topic in self._locks:
            try:
                await self.refresh(topic)
            except StoreError as exc:
                log.warning("feeds not pre-rendered, store unavailable: %s", exc)
                return

    def _render_wait(self, topic: str) -> float:
        """Seconds until ``topic`` may be rendered again in the background."""
        last = self._last_render.get(topic)
        if last is None:
            return 0.0
        started, took = last
        spacing = min(max(self._min_interval, RENDER_SPACING * took), MAX_RENDER_INTERVAL)
        return max(0.0, started + spacing - time.monotonic())

    def current(self, topic: str) -> RenderedFeed | None:
        """The bytes to serve right now without waiting (None: ``get`` must render).

        Synchronous, so the hot path costs no coroutine."""
        feed = self._feeds.get(topic)
        if feed is not None and topic in self._rendered:
            if topic in self._dirty:
                self._schedule(topic)  # stale-while-revalidate
            self.hits += 1
            return feed
        return None

    async def get(self, topic: str) -> RenderedFeed | None:
        """The topic's rendered feed; None for an unknown topic.

        A changed topic is served its previous bytes while the new ones render.
        Raises StoreError only when the feed was never rendered and the store is down;
        otherwise a store outage serves the last good feed.
        """
        feed = self.current(topic)
        if feed is not None or topic not in self._locks:
            return feed
        feed = self._feeds.get(topic)
        if feed is not None and (
            self._locks[topic].locked()
            or time.monotonic() - self._store_failed_at < STORE_DOWN_GRACE
        ):
            # A feed from before a config reload is still there: serve it rather than
            # queue behind a render already under way, or try a store that just failed.
            # Otherwise, during an outage, each request waits out the store's timeout
            # in turn behind the per-topic lock.
            return feed
        try:
            return await self.refresh(topic)
        except StoreError:
            if feed is not None:
                return feed
            raise

    async def refresh(self, topic: str) -> RenderedFeed:
        """Render ``topic`` from the store now (single-flight per topic)."""
        async with self._locks[topic]:
            feed = self._feeds.get(topic)
            if feed is not None and topic not in self._dirty:
                return feed  # another request rendered it while we waited
            self._dirty.discard(topic)
            try:
                version = (await self._store.topic_versions([topic]))[topic]
                cfg = self._settings.topics[topic]
                articles = await self._store.topic_articles(topic, cfg.max_entries)
            except StoreError:
                self._dirty.add(topic)
                self._store_failed_at = time.monotonic()
                raise
            # Recorded before rendering, so the watcher does not take the version it
            # already sees for a new change while the render runs.
            previous = self._versions.get(topic)
            self._versions[topic] = version
            started = time.monotonic()
            old = self._feeds.get(topic)
            changed = changed_at(version)
            # A topic never changed, still empty, is dated "never" (EPOCH) in its
            # atom:updated and Last-Modified alike, as every replica renders it.
            modified = EPOCH if changed is None and not articles else _last_modified(changed, old)
            try:
                feed = await self._cpu.run(
                    render_feed, self.meta(cfg), articles, changed=changed, modified=modified,
                )
            except BaseException:
                # Not rendered (a worker that died twice, a bug, a cancelled task): the
                # topic stays dirty under its old version, or the previous bytes would
                # be served as current until the topic changed again. The next try is
                # spaced like any render (_render_wait), so a render that keeps failing
                # does not spin.
                self._dirty.add(topic)
                if previous is None:
                    self._versions.pop(topic, None)
                else:
                    self._versions[topic] = previous
                self._last_render[topic] = (started, time.monotonic() - started)
                raise
            if old is not None and feed.etag == old.etag:
                feed = old  # the same bytes: keep their validators (no needless 200s)
            elif feed.excerpted and (old is None or old.excerpted != feed.excerpted):
                log.info("feed %s: %d of %d entries carry an excerpt, not their story: "
                         "the feed has no room for more (limits.MAX_FEED_STORY_BYTES)",
                         topic, feed.excerpted, feed.entries)
            self._last_render[topic] = (started, time.monotonic() - started)
            self.renders += 1
            self._renders_unreported[topic] += 1
            self._rendered.add(topic)
            self._feeds[topic] = feed
            return feed

    async def watch(self, interval: float = 1.0) -> None:
        """Invalidate topics whose store version moved (changes by other replicas)."""
        names = list(self._locks)
        while True:
            await asyncio.sleep(interval)
            try:
                versions = await self._store.topic_versions(names)
            except StoreError:
                continue  # keep serving what we have; the outage shows on /readyz
            for name, version in versions.items():
                if name in self._versions and self._versions[name] != version:
                    self.invalidate(name)

    async def close(self) -> None:
        for task in list(self._background.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
