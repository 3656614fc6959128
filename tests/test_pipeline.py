"""End to end, offline: a local origin site -> the real fetcher, discovery, extraction
(in the process pool), store and renderer -> a feed read back with feedparser."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from feedsvc.app import create_app
from feedsvc.config import Settings, SourceConfig
from feedsvc.cpu import CpuPool
from feedsvc.fetch import Fetcher
from feedsvc.live import LIVE
from feedsvc.models import Article, FetchState, LinkHint
from feedsvc.pipeline import Pipeline
from feedsvc.render import entry_updated
from feedsvc.store import Store
from feedsvc.store.memory import MemoryStore
from feedsvc.store.redis_store import RedisStore
from tests.helpers import app_client, check_atom, make_settings
from tests.origin import Origin, Route, redirect
from tests.site import (
    SPACEDAILY_PATH,
    STORIES,
    article_page,
    atom,
    conditional,
    index_page,
    rss,
    spacedaily_html,
)

MOON, NAVY, SAT = list(STORIES)


@pytest.fixture(scope="module")
def cpu() -> Iterator[CpuPool]:
    pool = CpuPool(2)
    yield pool
    pool.close()


def build_site() -> tuple[dict[str, Any], list[str]]:
    """Routes of the test site and the article paths its index links to."""
    index_paths = [MOON, NAVY, "/private/secret_999.html"]
    routes: dict[str, Any] = {
        "/robots.txt": Route("User-agent: *\nDisallow: /private/\n", content_type="text/plain"),
        "/broken.html": Route("oops", status=500),
    }
    for path, (title, dateline, paras) in STORIES.items():
        page = article_page(title, dateline, paras).encode()
        routes[path] = conditional(lambda page=page: page, "text/html; charset=utf-8")
    spacedaily = spacedaily_html()
    if spacedaily is not None:
        index_paths.append(SPACEDAILY_PATH)
        routes[SPACEDAILY_PATH] = Route(spacedaily, content_type="text/html; charset=iso-8859-1")
    routes["/Superpowers.html"] = conditional(
        lambda: index_page(index_paths).encode(), "text/html; charset=utf-8"
    )
    return routes, index_paths


def site_settings(origin: Origin) -> Settings:
    base = origin.base_url
    return make_settings({
        "superpowers": {
            "title": "SUPERPOWERS",
            "sources": [
                {"url": f"{base}/Superpowers.html", "kind": "index",
                 "links": "a[href*='/reports/'], a[href*='/private/']",
                 "follow": r"/(reports|private)/.+\.html$"},
                {"url": f"{base}/spacewar.xml", "kind": "feed"},
                {"url": f"{base}/broken.html", "kind": "index"},
            ],
        }
    }, user_agent="feedsvc-test/1.0")


def add_feed(origin: Origin) -> None:
    items = [
        (SAT, STORIES[SAT][0], datetime(2017, 2, 13, 9, tzinfo=UTC)),
        # the same story the index links, reached with tracking parameters: one entry
        (MOON + "?utm_source=rss&utm_medium=feed", STORIES[MOON][0],
         datetime(2017, 2, 14, tzinfo=UTC)),
    ]
    body = rss(origin.base_url, items).encode()
    origin.routes["/spacewar.xml"] = conditional(lambda: body, "application/rss+xml")


async def crawl(settings: Settings, store: Store, cpu: CpuPool) -> dict[str, Any]:
    async with Fetcher(user_agent=settings.user_agent, concurrency=8, per_host=2) as fetcher:
        reports = await Pipeline(settings, store, fetcher, cpu).refresh_all()
    return {r.url.rsplit("/", 1)[1]: r for r in reports}


@pytest.fixture
async def origin() -> AsyncIterator[Origin]:
    routes, _ = build_site()
    async with Origin(routes) as site:
        add_feed(site)
        yield site


async def test_crawl_end_to_end_and_feed_read_back(origin: Origin, cpu: CpuPool) -> None:
    settings = site_settings(origin)
    store = MemoryStore()
    reports = await crawl(settings, store, cpu)
    has_spacedaily = SPACEDAILY_PATH in origin.routes

    assert reports["Superpowers.html"].outcome == "new"
    assert reports["Superpowers.html"].failed_articles == 1  # robots.txt disallows /private/
    # The Moon story is linked by both sources (the feed's link carries utm_*): one entry,
    # credited to whichever source stored it first, so only the sum is fixed.
    assert reports["Superpowers.html"].new + reports["spacewar.xml"].new == 3 + has_spacedaily
    assert reports["Superpowers.html"].new >= 1 + has_spacedaily
    # one failing source does not stop the others, and its error is recorded
    assert reports["broken.html"].outcome == "failed"
    assert "HTTP 500" in (reports["broken.html"].error or "")
    state = await store.get_state(f"{origin.base_url}/broken.html")
    assert state is not None and state.error_count == 1 and state.next_due > 0
    assert origin.hits["/private/secret_999.html"] == 0
    assert all(origin.hits[p] == 1 for p in STORIES)

    app = create_app(settings, store=store, cpu=cpu, start_scheduler=False)
    async with app_client(app) as client:
        resp = await client.get("/feeds/superpowers.atom")
        assert resp.status == 200
        parsed = check_atom(await resp.read())
    entries = {e.id: e for e in parsed.entries}
    assert set(entries) == {origin.url(p) for p in STORIES} | (
        {origin.url(SPACEDAILY_PATH)} if has_spacedaily else set()
    )
    # newest first by published date (from each page's dateline)
    published = [e.published_parsed for e in parsed.entries]
    assert published == sorted(published, reverse=True)
    navy = entries[origin.url(NAVY)]
    assert navy.title == STORIES[NAVY][0]
    assert navy.author == "Staff Writers"
    assert navy.published.startswith("2017-02-15")
    body = navy.content[0].value
    assert STORIES[NAVY][2][0] in body and STORIES[NAVY][2][-1] in body
    assert "Copyright 1995" not in body and "Comment on this article" not in body
    if has_spacedaily:
        sd = entries[origin.url(SPACEDAILY_PATH)]
        assert sd.title == "US says not ready yet for Russian military collaboration as chiefs meet"
        assert sd.published.startswith("2017-02-16")
        assert "Pentagon chief James Mattis said Thursday" in sd.content[0].value
        assert "Thanks for being here" not in sd.content[0].value


async def test_second_crawl_uses_conditional_get_and_refetches_nothing(
    origin: Origin, cpu: CpuPool
) -> None:
    settings = site_settings(origin)
    store = MemoryStore()
    await crawl(settings, store, cpu)
    before = dict(origin.hits)
    reports = await crawl(settings, store, cpu)
    assert reports["Superpowers.html"].outcome == "unchanged"
    assert reports["spacewar.xml"].outcome == "unchanged"
    # validators sent to the origin; it answered 304 (no parsing); no article re-fetched
    assert origin.headers_of("/Superpowers.html")[-1].get("If-None-Match", "").startswith('"')
    assert all(origin.hits[p] == before[p] for p in STORIES)
    assert reports["broken.html"].outcome == "failed"
    state = await store.get_state(f"{origin.base_url}/broken.html")
    assert state is not None and state.error_count == 2


async def test_new_article_on_index_appears(origin: Origin, cpu: CpuPool) -> None:
    settings = site_settings(origin)
    store = MemoryStore()
    _, paths = build_site()
    await crawl(settings, store, cpu)
    paths.append("/reports/Breaking_999.html")
    origin.routes["/Superpowers.html"] = conditional(
        lambda: index_page(paths).encode(), "text/html; charset=utf-8")
    origin.routes["/reports/Breaking_999.html"] = Route(article_page(
        "Breaking news from orbit", "Baikonur (AFP) Feb 17, 2017",
        ["A rocket lifted off from the cosmodrome on Friday carrying three satellites into a "
         "low orbit, the space agency said in a statement after the launch."] * 3))
    reports = await crawl(settings, store, cpu)
    assert reports["Superpowers.html"].new == 1
    titles = [a.title for a in await store.topic_articles("superpowers", 50)]
    assert titles[0] == "Breaking news from orbit"
    assert all(origin.hits[p] == 1 for p in STORIES), dict(origin.hits)


async def test_restart_on_same_redis_loses_nothing(
    origin: Origin, cpu: CpuPool, redis_url: str
) -> None:
    settings = site_settings(origin)
    store = RedisStore.from_url(redis_url)
    await crawl(settings, store, cpu)
    app = create_app(settings, store=store, cpu=cpu, start_scheduler=False)
    async with app_client(app) as client:
        first = await (await client.get("/feeds/superpowers.atom")).read()
    await store.close()
    hits = dict(origin.hits)

    # "restart": a new store client and a new app on the same Redis
    store2 = RedisStore.from_url(redis_url)
    try:
        reports = await crawl(settings, store2, cpu)
        assert reports["Superpowers.html"].outcome == "unchanged"
        assert all(origin.hits[p] == hits[p] for p in STORIES)
        app = create_app(settings, store=store2, cpu=cpu, start_scheduler=False)
        async with app_client(app) as client:
            again = await (await client.get("/feeds/superpowers.atom")).read()
        assert again == first
        assert len(check_atom(again).entries) >= 3
    finally:
        await store2.close()


async def test_rule_change_reextracts_stored_pages_without_refetch(
    origin: Origin, tmp_path: Any
) -> None:
    sites = tmp_path / "sites"
    sites.mkdir()
    base = site_settings(origin)
    from dataclasses import replace as dc_replace

    settings = dc_replace(base, sites_dir=str(sites))
    store = MemoryStore()
    pool = CpuPool(1)
    try:
        await crawl(settings, store, pool)
        moon = await store.get_article(origin.url(MOON))
        assert moon is not None and moon.rule is None
        assert "Engineers said" in moon.content_html
        hits = dict(origin.hits)
        async with Fetcher(user_agent="t", concurrency=2, per_host=2) as fetcher:
            pipeline = Pipeline(settings, store, fetcher, pool)
            assert await pipeline.reextract_changed() == 0  # nothing changed yet
            # a site rule for the origin's host appears: strip one paragraph
            (sites / "127.0.0.1.txt").write_text("strip: //p[contains(., 'Engineers said')]\n")
            updated = await pipeline.reextract_changed()
            assert updated >= 3
            assert await pipeline.reextract_changed() == 0  # idempotent
        before = moon
        moon = await store.get_article(origin.url(MOON))
        assert moon is not None and moon.rule is not None
        assert "Engineers said" not in moon.content_html
        # the text changed, and so did its fingerprint: copies of the story as it now
        # reads are recognised
        assert moon.fingerprint and moon.fingerprint != before.fingerprint
        assert STORIES[MOON][2][0] in moon.content_html
        assert dict(origin.hits) == hits  # from the stored page: nothing re-fetched
    finally:
        pool.close()


async def test_reextraction_resolves_links_as_first_extraction_and_moves_updated(
    tmp_path: Any,
) -> None:
    """The linked URL redirects to where the story lives: its relative image and link
    resolve against that address, on re-extraction (after a rule change) as on the first
    one. What readers see changed, so the entry's updated moves to the re-extraction."""
    sites = tmp_path / "sites"
    sites.mkdir()
    title, dateline, paras = STORIES[MOON]
    paras = [*paras, '<img src="photos/moon.jpg" width="600" height="400"> '
             'Officials said a <a href="next.html">second phase</a> would follow soon.']
    now = [1_800_000_000.0]
    async with Origin() as site:
        site.routes["/i.html"] = index_page(["/reports/moon.html"])
        site.routes["/reports/moon.html"] = redirect("/archive/2017/moon.html", 301)
        site.routes["/archive/2017/moon.html"] = article_page(title, dateline, paras)
        settings = replace(make_settings({"t": {"sources": [{
            "url": site.url("/i.html"), "robots": False, "follow": "/reports/",
        }]}}), sites_dir=str(sites))
        store = MemoryStore()
        pool = CpuPool(1)
        try:
            async with Fetcher(user_agent="t", concurrency=2, per_host=2) as fetcher:
                pipeline = Pipeline(settings, store, fetcher, pool, clock=lambda: now[0])
                assert (await pipeline.refresh_source(settings.topics["t"].sources[0])).new == 1
                [first] = await store.topic_articles("t", 10)
                (sites / "127.0.0.1.txt").write_text("strip: //p[contains(., 'Engineers')]\n")
                now[0] += 3600
                assert await pipeline.reextract_changed() == 1
            [again] = await store.topic_articles("t", 10)
        finally:
            pool.close()
    for article in (first, again):
        assert site.url("/archive/2017/photos/moon.jpg") in article.content_html
        assert site.url("/archive/2017/next.html") in article.content_html
    assert "Engineers said" in first.content_html and "Engineers said" not in again.content_html
    assert again.updated == datetime.fromtimestamp(now[0], UTC) > entry_updated(first)


