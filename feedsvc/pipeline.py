"""The orchestrator: the one place that knows the order of the stages.

fetch source -> discover links -> skip links already entered (or enter stored stories)
-> fetch articles -> extract (in the CPU pool) -> store -> prune. Each stage raises its
own named errors; they are caught here per source (and per article), recorded in the
fetch state, and never stop another source (Miniflux's
``internal/reader/handler/handler.go`` plays this part there).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

from feedsvc.config import Settings, SourceConfig, TopicConfig
from feedsvc.cpu import CpuPool
from feedsvc.discover import discover_feed, discover_index
from feedsvc.errors import (
    DiscoverError,
    ExtractError,
    FeedsvcError,
    FetchError,
    HTTPStatusError,
    StoreError,
)
from feedsvc.extract import canonical_url, join_pages
from feedsvc.extract.urls import same_site
from feedsvc.extractor import Extraction, Extractor, create_extractor, relink_in_worker
from feedsvc.fetch import Fetcher
from feedsvc.limits import (
    MAX_STORY_BYTES,
    bounded_article,
    cut_story,
    long_url,
    story_bytes,
    story_note,
)
from feedsvc.metrics import Metrics
from feedsvc.models import Article, ExtractedArticle, FetchResult, FetchState, LinkHint
from feedsvc.redact import host_label, redact_url, without_userinfo
from feedsvc.scheduler import next_after_failure, next_after_success
from feedsvc.store import Store, article_expiry
from feedsvc.store.codec import PackedPage

log = logging.getLogger("feedsvc.pipeline")

# Multi-page articles (FiveFilters next_page_link) are joined up to this many pages.
MAX_PAGES = 5
# When the store is down, fetched articles wait here (per topic) instead of being
# dropped; beyond this many the oldest are dropped and will be fetched again later.
MAX_PENDING = 1000
# Failed article links remembered per source for retry while the source answers 304.
MAX_RETRY_LINKS = 100
# Retry soon when only the store failed: the origin did nothing wrong.
STORE_RETRY = 15.0
# A claim on a source's poll (see Pipeline.poll) lasts at least this share of its
# interval while the poll runs, and ends this many seconds before its next poll is due,
# so the next round finds it free whatever the timers' drift.
CLAIM_SHARE = 0.9
CLAIM_EARLY = 1.0


def poller_id() -> str:
    """A name for this process in the store's claims: unique across hosts and restarts."""
    return f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"

# "elsewhere": another replica sharing the store polls the source this round.
Outcome = Literal["new", "unchanged", "failed", "elsewhere"]


@dataclass(frozen=True, slots=True)
class SourceReport:
    """What one poll of one source did."""

    topic: str
    url: str
    outcome: Outcome
    failed_articles: int = 0
    error: str | None = None
    next_due: float = 0.0
    # Article links the source listed (after links/follow), when it was read in full;
    # None after a 304 or a failure. 0 says the config matches nothing on it.
    links: int | None = None
    # The URLs of the new entries: a prune (max_entries) may drop some of them at once,
    # which crawl --once says (it reads which ones the feed kept).
    entered: tuple[str, ...] = ()

    @property
    def new(self) -> int:
        """How many entries the poll added to its topic."""
        return len(self.entered)


def _source_says_changed(hint: LinkHint, stored: Article) -> bool:
    """The feed dates the item later than the stored version (a minute of slack for
    clock and rounding differences)."""
    if hint.updated is None:
        return False
    have = stored.updated or stored.published
    return (hint.updated - have).total_seconds() > 60


def _latest(*dates: datetime | None) -> datetime | None:
    known = [d for d in dates if d is not None]
    return max(known) if known else None


def _not_after(date: datetime | None, now: datetime) -> datetime | None:
    """A page's (or feed's) date, but never later than ``now``, when we found the story:
    a later one is wrong (a time zone mix-up, a typo in the year) and would pin the
    story to the top of the feed, and the feed's atom:updated ahead of the clock."""
    return None if date is None else min(date, now)


def _failed(state: FetchState, exc: FeedsvcError, now: float, interval: float) -> FetchState:
    """``state`` after one more failure: counted, explained, and backed off (never
    sooner than the origin's Retry-After)."""
    errors = state.error_count + 1
    http = exc if isinstance(exc, HTTPStatusError) else None
    retry_after = exc.retry_after if isinstance(exc, FetchError) else None
    return replace(
        state,
        error_count=errors,
        last_error=str(exc),
        last_status=http.status if http else state.last_status,
        last_fetched=now,
        next_due=next_after_failure(now, interval, errors, retry_after),
    )


def _trusted_canonical(canonical: str | None, page_url: str, source_url: str) -> bool:
    """Whether a page's rel=canonical (or og:url), or where its link redirected, given in
    its canonical form (feedsvc.extract.canonical_url), names its story's one URL: only
    on the page's own site (issue #4 item 6), and not the site's home page or the index
    the link was found on, which a misconfigured CMS gives every page; trusted, that
    would make all of them one entry. Nor one longer than any link discovery takes
    (feedsvc.limits.MAX_URL): it would be the entry's id and a store key, in that form,
    which is why the length is judged in it."""
    if not canonical or long_url(canonical) or not same_site(canonical, page_url):
        return False
    parts = urlsplit(canonical)
    if parts.path in ("", "/") and not parts.query:  # "/?p=123" is a WordPress post
        return False
    return canonical != canonical_url(source_url)


