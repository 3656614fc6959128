"""How much of what an origin says an entry keeps (feedsvc.limits): a hostile or broken
origin's megabyte title, byline or story must not reach the store and every reader.
Offline: every origin is a local aiohttp server."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path

import lxml.html
import pytest
from aiohttp import web

from feedsvc.config import Settings
from feedsvc.cpu import CpuPool
from feedsvc.discover import discover_feed, discover_index
from feedsvc.extract import canonical_url
from feedsvc.extract.clean import sanitize
from feedsvc.fetch import Fetcher
from feedsvc.limits import (
    ELLIPSIS,
    MAX_AUTHOR,
    MAX_STORY_BYTES,
    MAX_TITLE,
    MAX_URL,
    cut_story,
    relink_note,
    story_bytes,
    story_note,
    trim_text,
)
from feedsvc.models import Article
from feedsvc.pipeline import Pipeline
from feedsvc.render import FeedMeta, render_feed
from feedsvc.store.memory import MemoryStore
from tests.helpers import check_atom, make_settings
from tests.origin import Origin, Route, redirect

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


def whole(fragment: str) -> bool:
    """Whether ``fragment`` is whole HTML as the sanitizer writes it: every element
    closed, nothing left for a parser to repair."""
    return sanitize(fragment) == fragment


@pytest.mark.parametrize("story", [
    # paragraphs in a wrapper, as extraction gives them
    "<div>" + "".join(f"<p>Paragraph {i}: {SENTENCE}</p>" for i in range(400)) + "</div>",
    # one paragraph of text: cut on a space
    "<p>" + f"{SENTENCE} " * 400 + "</p>",
    # links everywhere: a cut may fall inside a tag
    "<ul>" + "".join(f'<li><a href="https://news.test/{i}" rel="noopener noreferrer nofollow">'
                     f"link &amp; more {i}</a></li>" for i in range(1000)) + "</ul>",
    # a table, nested lists and markup deep inside
    "<table><tbody>" + "<tr><td><b><i>cell</i> text</b></td><td>2 &lt; 3</td></tr>" * 1000
    + "</tbody></table>",
    "<div>" * 300 + f"<p>{SENTENCE}</p>" * 200 + "</div>" * 300,
    # multi-byte text: the limit is in bytes
    "<p>" + "月曜日に宇宙機関が協定に署名した。" * 3000 + "</p>",
])
def test_cut_story_keeps_whole_html_within_the_limit(story: str) -> None:
    story = sanitize(story)
    limit = 20_000
    assert story_bytes(story) > limit
    cut = cut_story(story, "https://news.test/a.html?x=1&y=2", limit=limit)
    assert cut is not None
    assert story_bytes(cut) <= limit
    assert whole(cut)
    note = story_note("https://news.test/a.html?x=1&y=2")
    assert cut.endswith(note) and 'href="https://news.test/a.html?x=1&amp;y=2"' in note
    parser = lxml.html.HTMLParser(huge_tree=True)  # 300 levels deep is beyond lxml's default
    kept = lxml.html.fragment_fromstring(cut[: -len(note)], create_parent="div",
                                         parser=parser).text_content()
    # the start of the story, most of the room used
    full_text = lxml.html.fragment_fromstring(story, create_parent="div",
                                              parser=parser).text_content()
    assert kept and full_text.startswith(kept.rstrip())
    assert story_bytes(cut) > limit // 2


def test_a_cut_keeps_room_for_a_long_note() -> None:
    """A note over 4 KB (a URL of "&"-joined parameters: each "&" is 5 bytes escaped)
    costs the story as many bytes, not the whole story."""
    url = "https://news.test/a?" + "&b" * (MAX_URL // 2 - 20)
    assert story_bytes(story_note(url)) > 6000
    story = sanitize("<div>" + f"<p>{SENTENCE}</p>" * 400 + "</div>")
    cut = cut_story(story, url, limit=40_000)
    assert cut is not None and cut.endswith(story_note(url)) and whole(cut)
    assert 40_000 - 4096 - 2 * len(f"<p>{SENTENCE}</p>") < story_bytes(cut) <= 40_000


def test_a_story_within_the_limit_is_not_cut() -> None:
    assert cut_story("<p>short</p>", "https://news.test/a.html") is None
    real = "<div>" + f"<p>{SENTENCE}</p>" * 5000 + "</div>"  # ~800 KB, a long read
    assert story_bytes(real) < MAX_STORY_BYTES and cut_story(real, "https://x.test/") is None


async def test_a_story_over_the_limit_is_stored_cut_with_a_note(cpu: CpuPool) -> None:
    paras = "".join(f"<p>Paragraph {i}: {SENTENCE}</p>" for i in range(24_000))  # 4.2 MB
    # 1.1 MB of bare links, 2.4 MB once sanitizing made each absolute with its rel
    links = "".join(f"<p>Item {i} <a href=x{i}>y</a></p>" for i in range(30_000))
    async with Origin({"/robots.txt": Route("", content_type="text/plain"),
                       "/a/long.html": page(body=paras), "/a/links.html": page(body=links),
                       "/a/normal.html": page()}) as origin:
        _store, stored = await crawl(origin, cpu, [
            ("/a/long.html", "t1"), ("/a/links.html", "t2"), ("/a/normal.html", "t3")])
        base = origin.base_url
    assert set(stored) == {"/a/long.html", "/a/links.html", "/a/normal.html"}
    for path in ("/a/long.html", "/a/links.html"):
        content = stored[path].content_html
        assert MAX_STORY_BYTES // 2 < story_bytes(content) <= MAX_STORY_BYTES, path
        assert content.endswith(story_note(base + path)) and whole(content), path
    assert "Paragraph 0:" in stored["/a/long.html"].content_html
    assert "This story is too long" not in stored["/a/normal.html"].content_html
    feed = render_feed(FeedMeta("t", "t", "d", "http://feeds.test/feeds/t.atom",
                                "http://feeds.test/"), list(stored.values()))
    check_atom(feed.body)
    assert len(feed.body) < 3 * MAX_STORY_BYTES


# A site rule joining the pages of paged_story.
PAGED_RULE = "title: //h1\nbody: //div[@id='body']\nnext_page_link: //a[@class='next']\n"


def paged_story(path: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A story of five pages of ~370 KB each at ``path``, ``?page=N`` for the next ones."""

    async def handler(request: web.Request) -> web.Response:
        n = int(request.query.get("page", "1"))
        paras = "".join(f"<p>Page {n} paragraph {i}: {SENTENCE}</p>" for i in range(2200))
        nxt = f"<a class='next' href='{path}?page={n + 1}'>next</a>" if n < 5 else ""
        return web.Response(text=f"<html><head><title>S</title></head><body><h1>Story</h1>"
                                 f"<div id='body'>{paras}</div>{nxt}</body></html>",
                            content_type="text/html")

    return handler