async def _crawl_moon(
    site: Origin, store: Store, sites: Path, cpu: CpuPool, fetcher: Fetcher
) -> tuple[Pipeline, Article]:
    site.routes["/i.html"] = index_page([MOON])
    site.routes[MOON] = article_page(*STORIES[MOON])
    settings = replace(make_settings({"t": {"sources": [{
        "url": site.url("/i.html"), "robots": False}]}}), sites_dir=str(sites))
    pipeline = Pipeline(settings, store, fetcher, cpu)
    assert (await pipeline.refresh_source(settings.topics["t"].sources[0])).new == 1
    [stored] = await store.topic_articles("t", 10)
    return pipeline, stored


async def test_page_kept_as_the_rest_of_its_story_is_reextracted(
    store: Store, cpu: CpuPool, tmp_path: Path
) -> None:
    """The kept page continues the stored story's Brotli stream (on either store); a
    rule change re-extracts the story from it, fetching nothing."""
    sites = tmp_path / "sites"
    sites.mkdir()
    async with Origin() as site, Fetcher(user_agent="t", concurrency=2, per_host=2) as fetcher:
        pipeline, first = await _crawl_moon(site, store, sites, cpu, fetcher)
        page = await store.get_page(first.url)
        assert page is not None and page.chained
        assert page.unpack().body.startswith(b"<!DOCTYPE html>")
        hits = dict(site.hits)
        (sites / "127.0.0.1.txt").write_text("strip: //p[contains(., 'Engineers said')]\n")
        assert await pipeline.reextract_changed() == 1
        assert dict(site.hits) == hits
    [again] = await store.topic_articles("t", 10)
    assert "Engineers said" in first.content_html and "Engineers said" not in again.content_html


async def test_a_second_rule_change_reextracts_again_from_the_same_page(
    store: Store, cpu: CpuPool, tmp_path: Path
) -> None:
    """Re-extraction rewrites the story its kept page continued; the page is packed
    again after the new story (keeping its expiry), so the next edit of the rule (a
    rule is often fixed in a few tries) re-extracts the entry too, still fetching
    nothing."""
    sites = tmp_path / "sites"
    sites.mkdir()
    rule = sites / "127.0.0.1.txt"
    async with Origin() as site, Fetcher(user_agent="t", concurrency=2, per_host=2) as fetcher:
        pipeline, first = await _crawl_moon(site, store, sites, cpu, fetcher)
        hits = dict(site.hits)
        rule.write_text("strip: //p[contains(., 'Engineers said')]\n")
        assert await pipeline.reextract_changed() == 1
        [once] = await store.topic_articles("t", 10)
        rule.write_text("strip: //p[contains(., 'Critics warned')]\n")  # the rule, fixed
        assert await pipeline.reextract_changed() == 1
        assert dict(site.hits) == hits
    [twice] = await store.topic_articles("t", 10)
    assert "Engineers said" in first.content_html and "Critics warned" in first.content_html
    assert "Engineers said" not in once.content_html and "Critics warned" in once.content_html
    assert "Engineers said" in twice.content_html and "Critics warned" not in twice.content_html


async def test_page_of_a_story_rewritten_since_is_skipped_as_expired(
    store: Store, cpu: CpuPool, tmp_path: Path
) -> None:
    """The story was rewritten after its page was kept (as a refresh whose page was not
    kept, or another version, would): the page no longer continues it, so a rule change
    leaves the entry as it is, as for an expired page, rather than fail or mix two
    versions."""
    sites = tmp_path / "sites"
    sites.mkdir()
    async with Origin() as site, Fetcher(user_agent="t", concurrency=2, per_host=2) as fetcher:
        pipeline, first = await _crawl_moon(site, store, sites, cpu, fetcher)
        rewritten = replace(first, content_html="<p>Engineers said it again.</p>")
        assert await store.update_article(rewritten, ["t"]) == ["t"]
        (sites / "127.0.0.1.txt").write_text("strip: //p[contains(., 'Engineers said')]\n")
        assert await pipeline.reextract_changed() == 0
    assert await store.get_page(first.url) is None
    assert await store.get_article(first.url) == rewritten


async def test_reextraction_that_changes_nothing_keeps_updated(tmp_path: Path) -> None:
    """The entry's updated comes from its feed (later than the page's own date). A rule
    edit that leaves the story as it was re-extracts it, and the entry keeps its date:
    readers are not told of a change there is none of."""
    sites = tmp_path / "sites"
    sites.mkdir()
    title, dateline, paras = STORIES[MOON]
    page = article_page(title, dateline, paras).replace(
        "<head>", '<head><meta property="article:modified_time" content="2017-02-15T08:00:00Z">')
    feed_date = datetime(2017, 2, 16, 9, tzinfo=UTC)
    async with Origin() as site:
        site.routes[MOON] = page
        site.routes["/wire.xml"] = atom(site.base_url, [(MOON, title, feed_date)])
        settings = replace(make_settings({"t": {"sources": [
            {"url": site.url("/wire.xml"), "kind": "feed", "robots": False}]}}),
            sites_dir=str(sites))
        store = MemoryStore()
        pool = CpuPool(1)
        try:
            async with Fetcher(user_agent="t", concurrency=2, per_host=2) as fetcher:
                pipeline = Pipeline(settings, store, fetcher, pool)
                await pipeline.refresh_all()
                [first] = await store.topic_articles("t", 5)
                (sites / "127.0.0.1.txt").write_text("strip: //p[contains(., 'no such text')]\n")
                assert await pipeline.reextract_changed() == 1
            [again] = await store.topic_articles("t", 5)
        finally:
            pool.close()
    assert first.updated == feed_date and again.rule is not None
    assert replace(again, rule=None) == replace(first, rule=None)


async def test_reextraction_that_changes_nothing_at_all_stores_nothing(cpu: CpuPool) -> None:
    """Re-extracting a story to exactly what is stored (its rule included) writes nothing
    and leaves its topic's version alone: no re-render for every replica."""
    async with Origin({MOON: article_page(*STORIES[MOON]),
                       "/index.html": index_page([MOON])}) as site:
        settings = make_settings({"t": {"sources": [{"url": site.url("/index.html"),
                                                      "robots": False}]}})
        store = MemoryStore()
        async with Fetcher(user_agent="t", concurrency=2, per_host=2) as fetcher:
            pipeline = Pipeline(settings, store, fetcher, cpu)
            await pipeline.refresh_all()
            [stored] = await store.topic_articles("t", 5)
            version = (await store.topic_versions(["t"]))["t"]
            assert await pipeline._reextract(stored) is False
        assert (await store.topic_versions(["t"]))["t"] == version
        assert await store.get_article(stored.url) == stored


