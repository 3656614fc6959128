"""The store seam: one protocol, two implementations, one factory.

Code depends on :class:`Store`, never on ``redis.asyncio.Redis``. Both stores pass the
same contract tests (``tests/test_store_contract.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from feedsvc import keys
from feedsvc.models import Article, FetchState
from feedsvc.store.codec import PackedPage

if TYPE_CHECKING:
    from feedsvc.config import Settings


def article_expiry(article: Article, retention: float | None, now: float) -> float:
    """Epoch when a stored article may go: ``first_seen + retention + margin``.

    Retention counts from ``first_seen`` (issue #2 item 5), so the store needs the article
    no longer than that; the margin covers clock skew between replicas. An article whose
    retention has already run out (an old ``first_seen``) still lives one margin, so it
    is not gone before the next prune removes it from its topics.
    """
    keep = keys.DEFAULT_RETENTION if retention is None else retention
    return max(article.first_seen.timestamp() + keep, now) + keys.ARTICLE_TTL_MARGIN


@runtime_checkable
class Store(Protocol):
    """Where articles, pages and fetch state live. Every method may raise StoreError."""

    async def ping(self) -> None:
        """Raise StoreError when the backend is unreachable."""

    async def close(self) -> None: ...

    # -- articles ---------------------------------------------------------
    async def get_article(self, url: str) -> Article | None: ...

    async def get_articles(self, urls: Sequence[str]) -> list[Article | None]:
        """``get_article`` of each URL, in order, in a few round-trips: a poll of a
        thousand links must not wait for a thousand answers one after another."""

    async def add_article(
        self, topic: str, article: Article, *, retention: float | None = None
    ) -> bool:
        """Store ``article`` and index it under ``topic``.

        Returns False (and changes nothing in the topic) when the topic already holds
        this URL or another URL with the same ``fingerprint``. An article already
        stored keeps its ``first_seen``.

        ``retention`` (seconds, the topic's setting) bounds how long the stored article
        may outlive its ``first_seen``: it expires at ``first_seen + retention +
        keys.ARTICLE_TTL_MARGIN`` (never sooner than an earlier add set). Omitted, the
        default retention ``keys.DEFAULT_RETENTION`` applies. Datetimes must be
        timezone-aware (ValueError otherwise).
        """

    async def update_article(self, article: Article, topics: Sequence[str]) -> list[str]:
        """Replace the content of an already stored article (re-extraction after a site
        rule changed, issue #4 item 4), keeping its ``first_seen`` and expiry.

        Each topic in ``topics`` that holds the URL is re-ordered by the new ``published``
        and gets a new version; those topics are returned. A new ``fingerprint`` moves the
        entry in each topic's duplicate index: the old one is freed, the new one taken
        unless another entry holds it. Nothing is stored (and ``[]`` is returned) when the
        article is not stored.
        """

    async def topic_articles(self, topic: str, limit: int) -> list[Article]:
        """Newest first by published time."""

    async def topic_urls(self, topic: str, limit: int) -> list[str]:
        """The URLs of the topic's newest ``limit`` entries, in ``topic_articles``'s
        order, without reading the articles (``crawl --once`` tells which of its new
        entries the feed kept). An entry whose article expired before a prune removed it
        is listed, where ``topic_articles`` skips it."""

    async def topic_versions(self, topics: Sequence[str]) -> dict[str, int]:
        """For each topic a number that changes whenever its entries change (one round-trip:
        the web layer polls it to invalidate rendered feeds, issue #3 item 1): the time of
        the change in ms since the epoch by the store's clock (one clock for all replicas:
        they date a feed alike), strictly increasing; 0 for a topic never changed. See
        :func:`changed_at`."""

    async def prune(self, topic: str, *, seen_before: float, keep: int) -> int:
        """Drop entries first seen before ``seen_before`` (epoch) and all but the newest
        ``keep``; returns how many were dropped from the topic.

        A dropped article that no topic lists any more is deleted, with its page, at
        once: no feed shows it, and it would otherwise stay until its retention ran out
        (a busy source with a small ``max_entries`` kept a retention's worth). One that
        another topic lists stays, also when another replica enters it there while the
        prune runs. Its fetch state stays: the link is still known as entered, so its
        story is not taken back as new."""

    async def keep_articles(self, topic: str, retention: float) -> int:
        """Make each article indexed under ``topic`` live at least until its
        ``first_seen + retention + keys.ARTICLE_TTL_MARGIN``, never shortening one
        (another topic may need it longer); returns how many lives were extended. An
        article's expiry is set when it is added: after the topic's retention was
        raised, stored entries would otherwise vanish at the old one."""

    # -- origin pages -----------------------------------------------------
    async def put_page(self, url: str, page: PackedPage, *, ttl: float | None = None) -> None:
        """Keep an origin page for ``ttl`` seconds (default ``keys.PAGE_TTL``); 0 keeps
        none and forgets one kept before. None is kept for a URL whose article is not
        stored: a page is read only to re-extract its article, and one written just
        after a prune deleted the article (another poll of the topic, or another
        replica, pruned between the add and this call) would be kept for nothing."""

    async def replace_page(self, url: str, page: PackedPage) -> None:
        """Replace the page kept for ``url``, keeping its expiry; nothing when none is
        kept (it expired, or ``page_retention`` is 0). A re-extraction keeps its page
        this way as the continuation of the story it now stored, so the next rule change
        can re-extract it again, within the page's first ``page_retention``."""

    async def get_page(self, url: str) -> PackedPage | None:
        """The page kept for ``url``. A page packed with :meth:`PackedPage.pack_after`
        continues the story of the article stored under the same URL: it is returned
        (ready to unpack) only while that article still holds that story, and is None,
        as if expired, once the article was rewritten with another."""

    # -- polling ------------------------------------------------------------
    async def claim(self, name: str, owner: str, ttl: float) -> bool:
        """Take the claim ``name`` for ``owner`` for ``ttl`` seconds, or renew it if
        ``owner`` holds it; False while another owner does. Replicas sharing a store
        claim each source before a scheduled poll, so one of them polls it per round
        and an origin is not asked twice as often (operator review, session 6)."""

    async def release(self, names: Sequence[str], owner: str) -> None:
        """End each claim of ``names`` that ``owner`` holds."""

    # -- fetch state ------------------------------------------------------
    async def get_state(self, url: str) -> FetchState | None: ...

    async def get_states(
        self, urls: Sequence[str], *, renew: bool = True,
    ) -> list[FetchState | None]:
        """``get_state`` of each URL, in order, in a few round-trips; with ``renew``,
        each state found lives another ``keys.STATE_TTL`` from now. A poll reads the
        states of the links its source lists: a story listed for months is remembered as
        entered (its article and entry long gone), not taken back as new when its state
        would expire. Readers that only show states (``/``, ``/metrics``) pass
        ``renew=False``: renewing is a write, which a Redis with AOF logs and replicates
        at every scrape."""

    async def put_state(self, url: str, state: FetchState) -> None: ...

    async def update_state(
        self, url: str, change: Callable[[FetchState | None], FetchState]
    ) -> FetchState:
        """Replace the stored state ``s`` with ``change(s)`` (``s`` None when there is
        none) as one atomic step, and return what is stored now.

        No other writer's change made between the read and the write is lost: two polls
        entering one link into two topics at once both keep their topic, on one process
        or across replicas. ``change`` must be pure: it may run more than once (Redis
        retries it when another writer got there first). Nothing is written when it
        returns the state unchanged."""


# Versions below this (2001-09-09 in ms) are change counters written by earlier versions
# of feedsvc, which say nothing about when the topic changed.
_FIRST_TIME_VERSION = 10**12


def changed_at(version: int) -> datetime | None:
    """When a topic changed, from its version; None when the version does not say."""
    if version < _FIRST_TIME_VERSION:
        return None
    return datetime.fromtimestamp(version / 1000, UTC)


def create_store(settings: Settings) -> Store:
    """The Redis store when ``redis_url`` is set, else the in-process store."""
    if settings.redis_url:
        from feedsvc.store.redis_store import RedisStore

        return RedisStore.from_url(settings.redis_url)
    from feedsvc.store.memory import MemoryStore

    return MemoryStore()