async def test_a_joined_story_stops_at_the_limit(cpu: CpuPool, tmp_path: Path) -> None:
    """Pages joined by a site rule's next_page_link count toward one story's limit: the
    pages that fit whole, then the note; no page past the one that overflowed is
    fetched."""
    (tmp_path / "127.0.0.1.txt").write_text(PAGED_RULE)
    async with Origin({"/robots.txt": Route("", content_type="text/plain"),
                       "/story": paged_story("/story")}) as origin:
        origin.routes["/feed.xml"] = Route(rss(origin.base_url, [("/story", "Story")]),
                                           content_type="application/rss+xml")
        settings = replace(feed_settings(origin), sites_dir=str(tmp_path))
        store = MemoryStore()
        async with Fetcher(user_agent="feedsvc-test", concurrency=8, per_host=4) as fetcher:
            await Pipeline(settings, store, fetcher, cpu).refresh_all()
        fetched = [r.path_qs for r in origin.requests if r.path == "/story"]
        stored = await store.get_article(origin.url("/story"))
    assert stored is not None
    content = stored.content_html
    # each page ~370 KB: two fit, the third overflows, the fourth and fifth are never asked
    assert "Page 2 paragraph 2199" in content and "Page 3 paragraph" not in content
    assert fetched == ["/story", "/story?page=2", "/story?page=3"]
    assert story_bytes(content) <= MAX_STORY_BYTES
    assert content.endswith(story_note(origin.url("/story")))