async def test_feed_update_refetches_stored_article(cpu: CpuPool) -> None:
    """A stored article is fetched again only when its feed dates it later."""
    title, dateline, paras = STORIES[SAT]
    page = {"html": article_page(title, dateline, paras)}
    async with Origin() as site:
        site.routes[SAT] = conditional(lambda: page["html"].encode(), "text/html; charset=utf-8")
        feed = {"when": datetime(2017, 2, 13, 9, tzinfo=UTC)}
        site.routes["/atom.xml"] = conditional(
            lambda: atom(site.base_url, [(SAT, title, feed["when"])]).encode(),
            "application/atom+xml")
        settings = make_settings({"t": {"sources": [
            {"url": site.url("/atom.xml"), "kind": "feed", "robots": False}]}})
        store = MemoryStore()
        await crawl(settings, store, cpu)
        first = await store.get_article(site.url(SAT))
        assert first is not None and site.hits[SAT] == 1
        # polled again with the item's date unchanged: the article is not fetched again
        await crawl(settings, store, cpu)
        assert site.hits[SAT] == 1
        # the page is corrected and the feed says so
        page["html"] = article_page(title, dateline, [*paras, "Correction: the launch slipped a year."])
        feed["when"] = datetime(2017, 2, 20, tzinfo=UTC)
        await crawl(settings, store, cpu)
        assert site.hits[SAT] == 2
        again = await store.get_article(site.url(SAT))
        assert again is not None
        assert "Correction: the launch slipped a year." in again.content_html
        assert again.first_seen == first.first_seen
        assert again.updated == datetime(2017, 2, 20, tzinfo=UTC)
        assert [a.url for a in await store.topic_articles("t", 10)] == [site.url(SAT)]
        await crawl(settings, store, cpu)
        assert site.hits[SAT] == 2  # not refreshed again


class Wire:
    """An origin with one story (SAT, conditional GET) in an Atom feed; ``more`` adds
    a second item, which changes the feed so it is parsed again."""

    def __init__(self, site: Origin, published: datetime, updated: datetime) -> None:
        self.site, self.published, self.updated, self.more = site, published, updated, False
        title, dateline, paras = STORIES[SAT]
        self.page = article_page(title, dateline, paras)
        site.routes[SAT] = conditional(lambda: self.page.encode(), "text/html; charset=utf-8")
        site.routes[NAVY] = article_page(*STORIES[NAVY])
        site.routes["/atom.xml"] = conditional(lambda: self.feed().encode(), "application/atom+xml")

    def feed(self) -> str:
        items = [(SAT, STORIES[SAT][0], self.updated)]
        if self.more:
            items.append((NAVY, STORIES[NAVY][0], self.updated))
        return atom(self.site.base_url, items, published=self.published)

    def settings(self) -> Settings:
        return make_settings({"t": {"sources": [
            {"url": self.site.url("/atom.xml"), "kind": "feed", "robots": False}]}})


async def test_item_updated_after_it_was_published_is_fetched_once(cpu: CpuPool) -> None:
    """An item published at 09:00 and updated at 10:00, stored after both: polls that
    parse the feed again do not fetch it again."""
    async with Origin() as site:
        wire = Wire(site, datetime(2017, 2, 13, 9, tzinfo=UTC), datetime(2017, 2, 13, 10, tzinfo=UTC))
        store = MemoryStore()
        await crawl(wire.settings(), store, cpu)
        wire.more = True
        await crawl(wire.settings(), store, cpu)
        assert site.hits[SAT] == 1 and site.hits[NAVY] == 1
        stored = await store.get_article(site.url(SAT))
        assert stored is not None and stored.updated == wire.updated


async def test_dated_change_with_the_page_unchanged_is_asked_once(cpu: CpuPool) -> None:
    """The feed dates the item later but the page answers 304: the entry takes the
    feed's date, and the page is not asked for again on later polls."""
    async with Origin() as site:
        wire = Wire(site, datetime(2017, 2, 13, 9, tzinfo=UTC), datetime(2017, 2, 13, 9, tzinfo=UTC))
        store = MemoryStore()
        await crawl(wire.settings(), store, cpu)
        wire.updated = datetime(2017, 2, 14, tzinfo=UTC)
        await crawl(wire.settings(), store, cpu)
        assert origin_statuses(site, SAT) == ["", "etag"]  # a conditional GET: 304
        wire.more = True
        await crawl(wire.settings(), store, cpu)
        assert origin_statuses(site, SAT) == ["", "etag"]
        stored = await store.get_article(site.url(SAT))
        assert stored is not None and stored.updated == wire.updated


async def test_failed_refresh_backs_off_and_keeps_the_stored_story(cpu: CpuPool) -> None:
    async with Origin() as site:
        wire = Wire(site, datetime(2017, 2, 13, 9, tzinfo=UTC), datetime(2017, 2, 13, 9, tzinfo=UTC))
        store = MemoryStore()
        await crawl(wire.settings(), store, cpu)
        before = await store.get_article(site.url(SAT))
        site.routes[SAT] = Route("gone", status=404)
        wire.updated = datetime(2017, 2, 14, tzinfo=UTC)
        await crawl(wire.settings(), store, cpu)
        assert site.hits[SAT] == 2
        wire.more = True  # parsed again, still dated later: backing off, not fetched
        await crawl(wire.settings(), store, cpu)
        assert site.hits[SAT] == 2
        assert await store.get_article(site.url(SAT)) == before
        state = await store.get_state(site.url(SAT))
        assert state is not None and state.error_count == 1 and "404" in (state.last_error or "")


@pytest.mark.parametrize("single_page_works", [True, False])
async def test_a_single_page_view_replaces_the_first_page(
    tmp_path: Path, single_page_works: bool
) -> None:
    """Site rule single_page_link: the whole story from its one-page view, stored under
    the story's URL; when that view fails, the first page stands."""
    (tmp_path / "127.0.0.1.txt").write_text(
        "body: //div[@id='body']\nsingle_page_link: //a[@class='print']\n")
    filler = " ".join(["Text of the story, long enough to count as one."] * 4)

    def page(body: str, extra: str = "") -> str:
        return (f"<html><head><title>Story</title></head><body><h1>Story</h1><div id='body'>"
                f"<p>{body} {filler}</p></div>{extra}</body></html>")

    routes = {"/story": page("FIRST-PAGE-ONLY", "<a class='print' href='/story/all'>all</a>"),
              "/story/all": page("WHOLE-STORY") if single_page_works else Route("", status=500),
              "/index.html": index_page(["/story"])}
    pool = CpuPool(1)
    try:
        async with Origin(routes) as site:
            settings = replace(make_settings({"t": {"sources": [
                {"url": site.url("/index.html"), "robots": False, "follow": "/story"}]}}),
                sites_dir=str(tmp_path))
            store = MemoryStore()
            await crawl(settings, store, pool)
            assert site.hits["/story/all"] == 1
        stored = await store.get_article(site.url("/story"))
        assert stored is not None
        wanted, unwanted = "WHOLE-STORY", "FIRST-PAGE-ONLY"
        if not single_page_works:
            wanted, unwanted = unwanted, wanted
        assert wanted in stored.content_html and unwanted not in stored.content_html
    finally:
        pool.close()


async def test_refresh_of_a_multi_page_story_keeps_every_page(tmp_path: Path) -> None:
    """A story joined from two pages (site rule next_page_link) is refreshed whole. No
    page is kept for it: a kept page continues its own page's story, never the joined
    one, so it could not be read."""
    (tmp_path / "127.0.0.1.txt").write_text(
        "title: //h1\nbody: //div[@id='body']\nnext_page_link: //a[@class='next']\n")
    filler = " ".join(["Text of the story, long enough to count as one."] * 4)
    version = {"page1": "PAGE-ONE-V1"}

    def page(body: str, nxt: str = "") -> str:
        return (f"<html><head><title>S</title></head><body><h1>Story</h1><div id='body'>"
                f"<p>{body} {filler}</p></div>{nxt}</body></html>")

    async def story(request: web.Request) -> web.Response:
        if request.query.get("page") == "2":
            return web.Response(text=page("PAGE-TWO"), content_type="text/html")
        nxt = "<a class='next' href='/story?page=2'>next</a>"
        return web.Response(text=page(version["page1"], nxt), content_type="text/html")

    pool = CpuPool(1)
    try:
        async with Origin({"/story": story}) as site:
            when = {"t": datetime(2017, 2, 13, 9, tzinfo=UTC)}

            async def feed(request: web.Request) -> web.Response:
                return web.Response(text=atom(site.base_url, [("/story", "Story", when["t"])]),
                                    content_type="application/atom+xml")

            site.routes["/atom.xml"] = feed
            settings = replace(make_settings({"t": {"sources": [
                {"url": site.url("/atom.xml"), "kind": "feed", "robots": False}]}}),
                sites_dir=str(tmp_path))
            store = MemoryStore()
            await crawl(settings, store, pool)
            assert store._pages == {}
            version["page1"], when["t"] = "PAGE-ONE-V2", datetime(2017, 2, 20, tzinfo=UTC)
            await crawl(settings, store, pool)
            assert store._pages == {}
            stored = await store.get_article(site.url("/story"))
            assert stored is not None
            assert "PAGE-ONE-V2" in stored.content_html and "PAGE-TWO" in stored.content_html
            assert "PAGE-ONE-V1" not in stored.content_html
    finally:
        pool.close()


async def test_same_wire_story_on_two_sites_is_one_entry(cpu: CpuPool) -> None:
    """The network republishes a wire story on several sites: one entry per topic,
    recognised by the fingerprint of its text (issue #4 item 6)."""
    title, dateline, paras = STORIES[NAVY]
    async with Origin() as a, Origin() as b:
        for site, chrome in ((a, "SpaceWar"), (b, "SpaceDaily")):
            page = article_page(title, dateline, paras).replace("SUPERPOWERS", chrome)
            site.routes["/reports/story_999.html"] = page
            site.routes["/index.html"] = index_page(["/reports/story_999.html"])
        settings = make_settings({"t": {"sources": [
            {"url": a.url("/index.html"), "robots": False},
            {"url": b.url("/index.html"), "robots": False},
        ]}})
        store = MemoryStore()
        async with Fetcher(user_agent="t", concurrency=8, per_host=2) as fetcher:
            reports = await Pipeline(settings, store, fetcher, cpu).refresh_all()
        assert sum(r.new for r in reports) == 1
        assert a.hits["/reports/story_999.html"] == b.hits["/reports/story_999.html"] == 1
        entries = await store.topic_articles("t", 10)
        assert len(entries) == 1
        # the entry's page is kept for re-extraction, the copy's is not
        copies = [site.url("/reports/story_999.html") for site in (a, b)]
        assert [await store.get_page(u) is not None for u in copies].count(True) == 1
        assert await store.get_page(entries[0].url) is not None
        # and a second poll does not fetch either copy again
        await crawl(settings, store, cpu)
        assert a.hits["/reports/story_999.html"] == b.hits["/reports/story_999.html"] == 1


