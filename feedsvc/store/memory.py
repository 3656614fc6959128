"""The in-process store: the default when no ``redis_url`` is configured (issue #2 item 5).

It keeps the same contract as :class:`~feedsvc.store.redis_store.RedisStore`, checked by
the same tests: same dedup, same ordering (ties broken by URL, as a Redis sorted set
does), same expiry rules. No method awaits between reading and writing its data, so on
one event loop every call is atomic and concurrent coroutines cannot interleave inside
one. Articles and fetch states are frozen dataclasses and pages are ``bytes``, so nothing
handed out can be mutated behind the store's back. Pages are kept compressed (they are
the bulk of the memory, issue #3 item 3).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from feedsvc import keys
from feedsvc.models import Article, FetchState
from feedsvc.store import article_expiry, codec

_V = TypeVar("_V")

# Expired entries are dropped lazily on read and by a sweep at most this often (seconds),
# so a long-running process does not grow without bound.
_SWEEP_EVERY = 60.0


@dataclass(slots=True)
class _Topic:
    entries: dict[str, float] = field(default_factory=dict)  # url -> published epoch
    seen: dict[str, float] = field(default_factory=dict)  # url -> first_seen epoch
    fingerprints: dict[str, str] = field(default_factory=dict)  # fingerprint -> url
    version: int = 0  # ms since the epoch of the last change (Store.topic_versions)

    def touch(self, now: float) -> None:
        self.version = max(int(now * 1000), self.version + 1)


def _live(table: dict[str, tuple[_V, float]], key: str, now: float) -> _V | None:
    """``table[key]``'s value unless it has expired (dropped then, like a Redis TTL)."""
    item = table.get(key)
    if item is None:
        return None
    if item[1] <= now:
        del table[key]
        return None
    return item[0]