@dataclass(slots=True)
class _Loaded:
    """A fetched and extracted article, and its page to keep once the story is entered
    into a topic (None: kept already, or not to keep)."""

    article: Article
    page: PackedPage | None


class _SharedLoad:
    """One article load awaited by every poll that wants it; cancelled when the last of
    them stops waiting (its poll was cancelled), so no load outlives all its polls."""

    def __init__(self, task: asyncio.Task[_Loaded | None]) -> None:
        self.task = task
        self.waiters = 0
        self.abandoned = False  # cancelled for want of waiters: a new poll starts afresh

    async def wait(self) -> _Loaded | None:
        self.waiters += 1
        try:
            # shielded: one waiter's cancellation must not cancel the others' load
            return await asyncio.shield(self.task)
        finally:
            self.waiters -= 1
            if not self.waiters and not self.task.done():
                self.abandoned = True
                self.task.cancel()


class Pipeline:
    """Polls sources and stores what they yield. ``on_change(topic)`` fires after a
    topic's entries changed, so the web layer can re-render without polling."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        fetcher: Fetcher,
        cpu: CpuPool,
        *,
        extractor: Extractor | None = None,
        on_change: Callable[[str], None] | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
        owner: str | None = None,
    ) -> None:
        """``cpu`` runs discovery; ``extractor`` (default: :func:`create_extractor` on
        the same pool) turns pages into stories. ``owner`` names this poller in the
        store's claims (see :meth:`poll`); give every pipeline of one process
        the same, so a reload keeps the claims it held."""
        self.settings = settings
        self.store = store
        self.fetcher = fetcher
        self.cpu = cpu
        self.extractor = extractor or create_extractor(settings, cpu)
        self.on_change = on_change
        self.metrics = metrics
        self.clock = clock
        self.owner = owner or poller_id()
        self._lives_kept: set[str] = set()  # topics whose articles keep_articles has seen
        # Hosts fetched on non-public addresses only if the config names them: a feed's
        # link or an origin's redirect to 169.254.169.254 or 127.0.0.1:6379 would
        # otherwise be fetched and its answer published (security review, session 6).
        self._private_ok = settings.named_hosts()
        self.reports: dict[str, SourceReport] = {}  # last report per source URL
        self._pending: dict[str, list[Article]] = {}
        self._article_workers = settings.concurrency * 4
        self._inflight: dict[str, _SharedLoad] = {}

    # -- public -------------------------------------------------------------
    def adopt(self, old: Pipeline) -> None:
        """Take over what ``old`` (the pipeline of the config before a reload) still
        holds: articles waiting for the store, and the last report per source."""
        for topic, articles in old._pending.items():
            if topic in self.settings.topics:
                self._pending.setdefault(topic, []).extend(articles)
        keys = {s.state_key for s in self.settings.all_sources()}
        self.reports.update((k, r) for k, r in old.reports.items() if k in keys)

    async def poll(self, source: SourceConfig) -> float:
        """Scheduler entry point: refresh ``source``, return when it is next due.

        Replicas sharing a store schedule the same sources at the same stored due times:
        one of them polls a source per round, the others pass. Each claims the source in
        the store first, for as long as a poll of it can take; the one that polled then
        holds the claim until just before the source is next due (a backoff's retry
        included), and lets it go at shutdown. The claim is named with the discovery
        config, so a source whose config a reload changed is polled at once."""
        now = self.clock()
        name = self._claim_name(source)
        try:
            mine = await self.store.claim(name, self.owner, ttl=self._poll_bound(source))
            state = None if mine else await self.store.get_state(source.state_key)
        except StoreError as exc:
            return self._record(source, "failed", error=f"store unavailable: {exc}",
                                next_due=now + STORE_RETRY).next_due
        if not mine:
            # Polled elsewhere: due when its poller said (it may be polling right now and
            # not have said yet: then one interval on).
            due = state.next_due if state and state.next_due > now + 1 else now + source.poll_interval
            self.reports[source.state_key] = SourceReport(
                topic=source.topic, url=source.url, outcome="elsewhere", next_due=due)
            return due  # not a failure: no metric moves
        report = await self.refresh_source(source, honour_backoff=True)
        with contextlib.suppress(StoreError):  # it expires anyway
            await self.store.claim(name, self.owner,
                                   ttl=max(report.next_due - self.clock() - CLAIM_EARLY, 1.0))
        return report.next_due

    def _claim_name(self, source: SourceConfig) -> str:
        return f"{source.state_key}#{source.discovery_key()}"

    def _poll_bound(self, source: SourceConfig) -> float:
        """How long a poll of ``source`` may take: its page, then every article a slot of
        its host at a time, each within the source's timeout (or its interval, if
        longer): no other replica polls it meanwhile."""
        rounds = 2 + -(-source.max_articles // self.settings.per_host)
        return max(CLAIM_SHARE * source.poll_interval, source.timeout * rounds)

    async def release_claims(self) -> None:
        """Let go of this process's claims (at shutdown): a replica, or this service
        restarted with another interval, polls them when due, not when they expire."""
        with contextlib.suppress(StoreError):  # they expire anyway
            await self.store.release(
                [self._claim_name(s) for s in self.settings.all_sources()], self.owner)

    async def refresh_all(
        self,
        topics: Sequence[str] | None = None,
        progress: Callable[[SourceReport], None] | None = None,
    ) -> list[SourceReport]:
        """Poll every source (of ``topics``) once, concurrently (``crawl --once``)."""
        sources = [
            s for t in self.settings.topics.values() if topics is None or t.name in topics
            for s in t.sources
        ]

        async def one(source: SourceConfig) -> SourceReport:
            try:
                report = await self.refresh_source(source)
            except Exception as exc:  # a bug in one source's poll must not end the crawl
                log.exception("poll of %s crashed", source.name)
                report = self._record(source, "failed", error=f"internal error: {exc!r}",
                                      next_due=self.clock() + source.poll_interval)
            if progress is not None:
                progress(report)
            return report

        return list(await asyncio.gather(*(one(s) for s in sources)))

    async def refresh_source(
        self, source: SourceConfig, *, honour_backoff: bool = False
    ) -> SourceReport:
        """Poll one source end to end. Never raises for a source's own failure.

        ``honour_backoff`` (the scheduler's polls) skips a failing source whose stored
        backoff or Retry-After window is still open; ``crawl --once``, asked for by
        hand, polls it anyway.
        """
        now = self.clock()
        topic = self.settings.topics[source.topic]
        try:
            await self._flush_pending(topic.name)
            state = await self.store.get_state(source.state_key) or FetchState()
        except StoreError as exc:
            return self._record(source, "failed", error=f"store unavailable: {exc}",
                                next_due=now + STORE_RETRY)
        backoff = state
        if honour_backoff and not state.error_count and source.state_key != source.url:
            # A URL polled by two sources keeps a state per source: when a reload made it
            # shared, the backoff the origin asked for sits under the URL's own key.
            try:
                backoff = await self.store.get_state(source.url) or state
            except StoreError:
                backoff = state
        if honour_backoff and backoff.error_count and backoff.next_due > now:
            # The scheduler delays such a source at start, but only if it could read
            # the state then: started while the store was down (a host rebooting, Redis
            # still loading its AOF), it polls every source once the store answers,
            # which must not break an origin's Retry-After (RFC 9110 §10.2.3).
            await self._prune_after_failure(topic, now)
            return self._record(source, "failed", error=f"backing off: {backoff.last_error}",
                                next_due=backoff.next_due)
        # Validators stored under another config (topic renamed, filter changed) would
        # get a 304 for links this config has never entered: fetch in full once.
        valid = state if state.discovery == source.discovery_key() else FetchState()
        try:
            result = await self._fetch(
                source.url, source, etag=valid.etag, last_modified=valid.last_modified
            )
            listed = None
            if result.not_modified:
                # Nothing to parse; only links that failed last time are tried again.
                links = list(state.retry)
            else:
                links = await self._discover(source, result)
                listed = len(links)
            entered, failed = await self._ingest(topic, source, links)
            new_state = replace(self._ok_state(state, result, source, now),
                                retry=tuple(failed[:MAX_RETRY_LINKS]))
            await self.store.put_state(source.state_key, new_state)
        except StoreError as exc:
            # The origin answered; only our store failed. Keep the old validators so the
            # next poll fetches again rather than seeing a 304 for unsaved work.
            log.warning("source %s: store unavailable: %s", source.name, exc)
            return self._record(source, "failed", error=f"store unavailable: {exc}",
                                next_due=now + STORE_RETRY)
        except FeedsvcError as exc:
            report = await self._fail(source, state, exc, now)
            await self._prune_after_failure(topic, now)
            return report
        outcome: Outcome = "new" if entered else "unchanged"
        return self._record(source, outcome, failed_articles=len(failed),
                            next_due=new_state.next_due, links=listed, entered=tuple(entered))

    # -- stages ---------------------------------------------------------------
    async def _discover(self, source: SourceConfig, result: FetchResult) -> list[LinkHint]:
        assert result.body is not None
        ctype = result.headers.get("Content-Type")
        # Links resolve without the source URL's credentials: the Fetcher sends them to
        # that origin anyway, and readers must never see them.
        base = without_userinfo(result.url)
        try:
            if source.kind == "feed":
                return await self.cpu.run(
                    discover_feed, result.body, base, ctype,
                    follow=source.follow, limit=source.max_articles,
                    time_budget=self.settings.extract_timeout,
                )
            return await self.cpu.run(
                discover_index, result.body, base, ctype,
                links=source.links, follow=source.follow, allow_hosts=source.allow_hosts,
                limit=source.max_articles, time_budget=self.settings.extract_timeout,
            )
        except BrokenProcessPool:
            # the worker died on this page, and its replacement too (CpuPool.run):
            # the source's failure, backed off like any other
            raise DiscoverError(f"{redact_url(result.url)}: the parser's process crashed "
                                "on this page") from None

    async def _ingest(
        self, topic: TopicConfig, source: SourceConfig, links: Sequence[LinkHint]
    ) -> tuple[list[str], list[LinkHint]]:
        """Store the articles behind ``links`` that the topic lacks; returns the URLs of
        the new entries and the links that failed."""
        now = self.clock()
        found = datetime.fromtimestamp(now, UTC)
        todo: list[tuple[str, LinkHint]] = []
        seen: set[str] = set()
        for hint in links:
            hint = replace(hint, published=_not_after(hint.published, found),
                           updated=_not_after(hint.updated, found))
            url = canonical_url(hint.url)
            if url not in seen:
                seen.add(url)
                todo.append((url, hint))
        entered: list[str] = []
        fetch_list: list[tuple[str, LinkHint]] = []
        refresh_list: list[tuple[Article, LinkHint]] = []
        # Batch reads: a first poll of a thousand links costs a few round-trips, not two
        # thousand sequential ones (each slowed by the feed requests sharing the loop).
        states = await self.store.get_states([url for url, _ in todo])
        stored_urls = [(state.canonical if state else None) or url
                       for (url, _), state in zip(todo, states, strict=True)]
        # A stored article is needed unless the link was entered here before and its
        # feed gives no date to compare.
        wanted = list(dict.fromkeys(
            stored_url for (_, hint), state, stored_url in zip(todo, states, stored_urls, strict=True)
            if not (state is not None and topic.name in state.topics and hint.updated is None)
        ))
        articles = dict(zip(wanted, await self.store.get_articles(wanted), strict=True))
        for i, ((url, hint), state, stored_url) in enumerate(
            zip(todo, states, stored_urls, strict=True)
        ):
            if i % 64 == 63:
                # The in-process store answers without ever suspending: on a feed of a
                # thousand links this loop would hold the event loop for tens of ms.
                await asyncio.sleep(0)
            stored = articles.get(stored_url)
            if state is not None and topic.name in state.topics:
                # Entered before (maybe pruned since): not again, unless its feed says
                # the story changed.
                if stored is not None and _source_says_changed(hint, stored):
                    refresh_list.append((stored, hint))
                continue
            # Stored already (under another topic, maybe under its rel=canonical URL):
            # enter it here without fetching it again.
            if stored is None:
                fetch_list.append((url, hint))
                continue
            if _source_says_changed(hint, stored):
                refresh_list.append((stored, hint))
            if await self._add(topic.name, stored):
                entered.append(stored.url)
            await self._entered(url, topic.name)
        results = await self._fetch_articles(topic, source, fetch_list, now)
        entered += [r for r in results if isinstance(r, str)]
        failed = [hint for (_, hint), r in zip(fetch_list, results, strict=True) if r is None]
        for stored, hint in refresh_list:
            await self._refresh_article(source, stored, hint, now)
        if topic.name not in self._lives_kept:
            # Once per topic and configuration (a start, a reload): a retention raised
            # since its articles were stored extends their lives, set when each was added.
            await self.store.keep_articles(topic.name, topic.retention)
            self._lives_kept.add(topic.name)
        # Every poll, not only one that found something: in a quiet topic retention
        # runs out too, as does a max_entries or retention lowered by a reload.
        dropped = await self._prune(topic, now)
        if entered and not dropped:
            self._changed(topic.name)
        return entered, failed

    async def _prune(self, topic: TopicConfig, now: float) -> int:
        """Drop the topic's entries past its retention or max_entries (and the stored
        articles and pages no topic lists any more: Store.prune); how many went."""
        dropped = await self.store.prune(
            topic.name, seen_before=now - topic.retention, keep=topic.max_entries
        )
        if dropped:
            self._changed(topic.name)
        return dropped

    async def _prune_after_failure(self, topic: TopicConfig, now: float) -> None:
        """Retention runs out while a topic's source fails too (operator review: the
        entries of a topic whose only source was down were served past it)."""
        with contextlib.suppress(StoreError):  # reported where the store is next met
            await self._prune(topic, now)

    async def _fetch_articles(
        self, topic: TopicConfig, source: SourceConfig,
        todo: Sequence[tuple[str, LinkHint]], now: float,
    ) -> list[str | Literal[False] | None]:
        """``_fetch_article`` for each link, a bounded number at a time.

        A first poll may yield a thousand new links: a few workers pulling from one
        iterator, rather than a task per link, keep memory and event-loop bursts small;
        a few times the fetch concurrency keeps the fetcher (the real limit) busy.
        """
        results: list[str | Literal[False] | None] = [None] * len(todo)
        queue = iter(enumerate(todo))

        async def worker() -> None:
            for i, (url, hint) in queue:
                results[i] = await self._fetch_article(topic, source, url, hint, now)

        # A task group, not gather: when one worker fails (the store went away), the
        # others are cancelled with the poll instead of fetching on, unowned, after it
        # has reported the failure.
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(len(todo), self._article_workers)):
                    group.create_task(worker())
        except BaseExceptionGroup as failed:
            # Callers handle a plain StoreError (or see the first bug as it is).
            raise failed.exceptions[0] from None
        return results

    async def _fetch_article(
        self, topic: TopicConfig, source: SourceConfig, url: str, hint: LinkHint, now: float
    ) -> str | Literal[False] | None:
        """Fetch, extract and store one article. The new entry's URL (the story's, maybe
        not the link's); False: a duplicate; None: failed (recorded in its fetch state,
        retried after backoff)."""
        # Two sources (an index and a feed) may link the same story in the same round:
        # the second waits for the first's fetch instead of fetching it again.
        shared = self._inflight.get(url)
        if shared is None or shared.abandoned:
            task = asyncio.ensure_future(self._load_article(source, url, hint, now))
            shared = self._inflight[url] = _SharedLoad(task)
            own = shared

            def forget(_task: asyncio.Task[_Loaded | None]) -> None:
                # only this load's own entry: an abandoned one may be replaced already
                if self._inflight.get(url) is own:
                    del self._inflight[url]

            task.add_done_callback(forget)
        loaded = await shared.wait()
        if loaded is None:
            return None
        added = await self._add(topic.name, loaded.article)
        if added and loaded.page is not None:
            # Kept once the story is entered somewhere: a copy of a story a topic has
            # already (the same wire story on another site) is never re-extracted, and
            # its page would be dead weight for page_retention.
            page, loaded.page = loaded.page, None
            await self._keep_page(loaded.article, page, topic)
        # Entered, or a copy (same text fingerprint) of an entry the topic already has:
        # either way this link is done for this topic.
        await self._entered(url, topic.name)
        return loaded.article.url if added else False

    async def _entered(self, url: str, topic: str) -> None:
        # One atomic step on the stored state, not the poll's batch read written back:
        # another poll (or replica) may be entering the link into its own topic at the
        # same moment, and losing that topic would take a pruned entry back as new.
        def enter(state: FetchState | None) -> FetchState:
            state = state or FetchState(canonical=url)
            return state if topic in state.topics else replace(
                state, topics=(*state.topics, topic)
            )

        await self.store.update_state(url, enter)

    async def _load_article(
        self, source: SourceConfig, url: str, hint: LinkHint, now: float
    ) -> _Loaded | None:
        state = await self.store.get_state(url) or FetchState()
        if state.error_count and state.next_due > now:
            return None  # still backing off from an earlier failure
        try:
            result = await self._fetch(hint.url, source)
            extraction = await self._more_pages(await self._extract(result, hint), source, hint)
        except (FetchError, ExtractError) as exc:
            await self._record_failure(url, exc, now, source.poll_interval)
            # The error names the URL it fetched already: only another one is added.
            shown, text = redact_url(url), str(exc)
            log.warning("article %s", text if text.startswith(f"{shown}: ") else f"{shown}: {text}")
            return None
        article = self._article(url, result, extraction, hint, source)
        stored = None
        if article.url != url:
            # The page names another URL as its story's (rel=canonical), under which a
            # story is stored already (reached by another link, maybe for another
            # topic): that is entered as it is. Replacing its content here would leave
            # the other topics' feeds as rendered, and lets a page that merely claims
            # the URL rewrite the story; a changed story is fetched again when its feed
            # dates it later.
            stored = await self.store.get_article(article.url)
        # The page is kept (by _fetch_article) so a changed site rule can re-extract the
        # story without a re-fetch; not when the story was stored from another page.
        if stored is not None:
            article, page = stored, None
        else:
            article, page = await self._noted(article, extraction)
        # Only the fetch fields change: the link keeps the topics it was entered into
        # (maybe while this fetch ran), or a topic whose entry aged out would take the
        # story back as new.
        await self.store.update_state(url, lambda s: replace(
            s or FetchState(), etag=result.etag, last_modified=result.last_modified,
            last_status=result.status, last_fetched=now, canonical=article.url,
            error_count=0, last_error=None, next_due=0.0,
        ))
        return _Loaded(article, page)

    async def _refresh_article(
        self, source: SourceConfig, stored: Article, hint: LinkHint, now: float
    ) -> None:
        """Fetch a stored article again because its feed says it changed (conditional
        GET with the stored validators), and update the entry in place."""
        state = await self.store.get_state(stored.url) or FetchState()
        if state.error_count and state.next_due > now:
            return  # an earlier refresh failed: backing off, the stored version stands
        assert hint.updated is not None  # only refreshed when the feed gave a date
        if hint.published == hint.updated:
            # A feed giving only <updated> dates its item by it (discover): when the item
            # changed, not when the story came out, which the stored entry says. Else a
            # dateline's story would take each update's time of day on its day, and its
            # midnight after (extract: "feed hint (the dateline's day, with its time)").
            hint = replace(hint, published=stored.published)
        try:
            result = await self._fetch(hint.url, source, etag=state.etag,
                                       last_modified=state.last_modified)
            if result.not_modified:
                # The page is what we stored: that version is current as of the feed's
                # date (which the entry now carries), so it is not asked for again.
                updated = replace(stored, updated=_latest(hint.updated, stored.updated))
            else:
                extraction = await self._more_pages(
                    await self._extract(result, hint), source, hint
                )
                fresh = self._article(stored.url, result, extraction, hint, source)
                updated, page = await self._noted(
                    replace(fresh, url=stored.url, first_seen=stored.first_seen), extraction)
                await self._keep_page(updated, page, self.settings.topics[source.topic])
        except (FetchError, ExtractError) as exc:
            log.info("refresh of %s failed, keeping the stored version: %s", redact_url(stored.url),
                     exc)
            await self._record_failure(stored.url, exc, now, source.poll_interval)
            return
        for topic in await self.store.update_article(updated, list(self.settings.topics)):
            self._changed(topic)

        def refreshed(state: FetchState | None) -> FetchState:
            state = state or FetchState()
            return replace(
                state, etag=result.etag or state.etag,
                last_modified=result.last_modified or state.last_modified, last_fetched=now,
                last_status=result.status, canonical=stored.url, error_count=0,
                last_error=None, next_due=0.0,
            )

        await self.store.update_state(stored.url, refreshed)

    async def _record_failure(
        self, url: str, exc: FeedsvcError, now: float, interval: float
    ) -> FetchState:
        """Count one more failure of ``url`` on its stored state (atomically: the error
        count and the topics are whatever they are now, not when the fetch began)."""
        return await self.store.update_state(
            url, lambda s: _failed(s or FetchState(), exc, now, interval)
        )

    async def _keep_page(self, article: Article, page: PackedPage | None, topic: TopicConfig) -> None:
        """Keep ``article``'s page for ``page_retention``, but no longer than the article
        itself lives: a page is read only to re-extract its stored article (operator
        review: with a 10 min retention, pages stayed 14 days)."""
        if page is None:  # packed by the worker when page_retention > 0
            return
        now = self.clock()
        life = article_expiry(article, topic.retention, now) - now
        await self.store.put_page(article.url, page, ttl=min(self.settings.page_retention, life))

    async def _fetch(
        self, url: str, source: SourceConfig, *, etag: str | None = None,
        last_modified: str | None = None,
    ) -> FetchResult:
        host = host_label(url)  # never the userinfo
        source_host = host_label(source.url)
        started = time.monotonic()
        try:
            result = await self.fetcher.fetch(
                url, timeout=source.timeout, max_bytes=source.max_page_bytes,
                etag=etag, last_modified=last_modified, check_robots=source.robots,
                private_ok=self._private_ok,
            )
        except FetchError as exc:
            if self.metrics is not None:
                self.metrics.count_fetch(type(exc).__name__, host, source_host=source_host)
            raise
        finally:
            # Every fetch, failed and timed out ones too: the slow origins matter most.
            if self.metrics is not None:
                self.metrics.fetch_seconds.observe(time.monotonic() - started)
        if self.metrics is not None:
            self.metrics.count_fetch("not_modified" if result.not_modified else "ok", host,
                                     source_host=source_host)
        return result

    async def _extract(
        self, result: FetchResult, hint: LinkHint | None
    ) -> Extraction:
        """Extract (with the text fingerprint and the page to keep)."""
        assert result.body is not None
        started = time.monotonic()
        extracted = await self.extractor.extract(
            result.body, without_userinfo(result.url), result.headers, hint,
            keep_page=self.settings.page_retention > 0,
            # just fetched: the year of a dateline that names none is judged from now
            fetched=datetime.fromtimestamp(self.clock(), UTC),
        )
        if self.metrics is not None:
            self.metrics.extract_seconds.observe(time.monotonic() - started)
        if extracted.cut:
            log.info("article %s: story over %d bytes, cut", redact_url(result.url),
                     MAX_STORY_BYTES)
        return extracted

    async def _more_pages(
        self, first: Extraction, source: SourceConfig, hint: LinkHint
    ) -> Extraction:
        """Follow a site rule's single-page or next-page links (bounded). The first
        page's text fingerprint stands for the whole story; a joined story keeps no
        page."""
        if first.article.single_page_url:
            try:
                single = await self._extract(
                    await self._fetch(first.article.single_page_url, source), hint
                )
            except (FetchError, ExtractError) as exc:
                log.info("single-page view failed, keeping the first page: %s", exc)
            else:
                return single
        if first.cut:
            return first  # cut already: no page past it would be kept
        pages: list[ExtractedArticle] = []
        seen = set()
        # A joined story is bounded as one page's is (feedsvc.limits): the pages that
        # fit whole, then the note a cut story ends with; no page is fetched past that.
        note = story_note(hint.url)
        room = MAX_STORY_BYTES - story_bytes(note) - story_bytes(first.article.content_html)
        full = False
        nxt = first.article.next_page_url
        if nxt and room < 0:
            # The first page is within the limit but leaves no room for the note: it is
            # cut as an over-long page is (in a worker: a parse of up to 1 MB), and no
            # page past it is fetched.
            cut = await self.cpu.run(cut_story, first.article.content_html, hint.url,
                                     limit=MAX_STORY_BYTES - story_bytes(note))
            assert cut is not None  # longer than that limit, as room < 0
            log.info("article %s: story over %d bytes; keeping part of its first page",
                     redact_url(hint.url), MAX_STORY_BYTES)
            return replace(first, article=replace(first.article, content_html=cut,
                                                  next_page_url=None),
                           page=None, cut=True)
        while nxt and nxt not in seen and len(pages) < MAX_PAGES - 1:
            seen.add(nxt)
            try:
                got = await self._extract(await self._fetch(nxt, source), hint)
            except (FetchError, ExtractError) as exc:
                log.info("next page %s failed; keeping %d pages: %s", redact_url(nxt), len(pages) + 1,
                         exc)
                break
            page = got.article
            room -= story_bytes(page.content_html) + 1  # joined with "\n"
            if got.cut or room < 0:
                full = True
                log.info("article %s: story over %d bytes; keeping %d pages of it",
                         redact_url(hint.url), MAX_STORY_BYTES, len(pages) + 1)
                break
            pages.append(page)
            nxt = page.next_page_url
        if not pages and not full:
            return first
        joined = join_pages(first.article, pages) if pages else first.article
        if full:
            joined = replace(joined, content_html=joined.content_html + note)
        # The first page's kept copy continues the first page's story, not the joined
        # one the entry holds: it could never be read (nor re-extracted without the
        # other pages), so it is not kept.
        return replace(first, article=joined, page=None, cut=full)

    def _article(
        self, url: str, result: FetchResult, extraction: Extraction, hint: LinkHint,
        source: SourceConfig,
    ) -> Article:
        ex = extraction.article
        now = datetime.fromtimestamp(self.clock(), UTC)
        landed = canonical_url(result.url)  # within aiohttp's 8 KB header line
        # ex.canonical_url is in canonical form already (made so in the worker)
        if _trusted_canonical(ex.canonical_url, result.url, source.url):
            assert ex.canonical_url is not None
            url = ex.canonical_url
        elif _trusted_canonical(landed, url, source.url):
            # A link that redirects within its site (/r/123, http to https) names the
            # story by where it lands, or the same story linked directly by another
            # source would be a second entry. Not across sites (a consent or login page
            # would collect every story), nor to the home page (a removed story).
            url = landed
        # Bounded: a page (or its feed) may give a title or byline of megabytes, which
        # every replica, the store and every reader of the feed would carry.
        return bounded_article(Article(
            url=url,
            title=ex.title or hint.title or url,
            content_html=ex.content_html,
            published=_not_after(ex.published or hint.published, now) or now,
            first_seen=now,
            author=ex.author or hint.author,
            # Never older than the date the feed gave the item: the page was fetched
            # after it, and an older date would make every poll "refresh" the story.
            updated=_not_after(_latest(ex.updated, hint.updated), now),
            dateline=ex.dateline,
            lead_image=ex.lead_image,
            lang=ex.lang,
            fingerprint=extraction.fingerprint,
            rule=extraction.rule,
        ))

    async def _noted(
        self, article: Article, extraction: Extraction
    ) -> tuple[Article, PackedPage | None]:
        """``article``, of ``extraction``, with the note ending a cut story linking the
        entry's own URL, what its feed entry links, and the page to keep with it. The
        story was cut before that URL was known: the worker's note links the page it
        fetched, a joined story's the link, and the page's rel=canonical or a redirect
        may name the entry otherwise."""
        if not extraction.cut or article.content_html.endswith(story_note(article.url)):
            return article, extraction.page
        # in a worker: a longer note may have the story cut again (a parse of up to
        # 1 MB), and the kept page must be packed again after the new story
        try:
            relinked = await self.cpu.run(relink_in_worker, extraction, article.url)
        except BrokenProcessPool:
            log.warning("article %s: the note ending its cut story links the page fetched: "
                        "the process relinking it crashed", redact_url(article.url))
            return article, extraction.page
        return replace(article, content_html=relinked.article.content_html), relinked.page

    async def _add(self, topic: str, article: Article) -> bool:
        retention = self.settings.topics[topic].retention
        try:
            added = await self.store.add_article(topic, article, retention=retention)
        except StoreError:
            pending = self._pending.setdefault(topic, [])
            pending.append(article)
            del pending[:-MAX_PENDING]
            raise
        if added and self.metrics is not None:
            # per article, so a long crawl shows progress as it goes
            self.metrics.articles_stored.labels(topic).inc()
        return added

    async def _flush_pending(self, topic: str) -> None:
        pending = self._pending.get(topic)
        added = False
        while pending:
            retention = self.settings.topics[topic].retention
            added |= await self.store.add_article(topic, pending[0], retention=retention)
            pending.pop(0)
        if added:
            self._changed(topic)

    # -- site rules changed ---------------------------------------------------
    async def reextract_changed(self) -> int:
        """Re-extract stored entries whose site rule changed since they were extracted,
        from their stored page (no re-fetch), so existing entries improve too (issue #4
        item 4). Returns how many articles were updated."""
        updated = 0
        fps: dict[str, str | None] = {}
        for topic in self.settings.topics.values():
            try:
                articles = await self.store.topic_articles(topic.name, topic.max_entries)
            except StoreError as exc:
                log.warning("re-extraction skipped for %s: %s", topic.name, exc)
                continue
            hosts = sorted({urlsplit(a.url).hostname or "" for a in articles} - set(fps))
            if hosts:
                fps.update(await self.extractor.rule_fingerprints(hosts))
            for article in articles:
                if article.rule == fps.get(urlsplit(article.url).hostname or ""):
                    continue
                if await self._reextract(article):
                    updated += 1
        if updated:
            log.info("re-extracted %d stored articles after a site rule change", updated)
        return updated

    async def _reextract(self, article: Article) -> bool:
        try:
            page = await self.store.get_page(article.url)
            if page is None:
                return False  # page expired: the entry keeps its content
            # The entry's date stands in for the feed's, which may have given the time
            # of day to the dateline's date (extract: "feed hint (the dateline's day...");
            # when it was first seen, for the fetch time: a page stored in December and
            # extracted again in January is still December's.
            extraction = await self.extractor.reextract(
                page, article.url, LinkHint(url=article.url, published=article.published),
                fetched=article.first_seen)
            ex = extraction.article
            if ex.next_page_url or ex.single_page_url:
                return False  # needs other pages fetched: left to a later poll
            # The entry's updated stays its own (the later of page and feed dates, or an
            # earlier re-extraction), not the stored page's date, unless what readers
            # see changes: then it moves to now (RFC 4287 §4.2.15), or a reader keying
            # its copy on id and updated would keep the old text.
            now = datetime.fromtimestamp(self.clock(), UTC)
            new = bounded_article(replace(
                article, title=ex.title or article.title, content_html=ex.content_html,
                author=ex.author or article.author,
                published=_not_after(ex.published, now) or article.published,
                dateline=ex.dateline or article.dateline,
                lead_image=ex.lead_image or article.lead_image, lang=ex.lang or article.lang,
                rule=extraction.rule,
                # the new text's: duplicates of the story as it reads now are caught
                fingerprint=extraction.fingerprint or article.fingerprint,
            ))
            new, page = await self._noted(new, extraction)
            if new == article:
                # Nothing to store, not even a new rule: this happens when the rule is
                # looked up by another host than the page's (a story named by a link
                # that redirected across sites), and must not re-render its topics.
                return False
            if replace(new, rule=article.rule, fingerprint=article.fingerprint) != article:
                new = replace(new, updated=_latest(
                    _not_after(ex.updated, now), article.updated, now
                ))
            changed = await self.store.update_article(new, list(self.settings.topics))
            if page is not None:
                # The kept page continued the old story: packed again after the new
                # one, it stays readable for the next rule change (same expiry).
                await self.store.replace_page(article.url, page)
        except (ExtractError, StoreError) as exc:
            log.warning("re-extraction of %s failed: %s", redact_url(article.url), exc)
            return False
        for topic in changed:
            self._changed(topic)
        return True

    # -- bookkeeping ------------------------------------------------------------
    def _changed(self, topic: str) -> None:
        if self.on_change is not None:
            self.on_change(topic)

    def _ok_state(
        self, state: FetchState, result: FetchResult, source: SourceConfig, now: float
    ) -> FetchState:
        return FetchState(
            etag=result.etag or (state.etag if result.not_modified else None),
            last_modified=result.last_modified
            or (state.last_modified if result.not_modified else None),
            next_due=next_after_success(now, source.poll_interval, result.min_interval),
            last_status=result.status,
            last_fetched=now,
            discovery=source.discovery_key(),
        )

    async def _fail(
        self, source: SourceConfig, state: FetchState, exc: FeedsvcError, now: float
    ) -> SourceReport:
        try:
            failed = await self._record_failure(source.state_key, exc, now, source.poll_interval)
        except StoreError as store_exc:
            log.warning("source %s: could not record failure: %s", source.name, store_exc)
            failed = _failed(state, exc, now, source.poll_interval)
        errors, due = failed.error_count, failed.next_due
        # One clear line per failing source (issue #2 item 7).
        log.warning("source %s failed (%d in a row, next try in %.0fs): %s",
                    source.name, errors, due - now, exc)
        kind = "discover" if isinstance(exc, DiscoverError) else "fetch"
        return self._record(source, "failed", error=f"{kind}: {exc}", next_due=due)

    def _record(
        self, source: SourceConfig, outcome: Outcome, *, next_due: float,
        failed_articles: int = 0, error: str | None = None, links: int | None = None,
        entered: tuple[str, ...] = (),
    ) -> SourceReport:
        """Report a poll. (``feedsvc_source_errors`` is read from the stored fetch
        states when ``/metrics`` is scraped: a store error is no source failure.)"""
        report = SourceReport(
            topic=source.topic, url=source.url, outcome=outcome,
            failed_articles=failed_articles, error=error, next_due=next_due, links=links,
            entered=entered,
        )
        self.reports[source.state_key] = report
        return report