def two_topics_one_story(site: Origin) -> tuple[Settings, asyncio.Event]:
    """Two topics whose indexes link the same slow story; the event is set when the
    story is requested."""
    requested = asyncio.Event()
    page = article_page(*STORIES[MOON])

    async def slow_story(request: web.Request) -> web.Response:
        requested.set()
        await asyncio.sleep(0.3)
        return web.Response(text=page, content_type="text/html")

    site.routes[MOON] = slow_story
    for name in ("a", "b"):
        site.routes[f"/{name}.html"] = index_page([MOON])
    settings = make_settings({
        name: {"sources": [{"url": site.url(f"/{name}.html"), "robots": False}]}
        for name in ("a", "b")
    })
    return settings, requested


async def test_story_linked_by_two_polls_at_once_is_fetched_once(cpu: CpuPool) -> None:
    """Two sources polled at the same time link one story: the second poll waits for
    the first one's fetch instead of fetching it again; both topics get the entry."""
    async with Origin() as site:
        settings, _ = two_topics_one_story(site)
        store = MemoryStore()
        async with Fetcher(user_agent="t", concurrency=8, per_host=4) as fetcher:
            reports = await Pipeline(settings, store, fetcher, cpu).refresh_all()
        assert [r.new for r in reports] == [1, 1]
        assert site.hits[MOON] == 1
        for topic in ("a", "b"):
            assert [e.title for e in await store.topic_articles(topic, 10)] == [STORIES[MOON][0]]


async def test_shared_fetch_survives_the_cancellation_of_one_poll(cpu: CpuPool) -> None:
    """One of two polls waiting for the same story is cancelled (a config reload, a
    shutdown): the fetch goes on for the other, which stores the story."""
    async with Origin() as site:
        settings, requested = two_topics_one_story(site)
        store = MemoryStore()
        async with Fetcher(user_agent="t", concurrency=8, per_host=4) as fetcher:
            pipeline = Pipeline(settings, store, fetcher, cpu)
            first, second = (asyncio.create_task(pipeline.refresh_source(s))
                             for s in settings.all_sources())
            await asyncio.wait_for(requested.wait(), 5.0)
            # both polls are waiting for the one load (a load nobody waits for any
            # more is cancelled, so cancelling the first too early would end it)
            for _ in range(400):
                if any(load.waiters == 2 for load in pipeline._inflight.values()):
                    break
                await asyncio.sleep(0.005)
            else:
                pytest.fail("the second poll never waited for the shared load")
            first.cancel()
            report = await second
            with pytest.raises(asyncio.CancelledError):
                await first
        assert report.new == 1 and site.hits[MOON] == 1
        assert [e.title for e in await store.topic_articles("b", 10)] == [STORIES[MOON][0]]


async def test_entry_aged_out_of_one_topic_stays_out_when_another_topic_stores_it(
    cpu: CpuPool,
) -> None:
    """Topic a's entry expires (retention 1 d). Later topic b links the same story for
    the first time and stores it again: that must not make topic a forget it had the
    story, or a's next poll would bring the aged-out entry back as new."""
    now = [1_800_000_000.0]
    async with Origin() as site:
        site.routes[MOON] = article_page(*STORIES[MOON])
        site.routes["/a.html"] = index_page([MOON])
        site.routes["/b.html"] = index_page([])
        settings = make_settings({
            "a": {"retention": "1d", "sources": [{"url": site.url("/a.html"), "robots": False}]},
            "b": {"retention": "30d", "sources": [{"url": site.url("/b.html"), "robots": False}]},
        })
        store = MemoryStore(clock=lambda: now[0])
        a, b = (settings.topics[t].sources[0] for t in ("a", "b"))
        async with Fetcher(user_agent="t", concurrency=4, per_host=2) as fetcher:
            pipeline = Pipeline(settings, store, fetcher, cpu, clock=lambda: now[0])
            assert (await pipeline.refresh_source(a)).new == 1
            now[0] += 3 * 86400  # the story has aged out of topic a (and of the store)
            await store.prune("a", seen_before=now[0] - 86400, keep=100)
            assert (await pipeline.refresh_source(a)).new == 0
            site.routes["/b.html"] = index_page([MOON])
            assert (await pipeline.refresh_source(b)).new == 1
            assert (await pipeline.refresh_source(a)).new == 0
        state = await store.get_state(site.url(MOON))
        assert state is not None and set(state.topics) == {"a", "b"}
        assert await store.topic_articles("a", 10) == []


class SlowAdd(MemoryStore):
    """A store whose add_article takes a while, as a round-trip to Redis does."""

    async def add_article(self, topic: str, article: Article, *,
                          retention: float | None = None) -> bool:
        await asyncio.sleep(0.05)
        return await super().add_article(topic, article, retention=retention)


async def test_two_polls_entering_one_stored_story_both_record_their_topic(
    cpu: CpuPool,
) -> None:
    """A story stored under topic c is linked by topics a and b, polled at the same
    time: the link's state must end up listing all three topics."""
    async with Origin() as site:
        site.routes[MOON] = article_page(*STORIES[MOON])
        for name in "abc":
            site.routes[f"/{name}.html"] = index_page([MOON])
        settings = make_settings({
            name: {"sources": [{"url": site.url(f"/{name}.html"), "robots": False}]}
            for name in "abc"
        })
        store = SlowAdd()
        async with Fetcher(user_agent="t", concurrency=4, per_host=4) as fetcher:
            pipeline = Pipeline(settings, store, fetcher, cpu)
            assert (await pipeline.refresh_source(settings.topics["c"].sources[0])).new == 1
            reports = await pipeline.refresh_all(["a", "b"])
        assert [r.new for r in reports] == [1, 1]
        state = await store.get_state(site.url(MOON))
        assert state is not None and set(state.topics) == {"a", "b", "c"}


async def test_replicas_entering_stored_stories_at_once_keep_every_topic(
    cpu: CpuPool, redis_url: str
) -> None:
    """Two replicas on one Redis, each polling three topics at once, all linking the
    same stored stories: every link's state ends up listing all seven topics. Entering a
    link is one atomic update; read-then-write lets one replica's write drop the topic
    the other wrote between its read and its write."""
    topics = "abcdefg"
    async with Origin() as site:
        for path, story in STORIES.items():
            site.routes[path] = article_page(*story)
        for name in topics:
            site.routes[f"/{name}.html"] = index_page(list(STORIES))
        settings = make_settings({
            name: {"sources": [{"url": site.url(f"/{name}.html"), "robots": False}]}
            for name in topics
        })
        stores = [RedisStore.from_url(redis_url) for _ in range(2)]
        try:
            async with Fetcher(user_agent="t", concurrency=8, per_host=8) as fetcher:
                one, two = (Pipeline(settings, s, fetcher, cpu) for s in stores)
                first = await one.refresh_source(settings.topics["a"].sources[0])
                assert first.new == len(STORIES)
                reports = await asyncio.gather(
                    one.refresh_all(["b", "c", "d"]), two.refresh_all(["e", "f", "g"])
                )
            assert [r.new for rs in reports for r in rs] == [len(STORIES)] * 6
            for path in STORIES:
                state = await stores[0].get_state(site.url(path))
                assert state is not None and sorted(state.topics) == list(topics), path
        finally:
            for s in stores:
                await s.close()


async def test_renamed_topic_or_widened_filter_fetches_its_unchanged_source_again(
    cpu: CpuPool,
) -> None:
    """The index has not changed (it would answer 304), but the config that polled it
    has: the topic was renamed, then its follow pattern widened. Each time the source is
    fetched in full once, so the new topic (or filter) gets the index's links."""
    index = index_page(list(STORIES)).encode()
    async with Origin() as site:
        for path, story in STORIES.items():
            site.routes[path] = article_page(*story)
        site.routes["/i.html"] = conditional(lambda: index, "text/html; charset=utf-8")

        def settings(topic: str, follow: str) -> Any:
            return make_settings({topic: {"sources": [
                {"url": site.url("/i.html"), "robots": False, "follow": follow}]}})

        store = MemoryStore()
        async with Fetcher(user_agent="t", concurrency=4, per_host=4) as fetcher:
            async def poll(config: Any, topic: str) -> int:
                pipeline = Pipeline(config, store, fetcher, cpu)
                return (await pipeline.refresh_source(config.topics[topic].sources[0])).new

            assert await poll(settings("superpowers", "Moon"), "superpowers") == 1
            assert await poll(settings("superpowers", "Moon"), "superpowers") == 0
            state = await store.get_state(site.url("/i.html"))
            assert state is not None and state.last_status == 304  # validators still hold
            assert await poll(settings("renamed", "Moon"), "renamed") == 1
            assert await poll(settings("renamed", "/reports/"), "renamed") == len(STORIES) - 1
            assert await poll(settings("renamed", "/reports/"), "renamed") == 0
        assert len(await store.topic_articles("renamed", 10)) == len(STORIES)


@pytest.mark.parametrize("one_topic", [False, True])
async def test_one_index_polled_through_two_filters(cpu: CpuPool, one_topic: bool) -> None:
    """The same section page is polled through different follow patterns, for two topics
    or for one. Each source has its own validators: the second poll must not get a 304
    because the first stored the page's ETag (its topic would never see the page's
    links), and neither may overwrite the other's (no poll would be conditional)."""
    async with Origin() as site:
        for path in (MOON, NAVY):
            site.routes[path] = article_page(*STORIES[path])
        body = index_page([MOON, NAVY]).encode()
        site.routes["/index.html"] = conditional(lambda: body, "text/html; charset=utf-8")
        moon = {"url": site.url("/index.html"), "robots": False, "follow": "Moon"}
        navy = {"url": site.url("/index.html"), "robots": False, "follow": "[Nn]avy"}
        settings = make_settings(
            {"news": {"sources": [moon, navy]}} if one_topic
            else {"moon": {"sources": [moon]}, "navy": {"sources": [navy]}}
        )
        store = MemoryStore()
        async with Fetcher(user_agent="t", concurrency=4, per_host=2) as fetcher:
            pipeline = Pipeline(settings, store, fetcher, cpu)
            for _ in range(2):  # one after the other: the second round gets two 304s
                for source in settings.all_sources():
                    assert (await pipeline.refresh_source(source)).outcome != "failed"
        if one_topic:
            assert {a.url for a in await store.topic_articles("news", 5)} == {
                site.url(MOON), site.url(NAVY)}
        else:
            for topic, path in (("moon", MOON), ("navy", NAVY)):
                assert [a.url for a in await store.topic_articles(topic, 5)] == [site.url(path)]
        assert origin_statuses(site, "/index.html") == ["", "", "etag", "etag"]