class MemoryStore:
    """In-process :class:`~feedsvc.store.Store`; ``clock`` (epoch seconds) is for tests."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._articles: dict[str, tuple[Article, float]] = {}
        self._pages: dict[str, tuple[codec.PackedPage, float]] = {}
        self._states: dict[str, tuple[FetchState, float]] = {}
        self._claims: dict[str, tuple[str, float]] = {}
        self._topics: dict[str, _Topic] = {}
        self._next_sweep = 0.0

    async def ping(self) -> None:
        """Always reachable."""

    async def close(self) -> None:
        """Nothing to release; the data lives as long as the object."""

    # -- expiry -----------------------------------------------------------
    def _sweep(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + _SWEEP_EVERY
        for table in (self._articles, self._pages, self._states, self._claims):
            for key in [k for k, (_, exp) in table.items() if exp <= now]:
                del table[key]

    def _article(self, url: str, now: float) -> Article | None:
        return _live(self._articles, url, now)

    # -- articles ---------------------------------------------------------
    async def get_article(self, url: str) -> Article | None:
        """The stored article for ``url``, or None."""
        return self._article(url, self._clock())

    async def get_articles(self, urls: Sequence[str]) -> list[Article | None]:
        """See :meth:`feedsvc.store.Store.get_articles`."""
        now = self._clock()
        return [self._article(url, now) for url in urls]

    async def add_article(
        self, topic: str, article: Article, *, retention: float | None = None
    ) -> bool:
        """See :meth:`feedsvc.store.Store.add_article`."""
        codec.require_aware(article)
        now = self._clock()
        self._sweep(now)
        t = self._topics.setdefault(topic, _Topic())
        if article.url in t.entries or (
            article.fingerprint and article.fingerprint in t.fingerprints
        ):
            return False
        old = self._article(article.url, now)
        if old is not None:
            article = dataclasses.replace(article, first_seen=old.first_seen)
        expiry = article_expiry(article, retention, now)
        if old is not None:
            expiry = max(expiry, self._articles[article.url][1])
        self._articles[article.url] = (article, expiry)
        t.entries[article.url] = article.published.timestamp()
        t.seen[article.url] = article.first_seen.timestamp()
        if article.fingerprint:
            t.fingerprints[article.fingerprint] = article.url
        t.touch(self._clock())
        return True

    async def update_article(self, article: Article, topics: Sequence[str]) -> list[str]:
        """See :meth:`feedsvc.store.Store.update_article`."""
        codec.require_aware(article)
        now = self._clock()
        old = self._article(article.url, now)
        if old is None:
            return []
        article = dataclasses.replace(article, first_seen=old.first_seen)
        self._articles[article.url] = (article, self._articles[article.url][1])
        changed: list[str] = []
        for name in dict.fromkeys(topics):
            t = self._topics.get(name)
            if t is None or article.url not in t.entries:
                continue
            t.entries[article.url] = article.published.timestamp()
            if old.fingerprint != article.fingerprint:
                # the entry now stands for its new text, not the old one
                if old.fingerprint and t.fingerprints.get(old.fingerprint) == article.url:
                    del t.fingerprints[old.fingerprint]
                if article.fingerprint:
                    t.fingerprints.setdefault(article.fingerprint, article.url)
            t.touch(self._clock())
            changed.append(name)
        return changed

    async def topic_articles(self, topic: str, limit: int) -> list[Article]:
        """Newest first by published time (ties: URL descending, like ZREVRANGE)."""
        now = self._clock()
        out: list[Article] = []
        for url in await self.topic_urls(topic, limit):
            art = self._article(url, now)
            if art is not None:
                out.append(art)
        return out

    async def topic_urls(self, topic: str, limit: int) -> list[str]:
        """See :meth:`feedsvc.store.Store.topic_urls`."""
        t = self._topics.get(topic)
        if t is None or limit <= 0:
            return []
        order = sorted(t.entries.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
        return [url for url, _ in order[:limit]]

    async def topic_versions(self, topics: Sequence[str]) -> dict[str, int]:
        """Current version per topic (0 for a topic never written)."""
        return {name: (t.version if (t := self._topics.get(name)) else 0) for name in topics}

    async def prune(self, topic: str, *, seen_before: float, keep: int) -> int:
        """See :meth:`feedsvc.store.Store.prune`."""
        if keep < 0:
            raise ValueError("keep must be >= 0")
        self._sweep(self._clock())
        t = self._topics.get(topic)
        if t is None:
            return 0
        drop = {url for url, seen in t.seen.items() if seen < seen_before}
        rest = sorted(
            ((score, url) for url, score in t.entries.items() if url not in drop),
        )
        drop.update(url for _, url in rest[: max(0, len(rest) - keep)])
        if not drop:
            return 0
        for url in drop:
            t.entries.pop(url, None)
            t.seen.pop(url, None)
        t.fingerprints = {fp: u for fp, u in t.fingerprints.items() if u not in drop}
        # An article no topic lists any more is in no feed: it goes now, with its page,
        # not when its retention runs out (a busy source with a small max_entries kept a
        # retention's worth of them). One another topic still lists stays.
        for url in drop:
            if not any(url in other.entries for other in self._topics.values()):
                self._articles.pop(url, None)
                self._pages.pop(url, None)
        t.touch(self._clock())
        return len(drop)

    async def keep_articles(self, topic: str, retention: float) -> int:
        """See :meth:`feedsvc.store.Store.keep_articles`."""
        now = self._clock()
        t = self._topics.get(topic)
        extended = 0
        for url, first_seen in (t.seen.items() if t is not None else ()):
            item = self._articles.get(url)
            wanted = first_seen + retention + keys.ARTICLE_TTL_MARGIN
            if item is not None and now < item[1] < wanted:
                self._articles[url] = (item[0], wanted)
                extended += 1
        return extended

    # -- origin pages -----------------------------------------------------
    async def put_page(
        self, url: str, page: codec.PackedPage, *, ttl: float | None = None
    ) -> None:
        """See :meth:`feedsvc.store.Store.put_page`."""
        now = self._clock()
        self._sweep(now)
        ttl = keys.PAGE_TTL if ttl is None else ttl
        if ttl <= 0 or self._article(url, now) is None:
            self._pages.pop(url, None)
            return
        self._pages[url] = (page, now + ttl)

    async def replace_page(self, url: str, page: codec.PackedPage) -> None:
        """See :meth:`feedsvc.store.Store.replace_page`."""
        now = self._clock()
        if _live(self._pages, url, now) is not None:
            self._pages[url] = (page, self._pages[url][1])

    async def get_page(self, url: str) -> codec.PackedPage | None:
        """The stored page, or None (also for a page that continues a story its article
        no longer holds). Articles are kept decoded here, so the stream a chained page
        continues is made again from the article's story (~0.5 ms, once per
        re-extraction) rather than kept beside it: in a thread, since Brotli releases the
        GIL and a 1 MB story takes ~28 ms, which on this store's one event loop would hold
        up every feed request (issue #3 item 2)."""
        now = self._clock()
        page = _live(self._pages, url, now)
        if page is None or not page.chained:
            return page
        article = self._article(url, now)
        stream = None if article is None else await asyncio.to_thread(
            codec.content_stream, article.content_html)
        if stream is None or not page.continues(stream):
            return None  # its article holds another story now: as good as expired
        return dataclasses.replace(page, after=stream)

    # -- fetch state ------------------------------------------------------
    async def get_state(self, url: str) -> FetchState | None:
        """The stored fetch state, or None."""
        return self._state(url, self._clock())

    async def get_states(
        self, urls: Sequence[str], *, renew: bool = True,
    ) -> list[FetchState | None]:
        """See :meth:`feedsvc.store.Store.get_states` (each state found lives on)."""
        now = self._clock()
        found = [self._state(url, now) for url in urls]
        if not renew:
            return found
        for url, state in zip(urls, found, strict=True):
            if state is not None:
                self._states[url] = (state, now + keys.STATE_TTL)
        return found

    # -- polling ------------------------------------------------------------
    async def claim(self, name: str, owner: str, ttl: float) -> bool:
        """See :meth:`feedsvc.store.Store.claim` (in one process: the pipelines of a
        reload, or tests)."""
        now = self._clock()
        self._sweep(now)
        holder = _live(self._claims, name, now)
        if holder is not None and holder != owner:
            return False
        self._claims[name] = (owner, now + ttl)
        return True

    async def release(self, names: Sequence[str], owner: str) -> None:
        """See :meth:`feedsvc.store.Store.release`."""
        now = self._clock()
        for name in names:
            if _live(self._claims, name, now) == owner:
                del self._claims[name]

    def _state(self, url: str, now: float) -> FetchState | None:
        return _live(self._states, url, now)

    async def put_state(self, url: str, state: FetchState) -> None:
        """Keep the state for ``keys.STATE_TTL`` seconds."""
        now = self._clock()
        self._sweep(now)
        self._states[url] = (state, now + keys.STATE_TTL)

    async def update_state(
        self, url: str, change: Callable[[FetchState | None], FetchState]
    ) -> FetchState:
        """See :meth:`feedsvc.store.Store.update_state`: atomic here because nothing
        between the read and the write suspends."""
        now = self._clock()
        self._sweep(now)
        current = self._state(url, now)
        new = change(current)
        if new != current:
            self._states[url] = (new, now + keys.STATE_TTL)
        return new