async def test_a_cut_storys_note_links_its_entry(cpu: CpuPool, tmp_path: Path) -> None:
    """The note ending a cut story links what its feed entry links (the page's
    rel=canonical, the link without tracking parameters), not the page fetched nor the
    link as the feed wrote it, whether one page was cut or joined pages were; and a
    one-page story's kept page is packed after the story as relinked, so it can still be
    re-extracted."""
    (tmp_path / "127.0.0.1.txt").write_text(PAGED_RULE)
    paras = "".join(f"<p>Paragraph {i}: {SENTENCE}</p>" for i in range(8000))  # 1.4 MB
    async with Origin({"/robots.txt": Route("", content_type="text/plain"),
                       "/joined": paged_story("/joined")}) as origin:
        origin.routes["/one.html"] = (
            f"<html><head><title>S</title><link rel='canonical' href='/named.html'></head>"
            f"<body><h1>Story</h1><div id='body'>{paras}</div></body></html>")
        origin.routes["/feed.xml"] = Route(
            rss(origin.base_url, [("/one.html?utm_source=feed", "one"),
                                  ("/joined?utm_source=feed", "joined")]),
            content_type="application/rss+xml")
        settings = replace(feed_settings(origin), sites_dir=str(tmp_path))
        store = MemoryStore()
        async with Fetcher(user_agent="feedsvc-test", concurrency=8, per_host=4) as fetcher:
            pipeline = Pipeline(settings, store, fetcher, cpu)
            await pipeline.refresh_all()
            stored = {a.url.removeprefix(origin.base_url): a
                      for a in await store.topic_articles("t", 10)}
            kept = await store.get_page(origin.url("/named.html"))
            # re-extracted after a rule change, from its kept page: linked the same way
            (tmp_path / "127.0.0.1.txt").write_text(
                "title: //h1\nbody: //div[@id='body']\nstrip: //p[starts-with(., 'Paragraph 0:')]\n")
            assert await pipeline.reextract_changed() == 1
            again = await store.get_article(origin.url("/named.html"))
        base = origin.base_url
    assert set(stored) == {"/named.html", "/joined"}
    assert again is not None and "Paragraph 0:" not in again.content_html
    for path, article in [*stored.items(), ("/named.html", again)]:
        content = article.content_html
        assert content.endswith(story_note(base + path)), path
        assert content.count("This story is too long") == 1 and whole(content)
        assert story_bytes(content) <= MAX_STORY_BYTES
    assert kept is not None and b"Paragraph 7999:" in kept.unpack().body


def crash_instead_of_relinking(*_args: object) -> None:
    """Stands in for extractor.relink_in_worker: the worker dies, as on a segfault."""
    import os

    os._exit(1)