async def test_a_poll_arriving_as_an_abandoned_load_is_cancelled_starts_its_own(
    cpu: CpuPool,
) -> None:
    """The only poll waiting for a story is cancelled, and in the same instant another
    poll asks for the story: it must start a load of its own, not join the one being
    cancelled (it would be cancelled with it)."""
    async with Origin() as site:
        settings, requested = two_topics_one_story(site)
        store = MemoryStore()
        a, b = settings.all_sources()
        hint = LinkHint(url=site.url(MOON))
        async with Fetcher(user_agent="t", concurrency=8, per_host=4) as fetcher:
            pipeline = Pipeline(settings, store, fetcher, cpu)
            first = asyncio.create_task(pipeline._fetch_article(
                settings.topics["a"], a, hint.url, hint, time.time()))
            await asyncio.wait_for(requested.wait(), 5.0)
            first.cancel()
            second = asyncio.create_task(pipeline._fetch_article(
                settings.topics["b"], b, hint.url, hint, time.time()))
            assert await asyncio.wait_for(second, 10.0) == site.url(MOON)
            assert first.cancelled()
        assert [e.url for e in await store.topic_articles("b", 5)] == [site.url(MOON)]


async def test_failed_article_retried_after_backoff_while_index_is_304(cpu: CpuPool) -> None:
    title, dateline, paras = STORIES[NAVY]
    async with Origin() as site:
        site.routes["/index.html"] = conditional(
            lambda: index_page([NAVY]).encode(), "text/html; charset=utf-8")
        site.routes[NAVY] = Route("busy", status=503)
        settings = make_settings({"t": {"sources": [{"url": site.url("/index.html"),
                                                      "robots": False}]}})
        store = MemoryStore()
        now = [1_800_000_000.0]
        async with Fetcher(user_agent="t", concurrency=4, per_host=2) as fetcher:
            pipeline = Pipeline(settings, store, fetcher, cpu, clock=lambda: now[0])
            source = settings.topics["t"].sources[0]
            first = await pipeline.refresh_source(source)
            assert (first.new, first.failed_articles) == (0, 1)
            site.routes[NAVY] = article_page(title, dateline, paras)  # the origin recovers
            # still inside the article's backoff: the index is 304 and nothing is fetched
            now[0] += 10
            second = await pipeline.refresh_source(source)
            assert site.hits[NAVY] == 1 and second.failed_articles == 1
            # backoff over: retried although the index answers 304
            now[0] += 3600
            third = await pipeline.refresh_source(source)
        assert third.new == 1 and site.hits[NAVY] == 2
        assert origin_statuses(site, "/index.html") == ["", "etag", "etag"]


async def test_scheduled_poll_honours_a_stored_retry_after(cpu: CpuPool) -> None:
    """A Retry-After window stored by an earlier run holds even when the scheduler could
    not read it at start (the store was down then): the scheduled poll skips the source
    until it ends. ``crawl --once`` (refresh_source) still polls it on demand."""
    async with Origin({"/index.html": index_page([])}) as site:
        settings = make_settings({"t": {"sources": [{"url": site.url("/index.html"),
                                                      "robots": False}]}})
        source = settings.topics["t"].sources[0]
        store = MemoryStore()
        now = 1_800_000_000.0
        await store.put_state(source.state_key, FetchState(
            error_count=1, last_error="HTTP 429", next_due=now + 3600))
        async with Fetcher(user_agent="t", concurrency=4, per_host=2) as fetcher:
            pipeline = Pipeline(settings, store, fetcher, cpu, clock=lambda: now)
            assert await pipeline.poll(source) == now + 3600
            assert site.hits["/index.html"] == 0
            assert pipeline.reports[source.state_key].error == "backing off: HTTP 429"
            assert (await pipeline.refresh_source(source)).outcome == "unchanged"
            assert site.hits["/index.html"] == 1


async def test_a_429_on_one_article_holds_back_the_rest_of_its_host(cpu: CpuPool) -> None:
    """An origin answering 429 to one article is not asked for the others in the same
    poll; they wait out its Retry-After like the first and are retried after it."""
    busy = Route("slow down", status=429, headers={"Retry-After": "600"})
    async with Origin({"/index.html": index_page([MOON, NAVY, SAT]),
                       MOON: busy, NAVY: busy, SAT: busy}) as site:
        settings = make_settings({"t": {"sources": [{"url": site.url("/index.html"),
                                                      "robots": False}]}})
        store = MemoryStore()
        async with Fetcher(user_agent="t", concurrency=4, per_host=1) as fetcher:
            pipeline = Pipeline(settings, store, fetcher, cpu)
            started = time.time()
            report = await pipeline.refresh_source(settings.topics["t"].sources[0])
        assert report.failed_articles == 3
        assert sum(site.hits[p] for p in (MOON, NAVY, SAT)) == 1
        for path in (MOON, NAVY, SAT):
            state = await store.get_state(site.url(path))
            assert state is not None and state.next_due >= started + 590


def _clocked_topic(site: Origin, retention: str) -> tuple[Settings, MemoryStore, SourceConfig, list[float]]:
    """Topic "t" of one index page, ``/index.html`` of ``site``, and a store on a clock
    the test moves (``now[0]``)."""
    settings = make_settings({"t": {"retention": retention, "sources": [
        {"url": site.url("/index.html"), "robots": False}]}})
    now = [time.time()]
    return settings, MemoryStore(clock=lambda: now[0]), settings.topics["t"].sources[0], now


async def test_retention_runs_out_in_a_quiet_topic(cpu: CpuPool) -> None:
    """An entry past its retention leaves the feed at the next poll, even one that finds
    nothing new (its index answers 304), and the topic's version moves so every replica
    renders the feed again."""
    async with Origin() as site:
        site.routes["/index.html"] = conditional(
            lambda: index_page([MOON]).encode(), "text/html; charset=utf-8")
        site.routes[MOON] = article_page(*STORIES[MOON])
        settings, store, source, now = _clocked_topic(site, "7d")
        async with Fetcher(user_agent="t", concurrency=4, per_host=2) as fetcher:
            pipeline = Pipeline(settings, store, fetcher, cpu, clock=lambda: now[0])
            assert (await pipeline.refresh_source(source)).new == 1
            version = (await store.topic_versions(["t"]))["t"]
            now[0] += 8 * 86400
            assert (await pipeline.refresh_source(source)).outcome == "unchanged"
        assert origin_statuses(site, "/index.html") == ["", "etag"]
        assert await store.topic_articles("t", 10) == []
        assert (await store.topic_versions(["t"]))["t"] != version


@pytest.mark.parametrize("backing_off", [False, True])
async def test_retention_runs_out_while_the_only_source_fails(
    cpu: CpuPool, backing_off: bool,
) -> None:
    """A topic whose one source is down still loses what is past its retention, at each
    poll that fails and each the backoff skips (operator review, session 6: entries were
    served a day past a 60 s retention while the origin was down)."""
    async with Origin() as site:
        site.routes["/index.html"] = index_page([MOON])
        site.routes[MOON] = article_page(*STORIES[MOON])
        settings, store, source, now = _clocked_topic(site, "1h")
        async with Fetcher(user_agent="t", concurrency=4, per_host=2) as fetcher:
            pipeline = Pipeline(settings, store, fetcher, cpu, clock=lambda: now[0])
            assert (await pipeline.refresh_source(source)).new == 1
            site.routes["/index.html"] = Route("down", status=503, headers={"Retry-After": "7200"})
            if backing_off:
                assert (await pipeline.refresh_source(source)).outcome == "failed"
            now[0] += 5400  # past the retention, inside the origin's Retry-After
            report = await pipeline.refresh_source(source, honour_backoff=backing_off)
        assert report.outcome == "failed"
        assert ("backing off" in (report.error or "")) is backing_off
        assert await store.topic_articles("t", 10) == []


