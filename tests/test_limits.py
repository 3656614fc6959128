"""How much of what an origin says an entry keeps (feedsvc.limits): a hostile or broken
origin's megabyte title, byline or story must not reach the store and every reader.
Offline: every origin is a local aiohttp server."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from feedsvc.config import Settings
from feedsvc.cpu import CpuPool
from feedsvc.fetch import Fetcher
from feedsvc.limits import ELLIPSIS, MAX_AUTHOR, MAX_TITLE, trim_text
from feedsvc.models import Article
from feedsvc.pipeline import Pipeline
from feedsvc.render import FeedMeta, render_feed
from feedsvc.store.memory import MemoryStore
from tests.helpers import check_atom, make_settings
from tests.origin import Origin, Route

_pages = itertools.count()
SENTENCE = ("Space agencies from four nations signed an accord on Tuesday to coordinate plans "
            "for a permanent research base near the lunar south pole, officials said.")


@pytest.fixture(scope="module")
def cpu() -> Iterator[CpuPool]:
    pool = CpuPool(2)
    yield pool
    pool.close()


def page(*, title: str = "A normal headline", author: str = "Jane Doe", body: str | None = None,
         head: str = "") -> str:
    """An article page whose story differs from every other's (stories with the same text
    are one entry)."""
    n = next(_pages)
    story = body if body is not None else "".join(
        f"<p>Story {n}, paragraph {i}: {SENTENCE} Figure {n * 7 + i}.</p>" for i in range(6))
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f'<meta name="author" content="{author}">{head}</head>'
            f"<body><article><h1>{title}</h1>{story}</article></body></html>")


def rss(base: str, items: list[tuple[str, str]]) -> str:
    entries = "".join(f"<item><title>{t}</title><link>{base}{p}</link></item>" for p, t in items)
    return ('<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
            f"<link>{base}/</link><description>d</description>{entries}</channel></rss>")


def feed_settings(origin: Origin, **source: object) -> Settings:
    return make_settings({"t": {"sources": [
        {"url": origin.url("/feed.xml"), "kind": "feed", **source}]}}, user_agent="feedsvc-test")


async def crawl(origin: Origin, cpu: CpuPool, items: list[tuple[str, str]],
                **source: object) -> tuple[MemoryStore, dict[str, Article]]:
    origin.routes["/feed.xml"] = Route(rss(origin.base_url, items),
                                       content_type="application/rss+xml")
    settings = feed_settings(origin, **source)
    store = MemoryStore()
    async with Fetcher(user_agent="feedsvc-test", concurrency=8, per_host=4) as fetcher:
        await Pipeline(settings, store, fetcher, cpu).refresh_all()
    stored = await store.topic_articles("t", 100)
    return store, {a.url.removeprefix(origin.base_url): a for a in stored}


def test_trim_text_cuts_on_a_word_boundary_with_an_ellipsis() -> None:
    assert trim_text("short title", 300) == "short title"
    assert trim_text("x" * 300, 300) == "x" * 300
    long = "Moon base plans advance " * 50
    trimmed = trim_text(long, 100)
    assert len(trimmed) <= 100 and trimmed.endswith(ELLIPSIS)
    assert long.startswith(trimmed[:-1]) and long[len(trimmed) - 1] == " "
    # without spaces (a CJK title, a hostile blob): cut where it must be
    assert trim_text("月" * 1000, 100) == "月" * 99 + ELLIPSIS


async def test_megabyte_title_and_byline_are_trimmed(cpu: CpuPool) -> None:
    huge = "word " * 400_000  # 2 MB
    async with Origin({"/robots.txt": Route("", content_type="text/plain"),
                       "/a/title.html": page(title=huge),
                       "/a/author.html": page(author=huge),
                       "/a/untitled.html": page(title="").replace("<title></title>", ""),
                       "/a/normal.html": page()}) as origin:
        _store, stored = await crawl(origin, cpu, [
            ("/a/title.html", "t1"), ("/a/author.html", "t2"),
            # the page has no title: the feed's (2 MB) stands in
            ("/a/untitled.html", "feed " + huge), ("/a/normal.html", "t4"),
        ])
    assert set(stored) == {"/a/title.html", "/a/author.html", "/a/untitled.html",
                           "/a/normal.html"}
    for path in ("/a/title.html", "/a/untitled.html"):
        title = stored[path].title
        assert len(title) <= MAX_TITLE and title.endswith(ELLIPSIS), path
        assert title.startswith("word word") or title.startswith("feed word")
    author = stored["/a/author.html"].author or ""
    assert len(author) <= MAX_AUTHOR and author.endswith(ELLIPSIS)
    assert stored["/a/normal.html"].title == "A normal headline"
    assert stored["/a/normal.html"].author == "Jane Doe"
    feed = render_feed(FeedMeta("t", "t", "d", "http://feeds.test/feeds/t.atom",
                                "http://feeds.test/"), list(stored.values()))
    check_atom(feed.body)
    assert len(feed.body) < 20_000