async def test_a_crash_relinking_a_cut_storys_note_keeps_the_fetched_pages_link(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    """The worker relinking a cut story's note to its entry's URL crashes (twice: the
    pool is replaced once, tests/test_cpu.py): the story is stored all the same, its
    note linking the page fetched (the worker's own), whole, and a warning says why."""
    import feedsvc.pipeline

    monkeypatch.setattr(feedsvc.pipeline, "relink_in_worker", crash_instead_of_relinking)
    paras = "".join(f"<p>Paragraph {i}: {SENTENCE}</p>" for i in range(8000))  # 1.4 MB
    async with Origin({"/robots.txt": Route("", content_type="text/plain")}) as origin:
        origin.routes["/one.html"] = (
            f"<html><head><title>S</title><link rel='canonical' href='/named.html'></head>"
            f"<body><h1>Story</h1><div id='body'>{paras}</div></body></html>")
        origin.routes["/feed.xml"] = Route(rss(origin.base_url, [("/one.html", "one")]),
                                           content_type="application/rss+xml")
        store = MemoryStore()
        pool = CpuPool(1)  # its own: the crashes break it
        try:
            async with Fetcher(user_agent="feedsvc-test", concurrency=8, per_host=4) as fetcher:
                reports = await Pipeline(feed_settings(origin), store, fetcher, pool).refresh_all()
        finally:
            pool.close()
        stored = await store.get_article(origin.url("/named.html"))
        fetched = origin.url("/one.html")
    assert [r.new for r in reports] == [1]
    assert stored is not None
    content = stored.content_html
    assert content.endswith(story_note(fetched)) and whole(content)
    assert content.count("This story is too long") == 1
    assert story_bytes(content) <= MAX_STORY_BYTES
    assert any(r.levelname == "WARNING" and "the process relinking it crashed" in r.getMessage()
               and "/named.html" in r.getMessage() for r in caplog.records), caplog.text


async def test_a_refreshed_cut_storys_note_links_its_entry(cpu: CpuPool) -> None:
    """A cut story fetched again because its feed dates it later (a refresh) is relinked
    as on its first fetch: its note links the entry (the page's rel=canonical), not the
    link the feed gives, and its kept page continues the story so relinked."""
    from datetime import UTC, datetime

    from tests.site import atom

    paras = "".join(f"<p>Paragraph {i}: {SENTENCE}</p>" for i in range(8000))  # 1.4 MB
    edition = {"n": 0, "when": datetime(2025, 11, 3, 9, tzinfo=UTC)}

    async def one(request: web.Request) -> web.Response:
        return web.Response(
            text=f"<html><head><title>S</title><link rel='canonical' href='/named.html'></head>"
                 f"<body><h1>Story</h1><div id='body'><p>Edition {edition['n']}.</p>{paras}"
                 "</div></body></html>", content_type="text/html")

    async def feed(request: web.Request) -> web.Response:
        return web.Response(text=atom(origin.base_url, [("/one.html?utm_source=feed", "one",
                                                         edition["when"])]),
                            content_type="application/atom+xml")

    async with Origin({"/robots.txt": Route("", content_type="text/plain"), "/one.html": one,
                       "/feed.xml": feed}) as origin:
        store = MemoryStore()
        async with Fetcher(user_agent="feedsvc-test", concurrency=8, per_host=4) as fetcher:
            pipeline = Pipeline(feed_settings(origin), store, fetcher, cpu)
            await pipeline.refresh_all()
            edition.update(n=1, when=datetime(2025, 11, 3, 15, tzinfo=UTC))
            await pipeline.refresh_all()
        named = origin.url("/named.html")
        refreshed = await store.get_article(named)
        kept = await store.get_page(named)
    assert refreshed is not None and "Edition 1." in refreshed.content_html
    assert refreshed.content_html.endswith(story_note(named))
    assert refreshed.content_html.count("This story is too long") == 1
    assert kept is not None and b"Edition 1." in kept.unpack().body


def test_a_note_relinked_to_a_longer_url_keeps_the_story_within_the_limit() -> None:
    short, long = "https://news.test/a", "https://news.test/" + "&b" * (MAX_URL // 2 - 10)
    paras = "<div>" + "".join(f"<p>Paragraph {i}: {SENTENCE}</p>" for i in range(8000)) + "</div>"
    cut = cut_story(sanitize(paras), short)
    assert cut is not None and story_bytes(cut) > MAX_STORY_BYTES - 4096
    again = relink_note(cut, long)
    assert again.endswith(story_note(long)) and whole(again)
    assert story_bytes(cut) - 3 * 4096 < story_bytes(again) <= MAX_STORY_BYTES
    assert again.count("This story is too long") == 1
    # and back: as short a note needs no second cut
    assert relink_note(again, short) == again.removesuffix(story_note(long)) + story_note(short)


def test_discovery_skips_overlong_links_and_trims_hints() -> None:
    base = "https://news.test"
    huge = "word " * 200_000
    long_path = "/reports/" + "u" * (MAX_URL + 10) + ".html"
    feed = rss(base, [(long_path, "long link"), ("/reports/ok.html", huge)])
    feed = feed.replace("</item>", f"<author>x@news.test ({huge})</author></item>")
    hints = discover_feed(feed.encode(), base + "/feed.xml", "application/rss+xml", follow=None)
    assert [h.url for h in hints] == [base + "/reports/ok.html"]
    assert len(hints[0].title or "") <= MAX_TITLE and (hints[0].title or "").endswith(ELLIPSIS)
    assert len(hints[0].author or "") <= MAX_AUTHOR

    index = (f'<html><body><main><a href="{long_path}">long</a>'
             f'<a href="/reports/ok.html">{huge}</a></main></body></html>')
    hints = discover_index(index.encode(), base + "/", "text/html", links=None, follow=None)
    assert [h.url for h in hints] == [base + "/reports/ok.html"]
    assert len(hints[0].title or "") <= MAX_TITLE


def test_a_links_length_is_its_entry_ids() -> None:
    """A link is judged by the canonical URL it becomes (the entry's id and store key):
    percent-encoding its spaces takes it over MAX_URL though it is written shorter, and
    tracking parameters take it over as written though its id is shorter. That one is
    fetched without them, so no URL over MAX_URL is fetched or kept."""
    base = "https://news.test"
    grows = "/reports/" + "x " * (MAX_URL // 3) + ".html"
    shrinks = "/reports/" + "y" * (MAX_URL - 60) + ".html?id=7&utm_source=" + "z" * 100
    assert len(base + grows) < MAX_URL < len(canonical_url(base + grows))
    assert len(canonical_url(base + shrinks)) < MAX_URL < len(base + shrinks)
    kept = base + shrinks.partition("&")[0]
    feed = rss(base, [(grows, "grows"), (shrinks, "shrinks")])
    hints = discover_feed(feed.encode(), base + "/feed.xml", "application/rss+xml", follow=None)
    assert [h.url for h in hints] == [kept]
    index = (f'<html><body><main><a href="{grows}">grows</a><a href="{shrinks}">shrinks</a>'
             "</main></body></html>")
    hints = discover_index(index.encode(), base + "/", "text/html", links=None, follow=None)
    assert [h.url for h in hints] == [kept]


async def test_a_redirect_is_judged_by_the_length_of_its_canonical_url(cpu: CpuPool) -> None:
    """A link redirecting within its site names its entry by where it lands, when that
    URL, in canonical form, is short enough to be an id: one over MAX_URL only for its
    tracking parameters is."""
    landing = "/a/" + "s" * (MAX_URL - 60) + ".html"
    tracked = landing + "?utm_source=" + "z" * 100
    async with Origin({"/robots.txt": Route("", content_type="text/plain"),
                       "/r/1": redirect(tracked), landing: page()}) as origin:
        assert len(origin.url(landing)) < MAX_URL < len(origin.url(tracked))
        _store, stored = await crawl(origin, cpu, [("/r/1", "t")])
        assert origin.hits[landing] == 1
    assert set(stored) == {landing}


async def test_a_failing_links_hint_is_kept_bounded_for_retry(cpu: CpuPool) -> None:
    """A source remembers its failed links with what its feed said of them (to retry
    while it answers 304): a megabyte title, or a megabyte link, is not kept."""
    huge = "word " * 200_000
    long_path = "/a/" + "u" * 1_000_000 + ".html"
    async with Origin({"/robots.txt": Route("", content_type="text/plain"),
                       "/a/fail.html": Route("down", status=500)}) as origin:
        store, _ = await crawl(origin, cpu, [("/a/fail.html", huge), (long_path, "long")])
        state = await store.get_state(origin.url("/feed.xml"))
        assert origin.hits[long_path] == 0
    assert state is not None
    assert [h.url.removeprefix(origin.base_url) for h in state.retry] == ["/a/fail.html"]
    assert len(state.retry[0].title or "") <= MAX_TITLE
    assert all(len(url) <= MAX_URL for url in store._states)


async def test_an_overlong_canonical_url_is_not_the_entrys_id(cpu: CpuPool) -> None:
    async with Origin({"/robots.txt": Route("", content_type="text/plain")}) as origin:
        canonical = origin.url("/a/" + "c" * 1_000_000 + ".html")
        origin.routes["/a/page.html"] = page(head=f'<link rel="canonical" href="{canonical}">')
        origin.routes["/a/short.html"] = page(
            head=f'<link rel="canonical" href="{origin.url("/a/named.html")}">')
        _store, stored = await crawl(origin, cpu, [("/a/page.html", "t"), ("/a/short.html", "u")])
    assert set(stored) == {"/a/page.html", "/a/named.html"}


def big_feed(n: int, base: str = "https://news.test") -> bytes:
    items = "".join(f"<item><title>Story {i}</title><link>{base}/r/{i}.html</link></item>"
                    for i in range(n))
    return ('<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
            f"<link>{base}/</link><description>d</description>{items}"
            "<ttl>15</ttl></channel></rss>").encode()


def test_a_feed_of_fifty_thousand_items_is_parsed_only_as_far_as_needed() -> None:
    """feedparser spends ~0.1 ms on each item: a 5 MB feed of 50,000 ran past the
    time budget at every poll, for the hundred links a poll takes."""
    body = big_feed(50_000)
    assert len(body) < 5_000_000  # within the default max_page_bytes
    hints = discover_feed(body, "https://news.test/feed.xml", "application/rss+xml",
                          follow=None, limit=100, time_budget=3.0)
    assert [h.url for h in hints] == [f"https://news.test/r/{i}.html" for i in range(100)]
    # with a follow pattern that drops most items, ten items per link are read
    hints = discover_feed(body, "https://news.test/feed.xml", "application/rss+xml",
                          follow=r"/r/\d*5\.html$", limit=100, time_budget=3.0)
    assert len(hints) == 100 and hints[-1].url == "https://news.test/r/995.html"
    # and no further: items past the first thousand are never parsed
    assert discover_feed(body, "https://news.test/feed.xml", "application/rss+xml",
                         follow=r"/r/1200\.html$", limit=100) == []


async def test_credentials_in_a_found_link_are_neither_sent_nor_kept(cpu: CpuPool) -> None:
    """The Fetcher remembers a URL's user:pass@ for its origin, as a browser's auth cache
    does, for the sources the config names. A feed's links carrying them must not make
    it send a stranger's credentials to another site (a configured source's included),
    nor keep one more origin's for every such link, forever."""
    async with Origin({"/robots.txt": Route("", content_type="text/plain")}) as other, \
            Origin({"/robots.txt": Route("", content_type="text/plain")}) as origin:
        for i in range(3):
            other.routes[f"/a/{i}.html"] = page()
        items = [(f"/a/{i}.html", f"t{i}") for i in range(3)]
        feed = rss(origin.base_url, items).replace(
            origin.base_url, f"http://intruder{{}}:secret@127.0.0.1:{other.port}")
        feed = feed.format(*range(4))  # the channel link too
        origin.routes["/feed.xml"] = Route(feed, content_type="application/rss+xml")
        store = MemoryStore()
        async with Fetcher(user_agent="feedsvc-test", concurrency=8, per_host=4) as fetcher:
            await Pipeline(feed_settings(origin), store, fetcher, cpu).refresh_all()
            remembered = dict(fetcher._auth)
        sent = [r.headers.get("Authorization") for r in other.requests]
        stored = await store.topic_articles("t", 10)
    assert sent and sent == [None] * len(sent)
    assert remembered == {}
    assert len(stored) == 3 and all("@" not in a.url for a in stored)


async def test_a_first_page_with_no_room_for_the_note_stays_within_the_limit(cpu: CpuPool) -> None:
    """A first page within MAX_STORY_BYTES but with less room than the note takes, and a
    next page: the joined story (the first page, then the note) must not pass the limit,
    and no next page is fetched that could never be kept."""
    from feedsvc.extractor import Extraction
    from feedsvc.models import ExtractedArticle, FetchResult, LinkHint

    url = "https://news.test/story"
    para = f"<p>{SENTENCE}</p>"
    html = para * ((MAX_STORY_BYTES - 40) // len(para))
    html += "<p>" + "x" * (MAX_STORY_BYTES - 40 - story_bytes(html) - 7) + "</p>"
    assert MAX_STORY_BYTES - story_bytes(story_note(url)) < story_bytes(html) <= MAX_STORY_BYTES
    first = Extraction(article=ExtractedArticle(title="S", content_html=html, text="t",
                                                next_page_url=url + "?page=2"),
                       rule=None, page=None, fingerprint=None)
    settings = make_settings({"t": {"sources": [{"url": "https://news.test/feed.xml",
                                                  "kind": "feed"}]}})
    fetched: list[str] = []
    async with Fetcher(user_agent="feedsvc-test", concurrency=8, per_host=4) as fetcher:
        pipeline = Pipeline(settings, MemoryStore(), fetcher, cpu)

        async def fetch(link: str, *_: object, **__: object) -> FetchResult:
            fetched.append(link)
            return FetchResult(url=link, status=200, body=b"<p>page 2</p>", headers={})

        async def extract(_result: FetchResult, _hint: object) -> Extraction:
            return Extraction(article=ExtractedArticle(title="S", content_html="<p>page 2</p>",
                                                       text="page 2"),
                              rule=None, page=None, fingerprint=None)

        pipeline._fetch = fetch  # type: ignore[method-assign]
        pipeline._extract = extract  # type: ignore[method-assign]
        joined = await pipeline._more_pages(first, settings.topics["t"].sources[0], LinkHint(url))
    content = joined.article.content_html
    assert story_bytes(content) <= MAX_STORY_BYTES
    assert content.endswith(story_note(url)) and whole(content)
    assert fetched == []


# -- the feed's size: what a story takes of it, and the excerpt of one it has no room for --

@pytest.mark.parametrize("text", [
    "", "plain", "a < b > c & d", "<p>x &amp; y</p>", 'quotes " and \' stay', "cr\r\nlf",
    "\u00e9t\u00e9 \U0001F680 \u2014", "&&&<<<>>>",
])
def test_xml_text_bytes_is_what_the_feed_carries(text: str) -> None:
    """The feed's budget counts each story as lxml writes it: it must count exactly."""
    from lxml import etree

    from feedsvc.limits import xml_text_bytes

    elem = etree.Element("c")
    elem.text = text
    assert xml_text_bytes(text) == len(etree.tostring(elem, encoding="utf-8")) - len(b"<c></c>")


def test_story_excerpt_is_the_start_of_the_text() -> None:
    from feedsvc.limits import MAX_EXCERPT, story_excerpt

    story = ("<h2>Moon base</h2><p>Four <b>nations</b> signed &amp; agreed.</p>"
             "<ul><li>one</li><li>two</li></ul><p>" + SENTENCE * 40 + "</p>")
    text = story_excerpt(story)
    assert text.startswith("Moon base Four nations signed & agreed. one two Space agencies")
    assert len(text) <= MAX_EXCERPT and text.endswith(ELLIPSIS)
    assert story_excerpt("<p>Short.</p>") == "Short."
    assert story_excerpt("") == "" and story_excerpt('<p><img src="x.png"></p>') == ""
    # only the story's start is parsed, however long the story
    assert story_excerpt("<p>" + "word " * 400_000 + "</p>") == trim_text(
        "word " * 100, MAX_EXCERPT)


def test_feed_excerpt_is_escaped_html_ending_with_a_link() -> None:
    from feedsvc.limits import feed_excerpt, feed_note

    url = "https://news.test/a.html?x=1&y=2"
    out = feed_excerpt("<p>a &lt;script&gt; tag</p>", url)
    assert out == "<p>a &lt;script&gt; tag</p>" + feed_note(url)
    assert 'href="https://news.test/a.html?x=1&amp;y=2"' in out
    assert sanitize(out) == out  # what a reader gets is as safe as a stored story