async def test_a_source_urls_credentials_never_reach_the_feed(cpu: CpuPool) -> None:
    """``http://user:pass@host/index.html``: the index's article links are fetched with
    those credentials, yet neither entry ids, links nor the stories carry them."""
    import base64

    pages = {"/index.html": index_page([MOON, NAVY]),
             **{path: article_page(*STORIES[path]).replace(
                 "</font>\n<p>", '</font>\n<p><a href="/more.html">More</a></p><p>', 1)
                for path in (MOON, NAVY)}}
    expected = "Basic " + base64.b64encode(b"bob:s3cret").decode()

    async def protected(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != expected:
            return web.Response(status=401, text="who are you?")
        return web.Response(text=pages[request.path], content_type="text/html")

    async with Origin({path: protected for path in pages}) as site:
        source_url = site.url("/index.html").replace("http://", "http://bob:s3cret@")
        settings = make_settings({"t": {"sources": [{"url": source_url, "robots": False}]}})
        store = MemoryStore()
        app = create_app(settings, store=store, cpu=cpu, start_scheduler=False)
        async with app_client(app) as client:
            report = await app[LIVE].pipeline.refresh_source(settings.topics["t"].sources[0])
            assert report.new == 2 and report.failed_articles == 0
            body = await (await client.get("/feeds/t.atom")).read()
    parsed = check_atom(body)
    assert sorted(e.id for e in parsed.entries) == sorted([site.url(MOON), site.url(NAVY)])
    assert site.url("/more.html") in body.decode()  # the story's own link, made absolute
    assert b"s3cret" not in body and b"bob" not in body


def with_canonical(page: str, href: str) -> str:
    return page.replace("</head>", f'<link rel="canonical" href="{href}"></head>', 1)


async def test_a_story_reached_by_another_link_keeps_its_stored_content(cpu: CpuPool) -> None:
    """Topic b links a variant of a story topic a stored, and the page names the stored
    URL as canonical: b enters the stored story as it is. Rewriting it would leave a's
    rendered feed stale (its version does not move) and replicas disagreeing."""
    title, dateline, paras = STORIES[MOON]
    async with Origin() as site:
        site.routes[MOON] = with_canonical(article_page(title, dateline, paras), MOON)
        site.routes["/a.html"] = index_page([MOON])
        site.routes["/b.html"] = index_page([MOON + "?from=b"])
        settings = make_settings({
            name: {"sources": [{"url": site.url(f"/{name}.html"), "robots": False}]}
            for name in ("a", "b")})
        store = MemoryStore()
        async with Fetcher(user_agent="t", concurrency=4, per_host=2) as fetcher:
            pipeline = Pipeline(settings, store, fetcher, cpu)
            assert (await pipeline.refresh_source(settings.topics["a"].sources[0])).new == 1
            stored = await store.get_article(site.url(MOON))
            assert stored is not None
            site.routes[MOON] = with_canonical(
                article_page(title, dateline, [*paras, "A later paragraph."]), MOON)
            assert (await pipeline.refresh_source(settings.topics["b"].sources[0])).new == 1
        assert site.hits[MOON] == 2
        assert await store.get_article(site.url(MOON)) == stored
        assert await store.topic_articles("b", 5) == [stored]


async def test_a_link_redirecting_within_its_site_is_the_story_it_lands_on(cpu: CpuPool) -> None:
    """The index links /r/123, which redirects to the story the feed links directly:
    one entry, named by where the link lands, even when the page changed in between
    (its text fingerprint, the other guard, then differs). A redirect to the home page
    (a removed story) names nothing."""
    title, dateline, paras = STORIES[MOON]
    async with Origin() as site:
        site.routes[MOON] = article_page(title, dateline, paras)
        site.routes["/r/123"] = redirect(MOON)
        site.routes["/r/gone"] = redirect("/")
        site.routes["/"] = article_page(*STORIES[NAVY])
        site.routes["/index.html"] = index_page(["/r/123", "/r/gone"])
        site.routes["/feed.xml"] = rss(site.base_url, [(MOON, title, datetime(2017, 2, 14, tzinfo=UTC))])
        settings = make_settings({"t": {"sources": [
            {"url": site.url("/index.html"), "robots": False},
            {"url": site.url("/feed.xml"), "kind": "feed", "robots": False}]}})
        store = MemoryStore()
        async with Fetcher(user_agent="t", concurrency=4, per_host=2) as fetcher:
            pipeline = Pipeline(settings, store, fetcher, cpu)
            first, second = settings.topics["t"].sources
            await pipeline.refresh_source(first)
            site.routes[MOON] = article_page(title, dateline, [*paras, "An update."])
            await pipeline.refresh_source(second)
        assert sorted(a.url for a in await store.topic_articles("t", 5)) == sorted(
            [site.url(MOON), site.url("/r/gone")])


async def test_a_canonical_naming_the_home_page_is_not_trusted(cpu: CpuPool) -> None:
    """A misconfigured CMS gives every page rel=canonical "/": taken at its word, every
    story would be one entry. Each keeps its own URL."""
    async with Origin() as site:
        for path in (MOON, NAVY, SAT):
            site.routes[path] = with_canonical(article_page(*STORIES[path]), "/")
        site.routes["/index.html"] = index_page([MOON, NAVY, SAT])
        settings = make_settings({"t": {"sources": [{"url": site.url("/index.html"),
                                                      "robots": False}]}})
        store = MemoryStore()
        async with Fetcher(user_agent="t", concurrency=4, per_host=2) as fetcher:
            pipeline = Pipeline(settings, store, fetcher, cpu)
            assert (await pipeline.refresh_source(settings.topics["t"].sources[0])).new == 3
        assert sorted(a.url for a in await store.topic_articles("t", 5)) == \
            sorted(site.url(p) for p in (MOON, NAVY, SAT))


async def test_a_story_dated_in_the_future_is_dated_when_found(cpu: CpuPool) -> None:
    """A page (and its feed item) dated months ahead, a year's typo or a zone mix-up:
    the story cannot have been published after we found it, so it is dated then, not
    pinned to the top of the feed with the feed's atom:updated ahead of the clock; and
    its feed date does not make every poll fetch it again."""
    ahead = datetime.now(UTC).replace(microsecond=0) + timedelta(days=200)
    title, dateline, paras = STORIES[MOON]
    page = article_page(title, dateline, paras).replace(
        "</head>", f'<meta property="article:published_time" content="{ahead.isoformat()}">'
                   "</head>", 1)
    async with Origin() as site:
        site.routes[MOON] = conditional(lambda: page.encode(), "text/html; charset=utf-8")
        site.routes["/feed.xml"] = conditional(
            lambda: rss(site.base_url, [(MOON, title, ahead)]).encode(), "application/rss+xml")
        settings = make_settings({"t": {"sources": [{"url": site.url("/feed.xml"),
                                                      "kind": "feed", "robots": False}]}})
        store = MemoryStore()
        async with Fetcher(user_agent="t", concurrency=4, per_host=2) as fetcher:
            pipeline = Pipeline(settings, store, fetcher, cpu)
            before = datetime.now(UTC)
            assert (await pipeline.refresh_source(settings.topics["t"].sources[0])).new == 1
            after = datetime.now(UTC)
            site.routes["/feed.xml"] = rss(site.base_url, [(MOON, title, ahead)])  # no 304
            await pipeline.refresh_source(settings.topics["t"].sources[0])
        [stored] = await store.topic_articles("t", 5)
        assert before - timedelta(seconds=1) <= stored.published <= after
        assert stored.updated is None or stored.updated <= after
        assert site.hits[MOON] == 1


async def test_a_link_retried_while_its_feed_is_304_keeps_the_feeds_date(cpu: CpuPool) -> None:
    """A feed item whose page failed is retried while the feed answers 304, with what
    the feed said of it: a page with no date of its own is dated by the feed's item,
    not by the retry."""
    dated = datetime(2017, 2, 14, 10, tzinfo=UTC)
    page = ("<html><head><title>Undated</title></head><body><article><h1>Undated</h1>"
            + "<p>A story whose page carries no date at all, told at length.</p>" * 12
            + "</article></body></html>")
    async with Origin() as site:
        site.routes["/feed.xml"] = conditional(
            lambda: rss(site.base_url, [("/s.html", "Undated", dated)]).encode(),
            "application/rss+xml")
        site.routes["/s.html"] = Route("busy", status=503)
        settings = make_settings({"t": {"sources": [{"url": site.url("/feed.xml"),
                                                      "kind": "feed", "robots": False}]}})
        store = MemoryStore()
        now = [time.time()]
        async with Fetcher(user_agent="t", concurrency=4, per_host=2) as fetcher:
            pipeline = Pipeline(settings, store, fetcher, cpu, clock=lambda: now[0])
            source = settings.topics["t"].sources[0]
            assert (await pipeline.refresh_source(source)).failed_articles == 1
            site.routes["/s.html"] = page
            now[0] += 3600  # past the link's backoff
            assert (await pipeline.refresh_source(source)).new == 1
        assert origin_statuses(site, "/feed.xml") == ["", "etag"]
        [stored] = await store.topic_articles("t", 5)
        assert stored.published == dated


async def test_a_raised_retention_keeps_stored_stories_longer(cpu: CpuPool) -> None:
    """Retention raised from 10 to 90 days (a reload, or a restart on an edited file):
    stories stored under 10 days stay until 90, instead of vanishing at 11 while their
    links, remembered as entered, are never fetched again."""
    async with Origin() as site:
        site.routes["/index.html"] = conditional(
            lambda: index_page([MOON]).encode(), "text/html; charset=utf-8")
        site.routes[MOON] = article_page(*STORIES[MOON])
        now = [time.time()]
        store = MemoryStore(clock=lambda: now[0])

        def settings(retention: str) -> Settings:
            return make_settings({"t": {"retention": retention, "sources": [
                {"url": site.url("/index.html"), "robots": False}]}})

        async with Fetcher(user_agent="t", concurrency=4, per_host=2) as fetcher:
            short = settings("10d")
            pipeline = Pipeline(short, store, fetcher, cpu, clock=lambda: now[0])
            assert (await pipeline.refresh_source(short.topics["t"].sources[0])).new == 1
            now[0] += 86400
            longer = settings("90d")
            pipeline = Pipeline(longer, store, fetcher, cpu, clock=lambda: now[0])
            await pipeline.refresh_source(longer.topics["t"].sources[0])
            now[0] += 30 * 86400
            await pipeline.refresh_source(longer.topics["t"].sources[0])
        assert [a.url for a in await store.topic_articles("t", 5)] == [site.url(MOON)]
        assert site.hits[MOON] == 1


async def test_a_page_that_kills_the_extraction_process_fails_alone(cpu: CpuPool) -> None:
    """A page on which the extraction process dies, and its replacement too: that
    article fails and backs off like any other; the poll and its other articles go on."""
    from concurrent.futures.process import BrokenProcessPool

    from feedsvc.extractor import extract_in_worker

    class DiesOnBadPages:
        """The real pool, except that extracting a /bad/ page kills it (as a segfault in
        a C parser would, each time)."""

        async def run(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            if fn is extract_in_worker and "/bad/" in args[1]:
                raise BrokenProcessPool("a process in the pool was terminated abruptly")
            return await cpu.run(fn, *args, **kwargs)

    async with Origin({"/index.html": index_page([MOON, "/bad/page.html"]),
                       MOON: article_page(*STORIES[MOON]),
                       "/bad/page.html": article_page(*STORIES[NAVY])}) as site:
        settings = make_settings({"t": {"sources": [{"url": site.url("/index.html"),
                                                      "robots": False}]}})
        store = MemoryStore()
        async with Fetcher(user_agent="t", concurrency=4, per_host=2) as fetcher:
            pipeline = Pipeline(settings, store, fetcher, DiesOnBadPages())  # type: ignore[arg-type]
            report = await pipeline.refresh_source(settings.topics["t"].sources[0])
        assert (report.outcome, report.new, report.failed_articles) == ("new", 1, 1)
        state = await store.get_state(site.url("/bad/page.html"))
        assert state is not None and state.error_count == 1
        assert "extraction process crashed" in (state.last_error or "")


async def test_a_url_made_shared_by_a_reload_keeps_its_retry_after(cpu: CpuPool) -> None:
    """One URL, now polled by two topics, keeps a state per source; the Retry-After its
    origin gave while only one topic polled it sits under the URL's own key, and the
    scheduled polls honour it."""
    async with Origin({"/index.html": index_page([])}) as site:
        url = site.url("/index.html")
        settings = make_settings({name: {"sources": [{"url": url, "robots": False}]}
                                  for name in ("a", "b")})
        now = 1_800_000_000.0
        store = MemoryStore()
        await store.put_state(url, FetchState(error_count=1, last_error="HTTP 429",
                                              next_due=now + 3600))
        async with Fetcher(user_agent="t", concurrency=4, per_host=2) as fetcher:
            pipeline = Pipeline(settings, store, fetcher, cpu, clock=lambda: now)
            for topic in ("a", "b"):
                source = settings.topics[topic].sources[0]
                assert source.state_key != url
                assert await pipeline.poll(source) == now + 3600
        assert site.hits["/index.html"] == 0


def origin_statuses(site: Origin, path: str) -> list[str]:
    """Per request to ``path``: whether it carried our stored validator."""
    return ["etag" if h.get("If-None-Match") else "" for h in site.headers_of(path)]


async def test_entry_pruned_by_max_entries_does_not_come_back(store: Store, cpu: CpuPool) -> None:
    extra = {"n": 0}
    async with Origin() as site:
        for path, (title, dateline, paras) in STORIES.items():
            site.routes[path] = article_page(title, dateline, paras)
        # the index changes on every poll (a counter), so it is never a 304
        site.routes["/index.html"] = conditional(
            lambda: (index_page(list(STORIES)) + f"<!-- {extra['n']} -->").encode(),
            "text/html; charset=utf-8")
        settings = make_settings({"t": {"max_entries": 2, "sources": [
            {"url": site.url("/index.html"), "robots": False}]}})
        first = await crawl(settings, store, cpu)
        assert first["index.html"].new == 3
        shown = {a.url for a in await store.topic_articles("t", 10)}
        assert len(shown) == 2  # the oldest was pruned
        # ... and is stored no more, nor its page: no feed shows it (it was kept until
        # its retention ran out); the link's state remembers it was entered
        links = [site.url(p) for p in STORIES]
        stored = {a.url for a in await store.get_articles(links) if a is not None}
        assert stored == shown
        assert {u for u in links if await store.get_page(u) is not None} == shown
        assert all(s is not None and "t" in s.topics for s in await store.get_states(links))
        version = (await store.topic_versions(["t"]))["t"]
        for n in range(2):
            extra["n"] = n + 1
            again = await crawl(settings, store, cpu)
            assert again["index.html"].new == 0
        assert (await store.topic_versions(["t"]))["t"] == version  # no churn, no re-render
        assert all(site.hits[p] == 1 for p in STORIES)


async def test_metrics_count_each_stored_article(origin: Origin, cpu: CpuPool) -> None:
    from feedsvc.metrics import Metrics

    settings = site_settings(origin)
    metrics = Metrics()
    store = MemoryStore()
    async with Fetcher(user_agent="t", concurrency=8, per_host=2) as fetcher:
        reports = await Pipeline(settings, store, fetcher, cpu, metrics=metrics).refresh_all()
    text = metrics.render().decode()
    stored = len(await store.topic_articles("superpowers", 50))
    assert stored == sum(r.new for r in reports) >= 3
    assert f'feedsvc_articles_stored_total{{topic="superpowers"}} {float(stored)}' in text
    assert 'feedsvc_fetches_total{host="127.0.0.1:' in text


@pytest.mark.parametrize(("retention", "kept"), [("2d", True), (0, False)])
async def test_page_retention(cpu: CpuPool, retention: object, kept: bool) -> None:
    """Pages are kept (for re-extraction) as long as service.page_retention says; 0 keeps
    none, for users who would rather halve the store than re-extract."""
    title, dateline, paras = STORIES[NAVY]
    async with Origin({"/index.html": index_page([NAVY]),
                       NAVY: article_page(title, dateline, paras)}) as site:
        settings = make_settings({"t": {"sources": [
            {"url": site.url("/index.html"), "robots": False}]}}, page_retention=retention)
        store = MemoryStore()
        await crawl(settings, store, cpu)
    assert len(await store.topic_articles("t", 10)) == 1
    packed = await store.get_page(site.url(NAVY))
    assert (packed is not None) is kept
    if packed is not None:
        page = packed.unpack()
        assert page[0].startswith(b"<!DOCTYPE html>") and page[1] == "text/html; charset=utf-8"
        assert store._pages[site.url(NAVY)][1] - time.time() == pytest.approx(2 * 86400, abs=60)


async def test_a_page_lives_no_longer_than_its_article(cpu: CpuPool) -> None:
    """A page is read only to re-extract its article: with a 10-minute retention it went
    on taking memory for 14 days (operator review, session 6). It now goes with the
    article (retention, plus the store's one-day margin)."""
    title, dateline, paras = STORIES[NAVY]
    async with Origin({"/index.html": index_page([NAVY]),
                       NAVY: article_page(title, dateline, paras)}) as site:
        settings = make_settings({"t": {"retention": "10m", "sources": [
            {"url": site.url("/index.html"), "robots": False}]}})
        store = MemoryStore()
        await crawl(settings, store, cpu)
    assert await store.get_page(site.url(NAVY)) is not None
    page_life = store._pages[site.url(NAVY)][1] - time.time()
    article_life = store._articles[site.url(NAVY)][1] - time.time()
    assert page_life == pytest.approx(600 + 86400, abs=60)
    assert page_life <= article_life + 1


async def test_poll_reads_its_links_state_in_batches(cpu: CpuPool, redis_url: str) -> None:
    """Polling a feed of many known links costs a few Redis reads, not two per link:
    sequential round-trips made a cold crawl's first entries appear seconds late while
    the loop was busy serving feeds (issue #3 item 2)."""
    import redis

    def page(i: int) -> bytes:
        return article_page(f"Story number {i}", "PARIS (AFP) Feb 16, 2017",
                            [f"Paragraph {i} of a story about {i} things. " * 6] * 3).encode()

    count = {"n": 60}
    async with Origin() as site:
        for i in range(70):
            site.routes[f"/s/{i}.html"] = Route(page(i), content_type="text/html; charset=utf-8")
        site.routes["/feed.xml"] = conditional(lambda: rss(site.base_url, [
            (f"/s/{i}.html", f"Story number {i}", datetime(2017, 2, 16, tzinfo=UTC))
            for i in range(count["n"])]).encode(), "application/rss+xml")
        settings = make_settings({"t": {"sources": [
            {"url": site.url("/feed.xml"), "kind": "feed", "robots": False}]}})
        store = RedisStore.from_url(redis_url)
        client = redis.Redis.from_url(redis_url)
        try:
            await crawl(settings, store, cpu)
            assert len(await store.topic_articles("t", 100)) == 50  # max_entries
            count["n"] = 61  # one new item: the feed is parsed again, 60 links known
            client.config_resetstat()  # our private server
            await crawl(settings, store, cpu)
            stats = client.info("commandstats")
            reads = sum(stats.get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("get", "mget"))
            assert site.hits["/s/60.html"] == 1 and all(site.hits[f"/s/{i}.html"] == 1 for i in range(60))
            assert reads < 15, stats
        finally:
            client.close()
            await store.close()


@pytest.mark.parametrize("allow", [False, True])
async def test_a_feed_cannot_send_us_to_an_internal_address(cpu: CpuPool, allow: bool) -> None:
    """A feed item (or a redirect) pointing at a host on a non-public address, such as
    the cloud metadata service, must not be fetched and published (security review,
    session 6). Here "localhost" stands for it: the source is on 127.0.0.1, which the
    config names. Naming the host in ``allow_hosts`` lets it through (an intranet)."""
    now = datetime(2017, 2, 16, tzinfo=UTC)
    async with Origin() as origin:
        inside = f"http://localhost:{origin.port}"
        origin.routes["/feed.xml"] = Route(rss("", [
            (f"{origin.base_url}/reports/ok.html", "A story", now),
            (f"{inside}/latest/meta-data/creds", "Not a story", now),
        ]), content_type="application/rss+xml")
        story = ["A long enough story paragraph, with words and commas, for a reader."] * 4
        origin.routes["/reports/ok.html"] = Route(article_page("A story", "Paris (AFP)", story))
        origin.routes["/latest/meta-data/creds"] = Route(article_page(
            "Credentials", "Cloud (AFP)", ["SECRET-KEY-0123 is the instance role's key, here."] * 4))
        source = {"url": f"{origin.base_url}/feed.xml", "kind": "feed"}
        if allow:
            source["allow_hosts"] = ["localhost"]
        settings = make_settings({"news": {"sources": [source]}}, user_agent="feedsvc-test/1.0")
        store = MemoryStore()
        async with Fetcher(user_agent=settings.user_agent, concurrency=4, per_host=2) as fetcher:
            await Pipeline(settings, store, fetcher, cpu).refresh_all()
        texts = " ".join(a.content_html for a in await store.topic_articles("news", 10))
    assert "with words and commas" in texts
    assert ("SECRET-KEY-0123" in texts) is allow
    assert (origin.hits["/latest/meta-data/creds"] == 1) is allow


async def _poll_a_feed_linking(cpu: CpuPool, path: str) -> Origin:
    """Poll, once, a feed whose one item links ``path`` on an origin that has no such
    page; the origin (closed), for its hits."""
    async with Origin() as origin:
        origin.routes["/feed.xml"] = Route(rss(origin.base_url, [
            (path, "A story", datetime(2017, 2, 16, tzinfo=UTC))]), content_type="application/rss+xml")
        settings = make_settings({"news": {"sources": [
            {"url": f"{origin.base_url}/feed.xml", "kind": "feed"}]}}, user_agent="feedsvc-test/1.0")
        async with Fetcher(user_agent=settings.user_agent, concurrency=4, per_host=2) as fetcher:
            await Pipeline(settings, MemoryStore(), fetcher, cpu).refresh_all()
    return origin


async def test_a_failing_article_s_log_line_names_its_url_once(
    cpu: CpuPool, caplog: pytest.LogCaptureFixture,
) -> None:
    """The line read "article URL: URL: HTTP 404" (and the URL three times for a
    refused address), found trying feedsvc on a local origin."""
    origin = await _poll_a_feed_linking(cpu, "/reports/gone.html")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("article ")]
    assert lines == [f"article {origin.base_url}/reports/gone.html: HTTP 404"]


async def test_an_article_link_s_secret_is_not_logged(
    cpu: CpuPool, caplog: pytest.LogCaptureFixture,
) -> None:
    """A failing article's log line named its URL as linked, ``?token=`` and all
    (operator review, session 6)."""
    origin = await _poll_a_feed_linking(cpu, "/a/1.html?token=SECRET1&x=1")
    assert origin.hits["/a/1.html"] == 1
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "404" in logged and "token=***" in logged
    assert "SECRET1" not in logged


async def test_replicas_sharing_a_redis_poll_each_source_once_a_round(
    origin: Origin, cpu: CpuPool, redis_url: str,
) -> None:
    """Two replicas schedule the same sources at the same stored due times: each source
    is polled by one of them per round, and each article fetched once (operator review,
    session 6: every poll came in pairs, and a failure was counted twice)."""
    settings = site_settings(origin)
    index = settings.topics["superpowers"].sources[0]
    stores = [RedisStore.from_url(redis_url) for _ in range(2)]
    try:
        async with Fetcher(user_agent=settings.user_agent, concurrency=8, per_host=2) as fetcher:
            replicas = [Pipeline(settings, store, fetcher, cpu) for store in stores]
            started = time.time()
            dues = await asyncio.gather(*(p.poll(index) for p in replicas))
            reports = [p.reports[index.state_key] for p in replicas]
            assert sorted(r.outcome for r in reports) == ["elsewhere", "new"]
            assert origin.hits["/Superpowers.html"] == 1
            assert all(origin.hits[p] == 1 for p in (MOON, NAVY))
            # the replica that passed waits a round, as the one that polled does
            assert all(d >= started + index.poll_interval * 0.99 for d in dues)
            # the holder renews its claim at its next poll; the other still passes
            holder = replicas[[r.outcome for r in reports].index("new")]
            other = replicas[1 - replicas.index(holder)]
            await holder.poll(index)
            await other.poll(index)
            assert other.reports[index.state_key].outcome == "elsewhere"
            assert origin.hits["/Superpowers.html"] == 2
    finally:
        for store in stores:
            await store.close()


async def test_a_claim_lasts_until_the_next_poll_and_ends_with_its_process(cpu: CpuPool) -> None:
    """A claim that lasted 0.9 of an interval from the poll's start kept a backoff's
    retry, and a restarted process (another owner), waiting a whole interval; a service
    restarted with a shorter interval waited out the old one (final review, session 6)."""
    async with Origin() as site:
        site.routes["/index.html"] = Route("down", status=500)
        settings = make_settings({"t": {"poll_interval": "1h", "sources": [
            {"url": site.url("/index.html"), "robots": False}]}})
        source = settings.topics["t"].sources[0]
        now = [time.time()]
        store = MemoryStore(clock=lambda: now[0])
        async with Fetcher(user_agent="t", concurrency=4, per_host=2) as fetcher:
            first = Pipeline(settings, store, fetcher, cpu, clock=lambda: now[0])
            retry = await first.poll(source)  # fails: backs off about a minute
            assert retry - now[0] < 120
            now[0] = retry
            other = Pipeline(settings, store, fetcher, cpu, clock=lambda: now[0])
            await other.poll(source)  # the retry is due: the claim has run out
            assert other.reports[source.state_key].outcome == "failed"
            assert site.hits["/index.html"] == 2
            site.routes["/index.html"] = index_page([])
            now[0] += 3600
            await other.poll(source)
            assert other.reports[source.state_key].outcome != "elsewhere"
            # healthy: held an hour, but let go when its process stops
            assert not await store.claim(first._claim_name(source), first.owner, ttl=60)
            await other.release_claims()
            await first.poll(source)
        assert first.reports[source.state_key].outcome != "elsewhere"
        assert site.hits["/index.html"] == 4


async def test_a_feed_time_on_the_datelines_day_survives_reextraction(
    store: Store, cpu: CpuPool, tmp_path: Path
) -> None:
    """The feed gives the time of day of a story its dateline dates (extract: "feed hint
    (the dateline's day, with its time)"); a rule change re-extracts the page without a
    feed, and must not put the story back at midnight."""
    sites = tmp_path / "sites"
    sites.mkdir()
    when = datetime(2017, 2, 14, 8, 30, tzinfo=UTC)
    async with Origin() as site, Fetcher(user_agent="t", concurrency=2, per_host=2) as fetcher:
        site.routes["/feed.xml"] = Route(rss(site.base_url, [(MOON, STORIES[MOON][0], when)]),
                                         content_type="application/rss+xml")
        site.routes[MOON] = article_page(*STORIES[MOON])
        settings = replace(make_settings({"t": {"sources": [{
            "url": site.url("/feed.xml"), "kind": "feed", "robots": False}]}}), sites_dir=str(sites))
        pipeline = Pipeline(settings, store, fetcher, cpu)
        assert (await pipeline.refresh_source(settings.topics["t"].sources[0])).new == 1
        [first] = await store.topic_articles("t", 10)
        (sites / "127.0.0.1.txt").write_text("strip: //p[contains(., 'Engineers said')]\n")
        assert await pipeline.reextract_changed() == 1
    [again] = await store.topic_articles("t", 10)
    assert first.dateline == again.dateline == "Houston (AFP)"
    assert first.published == again.published == when
    assert "Engineers said" not in again.content_html


async def test_a_datelines_missing_year_is_the_fetch_times_and_stays_so(
    cpu: CpuPool, tmp_path: Path
) -> None:
    """A Reuters dateline names no year ("WASHINGTON, Dec 31 (Reuters) -"), nor does the
    index or the URL: fetched on New Year's Day (the pipeline's clock), the story is last
    year's Dec 31, not dated by its fetch; extracted again from its stored page near the
    next Dec 31 (a rule change), it does not move to that one."""
    sites = tmp_path / "sites"
    sites.mkdir()
    title, _, paras = STORIES[MOON]
    now = [datetime(2026, 1, 1, 2, tzinfo=UTC).timestamp()]
    async with Origin() as site, Fetcher(user_agent="t", concurrency=2, per_host=2) as fetcher:
        site.routes["/i.html"] = index_page([MOON])
        site.routes[MOON] = article_page(title, "WASHINGTON, Dec 31 (Reuters) -", paras)
        settings = replace(make_settings({"t": {"retention": "400d", "sources": [{
            "url": site.url("/i.html"), "robots": False}]}}, page_retention="400d"),
            sites_dir=str(sites))
        store = MemoryStore(clock=lambda: now[0])
        pipeline = Pipeline(settings, store, fetcher, cpu, clock=lambda: now[0])
        assert (await pipeline.refresh_source(settings.topics["t"].sources[0])).new == 1
        [first] = await store.topic_articles("t", 10)
        now[0] = datetime(2026, 12, 31, 12, tzinfo=UTC).timestamp()
        (sites / "127.0.0.1.txt").write_text("strip: //p[contains(., 'Engineers said')]\n")
        assert await pipeline.reextract_changed() == 1
    [again] = await store.topic_articles("t", 10)
    assert first.dateline == again.dateline == "WASHINGTON, Dec 31 (Reuters)"
    assert first.published == again.published == datetime(2025, 12, 31, tzinfo=UTC)
    assert "Engineers said" not in again.content_html


async def test_a_refresh_does_not_move_the_datelines_story_to_the_feeds_update_time(
    cpu: CpuPool,
) -> None:
    """An Atom feed that gives only <updated> dates its item by it; on the dateline's day
    that time is the story's time of day (extract: "feed hint (the dateline's day, with
    its time)"). A correction later that day, or days later, is an update: the story was
    published when first dated, not at 15:00, nor back at the dateline's midnight."""
    title, dateline, paras = STORIES[MOON]
    page = {"html": article_page(title, dateline, paras)}
    first_time = datetime(2017, 2, 14, 9, tzinfo=UTC)
    async with Origin() as site:
        site.routes[MOON] = conditional(lambda: page["html"].encode(), "text/html; charset=utf-8")
        feed = {"when": first_time}
        site.routes["/atom.xml"] = conditional(
            lambda: atom(site.base_url, [(MOON, title, feed["when"])]).encode(),
            "application/atom+xml")
        settings = make_settings({"t": {"sources": [
            {"url": site.url("/atom.xml"), "kind": "feed", "robots": False}]}})
        store = MemoryStore()
        await crawl(settings, store, cpu)
        first = await store.get_article(site.url(MOON))
        assert first is not None and first.published == first_time
        for n, when in enumerate([datetime(2017, 2, 14, 15, tzinfo=UTC),
                                  datetime(2017, 2, 20, 8, tzinfo=UTC)]):
            page["html"] = article_page(title, dateline, [*paras, f"Correction {n}."])
            feed["when"] = when
            await crawl(settings, store, cpu)
            again = await store.get_article(site.url(MOON))
            assert again is not None and f"Correction {n}." in again.content_html
            assert (again.published, again.updated) == (first_time, when)
