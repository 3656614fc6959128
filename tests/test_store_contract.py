"""The Store contract (feedsvc/store/__init__.py), run on every store (issue #2 item 5).

The ``store`` fixture (tests/redis_fixtures.py) yields a fresh MemoryStore and a fresh
RedisStore on a private redis-server, so both must behave identically.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from feedsvc import keys
from feedsvc.models import Article, FetchState, LinkHint
from feedsvc.store import Store, changed_at
from feedsvc.store.codec import PackedPage
from feedsvc.store.memory import MemoryStore
from tests.helpers import record_threads

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def art(url: str, published: datetime = T0, *, first_seen: datetime = T0, **kw: Any) -> Article:
    return Article(
        url=url,
        title=kw.pop("title", f"Title of {url}"),
        content_html=kw.pop("content_html", f"<p>Story at {url}</p>"),
        published=published,
        first_seen=first_seen,
        **kw,
    )


async def page_of(store: Store, url: str) -> tuple[bytes, str | None] | None:
    page = await store.get_page(url)
    return None if page is None else page.unpack()[:2]


def urls(articles: list[Article]) -> list[str]:
    return [a.url for a in articles]


async def test_isinstance_of_protocol(store: Store) -> None:
    assert isinstance(store, Store)


async def test_article_roundtrip_all_fields(store: Store) -> None:
    brussels = ZoneInfo("Europe/Brussels")
    india = timezone(timedelta(hours=5, minutes=30))
    a = Article(
        url="https://news.example/reports/one.html?id=7",
        title="Superpowers meet",
        content_html="<p>First paragraph.</p><p>Second &amp; last.</p>",
        published=datetime(2017, 2, 16, 9, 30, 15, 123456, tzinfo=brussels),
        first_seen=datetime(2024, 3, 1, 8, 0, tzinfo=india),
        author="Staff Writers",
        updated=datetime(2017, 2, 17, 1, 2, 3, tzinfo=timezone(timedelta(hours=-5))),
        dateline="Brussels (AFP)",
        lead_image="https://news.example/img/lead.jpg",
        lang="en",
        summary="Two superpowers meet.",
        fingerprint="fp-1",
    )
    assert await store.add_article("t", a) is True
    got = await store.get_article(a.url)
    assert got == a
    assert got is not None
    # The offsets survive, not just the instants (Atom dates carry a zone, RFC 4287 3.3).
    assert got.published.utcoffset() == timedelta(hours=1)
    assert got.first_seen.utcoffset() == timedelta(hours=5, minutes=30)
    assert got.updated is not None
    assert got.updated.utcoffset() == timedelta(hours=-5)
    assert await store.topic_articles("t", 10) == [a]


async def test_optional_fields_stay_none(store: Store) -> None:
    a = art("https://a.example/x")
    await store.add_article("t", a)
    got = await store.get_article(a.url)
    assert got == a
    assert got is not None
    assert got.author is None
    assert got.fingerprint is None


async def test_naive_datetime_rejected(store: Store) -> None:
    a = art("https://a.example/naive", published=datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.add_article("t", a)
    assert await store.get_article(a.url) is None
    assert await store.topic_versions(["t"]) == {"t": 0}


async def test_dedup_by_url(store: Store) -> None:
    a = art("https://a.example/1", title="first")
    assert await store.add_article("t", a) is True
    again = dataclasses.replace(a, title="second", published=T0 + timedelta(days=1))
    assert await store.add_article("t", again) is False
    assert await store.topic_articles("t", 10) == [a]
    assert await store.get_article(a.url) == a


async def test_dedup_by_fingerprint_per_topic(store: Store) -> None:
    a = art("https://a.example/1", fingerprint="same-story")
    b = art("http://b.example/wire?utm_source=x", fingerprint="same-story")
    assert await store.add_article("t", a) is True
    assert await store.add_article("t", b) is False
    assert urls(await store.topic_articles("t", 10)) == [a.url]
    assert await store.get_article(b.url) is None
    # Another topic may hold the other copy: dedup is per topic.
    assert await store.add_article("u", b) is True
    assert urls(await store.topic_articles("u", 10)) == [b.url]


async def test_first_seen_kept_on_re_add(store: Store) -> None:
    first = art("https://a.example/1", first_seen=T0)
    later = dataclasses.replace(first, first_seen=T0 + timedelta(days=5), title="re-extracted")
    assert await store.add_article("t", first) is True
    assert await store.add_article("u", later) is True
    got = await store.get_article(first.url)
    assert got is not None
    assert got.first_seen == T0
    assert got.title == "re-extracted"
    assert (await store.topic_articles("u", 1))[0].first_seen == T0
    # Topic u counts retention from the original first_seen too.
    assert await store.prune("u", seen_before=(T0 + timedelta(days=1)).timestamp(), keep=10) == 1


async def test_order_newest_first_and_limit(store: Store) -> None:
    times = [T0 + timedelta(hours=h) for h in (3, 1, 4, 2, 5)]
    for i, t in enumerate(times):
        await store.add_article("t", art(f"https://a.example/{i}", t))
    got = await store.topic_articles("t", 10)
    assert [a.published for a in got] == sorted(times, reverse=True)
    assert urls(await store.topic_articles("t", 2)) == urls(got)[:2]
    assert await store.topic_articles("t", 0) == []
    assert await store.topic_articles("nope", 10) == []
    # the same entries, in the same order, without reading the articles
    assert await store.topic_urls("t", 10) == urls(got)
    assert await store.topic_urls("t", 2) == urls(got)[:2]
    assert await store.topic_urls("t", 0) == []
    assert await store.topic_urls("nope", 10) == []


async def test_order_ties_broken_by_url(store: Store) -> None:
    for u in ("https://a.example/b", "https://a.example/c", "https://a.example/a"):
        await store.add_article("t", art(u, T0))
    assert urls(await store.topic_articles("t", 10)) == [
        "https://a.example/c",
        "https://a.example/b",
        "https://a.example/a",
    ]
    assert await store.topic_urls("t", 10) == urls(await store.topic_articles("t", 10))


async def test_order_uses_instants_across_time_zones(store: Store) -> None:
    # 10:00+05:00 is 05:00Z, earlier than 06:00Z although its wall clock is later.
    east = datetime(2024, 3, 1, 10, 0, tzinfo=timezone(timedelta(hours=5)))
    utc = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)
    await store.add_article("t", art("https://a.example/east", east))
    await store.add_article("t", art("https://a.example/utc", utc))
    assert urls(await store.topic_articles("t", 10)) == [
        "https://a.example/utc",
        "https://a.example/east",
    ]


async def test_update_moves_the_entry_to_its_new_fingerprint(store: Store) -> None:
    """A refreshed story gets a new text fingerprint: a copy of the new text at another
    URL is a duplicate, and a copy of the old text no longer is (its fingerprint is
    free again)."""
    a = art("https://a.example/1", fingerprint="old-text")
    assert await store.add_article("t", a)
    assert await store.update_article(replace(a, fingerprint="new-text"), ["t"]) == ["t"]
    assert not await store.add_article("t", art("https://wire.example/copy", fingerprint="new-text"))
    assert await store.add_article("t", art("https://wire.example/old", fingerprint="old-text"))
    # back to a text another entry now holds: that entry keeps it, and "new-text" is free
    assert await store.update_article(replace(a, fingerprint="old-text"), ["t"]) == ["t"]
    assert not await store.add_article("t", art("https://x.example/3", fingerprint="old-text"))
    assert await store.add_article("t", art("https://wire.example/new", fingerprint="new-text"))


async def test_versions_change_on_add_and_prune_only(store: Store) -> None:
    assert await store.topic_versions(["t", "u"]) == {"t": 0, "u": 0}
    assert await store.topic_versions([]) == {}
    a = art("https://a.example/1", fingerprint="f")
    await store.add_article("t", a)
    v1 = (await store.topic_versions(["t"]))["t"]
    assert v1 != 0
    # Reads, duplicates, other topics, pages and state leave the version alone.
    await store.add_article("t", a)
    await store.add_article("t", art("https://a.example/dup", fingerprint="f"))
    await store.topic_articles("t", 10)
    await store.get_article(a.url)
    await store.put_page(a.url, PackedPage.pack(b"<html>", "text/html"))
    await store.put_state(a.url, FetchState(etag='"x"'))
    await store.add_article("u", art("https://a.example/2"))
    assert await store.prune("t", seen_before=0.0, keep=10) == 0
    versions = await store.topic_versions(["t", "u"])
    assert versions["t"] == v1
    assert versions["u"] != 0
    await store.add_article("t", art("https://a.example/3"))
    v2 = (await store.topic_versions(["t"]))["t"]
    assert v2 != v1
    assert await store.prune("t", seen_before=0.0, keep=1) == 1
    assert (await store.topic_versions(["t"]))["t"] not in (v1, v2)


async def test_version_is_the_time_of_the_change(store: Store) -> None:
    """Replicas date a feed by its topic's version, so it is the change's time (by the
    store's one clock), and strictly increasing however fast the changes come."""
    before = datetime.now(UTC)
    versions = []
    for i in range(30):
        await store.add_article("t", art(f"https://a.example/{i}"))
        versions.append((await store.topic_versions(["t"]))["t"])
    await store.update_article(art("https://a.example/0", title="new"), ["t"])
    versions.append((await store.topic_versions(["t"]))["t"])
    await store.prune("t", seen_before=0.0, keep=1)
    versions.append((await store.topic_versions(["t"]))["t"])
    after = datetime.now(UTC)
    assert versions == sorted(set(versions))  # strictly increasing
    first, last = changed_at(versions[0]), changed_at(versions[-1])
    assert first is not None and last is not None
    # ms resolution; the 30 changes may run a few ms ahead of the clock
    assert before - timedelta(milliseconds=1) <= first <= last <= after + timedelta(milliseconds=40)
    assert changed_at(0) is None and changed_at(57) is None  # a counter says no time


async def test_prune_by_age(store: Store) -> None:
    for day in range(5):
        seen = T0 + timedelta(days=day)
        # Published order is the reverse of first_seen order: prune must use first_seen.
        pub = T0 - timedelta(days=day)
        await store.add_article("t", art(f"https://a.example/{day}", pub, first_seen=seen))
    cutoff = (T0 + timedelta(days=2)).timestamp()
    assert await store.prune("t", seen_before=cutoff, keep=100) == 2
    assert sorted(urls(await store.topic_articles("t", 10))) == [
        "https://a.example/2",
        "https://a.example/3",
        "https://a.example/4",
    ]



async def test_prune_by_age_removes_what_no_topic_lists(store: Store) -> None:
    """Retention drops an article from its topic; the article (and its page) goes too
    unless another topic still lists it."""
    for day in range(3):
        a = art(f"https://a.example/{day}", first_seen=T0 + timedelta(days=day))
        await store.add_article("t", a)
        await store.put_page(a.url, PackedPage.pack(f"<p>page {day}</p>".encode(), None))
    shared = await store.get_article("https://a.example/0")
    assert shared is not None
    await store.add_article("u", shared)
    cutoff = (T0 + timedelta(days=2)).timestamp()
    assert await store.prune("t", seen_before=cutoff, keep=100) == 2
    assert await store.get_article("https://a.example/1") is None
    assert await store.get_page("https://a.example/1") is None
    # 0 is still in u's feed: nothing of it is lost
    assert await store.topic_articles("u", 10) == [shared]
    assert await page_of(store, shared.url) == (b"<p>page 0</p>", None)
    assert await store.get_article("https://a.example/2") is not None


async def test_prune_by_count_keeps_newest_published(store: Store) -> None:
    for i in range(6):
        await store.add_article("t", art(f"https://a.example/{i}", T0 + timedelta(hours=i)))
    assert await store.prune("t", seen_before=0.0, keep=4) == 2
    assert urls(await store.topic_articles("t", 10)) == [
        f"https://a.example/{i}" for i in (5, 4, 3, 2)
    ]
    assert await store.prune("t", seen_before=0.0, keep=4) == 0
    assert await store.prune("t", seen_before=0.0, keep=0) == 4
    assert await store.topic_articles("t", 10) == []
    assert await store.prune("never-written", seen_before=1e12, keep=0) == 0
    with pytest.raises(ValueError, match="keep"):
        await store.prune("t", seen_before=0.0, keep=-1)


async def test_prune_by_age_then_count(store: Store) -> None:
    # 0 and 1 are old by first_seen; of the rest, only the 2 newest published stay.
    for i in range(6):
        seen = T0 if i < 2 else T0 + timedelta(days=10)
        await store.add_article(
            "t", art(f"https://a.example/{i}", T0 + timedelta(hours=10 - i), first_seen=seen)
        )
    cutoff = (T0 + timedelta(days=1)).timestamp()
    assert await store.prune("t", seen_before=cutoff, keep=2) == 4
    assert urls(await store.topic_articles("t", 10)) == [
        "https://a.example/2",
        "https://a.example/3",
    ]


async def test_prune_by_count_removes_articles_and_pages_no_topic_lists(store: Store) -> None:
    """max_entries drops the oldest entries; an article no topic lists any more is in no
    feed, so it goes with its page at once, not when its retention runs out."""
    for i in range(5):
        a = art(f"https://a.example/{i}", T0 + timedelta(hours=i), fingerprint=f"story-{i}")
        assert await store.add_article("t", a)
        await store.put_page(a.url, PackedPage.pack(f"<p>page {i}</p>".encode(), None))
    assert await store.prune("t", seen_before=0.0, keep=2) == 3
    gone = [f"https://a.example/{i}" for i in range(3)]
    assert await store.get_articles(gone) == [None, None, None]
    assert [await store.get_page(u) for u in gone] == [None, None, None]
    kept = await store.topic_articles("t", 10)
    assert urls(kept) == ["https://a.example/4", "https://a.example/3"]
    assert await store.get_articles(urls(kept)) == kept
    assert await page_of(store, "https://a.example/4") == (b"<p>page 4</p>", None)
    # the dropped stories' fingerprints are free again: a copy is a new entry
    assert await store.add_article("t", art("https://copy.example/0", fingerprint="story-0"))


async def test_prune_keeps_an_article_another_topic_lists(store: Store) -> None:
    a = art("https://a.example/shared", T0, fingerprint="shared")
    newer = art("https://a.example/newer", T0 + timedelta(hours=1))
    for topic in ("t", "u"):
        assert await store.add_article(topic, a)
    await store.add_article("t", newer)
    await store.put_page(a.url, PackedPage.pack(b"<p>the page</p>", None))
    assert await store.prune("t", seen_before=0.0, keep=1) == 1
    assert urls(await store.topic_articles("t", 10)) == [newer.url]
    assert await store.topic_articles("u", 10) == [a]
    assert await store.get_article(a.url) == a
    assert await page_of(store, a.url) == (b"<p>the page</p>", None)
    # once the last topic lets it go, it goes
    assert await store.prune("u", seen_before=0.0, keep=0) == 1
    assert await store.get_article(a.url) is None
    assert await store.get_page(a.url) is None
    assert await store.get_article(newer.url) == newer


async def test_prune_never_removes_an_article_a_concurrent_add_lists(store: Store) -> None:
    """A topic entering a stored article while another topic prunes it (replicas polling
    two sources that link one story): whichever wins, the article stays stored as long
    as a topic lists it."""
    for i in range(20):
        a = art(f"https://a.example/{i}", fingerprint=f"fp-{i}")
        await store.add_article("t", a)
        # a fresh topic each round: it must be found even when it is new
        await asyncio.gather(
            store.prune("t", seen_before=0.0, keep=0), store.add_article(f"u{i}", a)
        )
        assert await store.topic_articles(f"u{i}", 1) == [a], i
        assert await store.get_article(a.url) == a
        assert await store.topic_articles("t", 1) == []


async def test_prune_frees_url_and_fingerprint(store: Store) -> None:
    a = art("https://a.example/1", fingerprint="story")
    await store.add_article("t", a)
    assert await store.prune("t", seen_before=0.0, keep=0) == 1
    assert await store.add_article("t", art("https://b.example/other", fingerprint="story"))
    assert await store.add_article("t", dataclasses.replace(a, fingerprint="new")) is True
    assert sorted(urls(await store.topic_articles("t", 10))) == [
        "https://a.example/1",
        "https://b.example/other",
    ]


async def test_update_article(store: Store) -> None:
    a = art("https://a.example/1", T0, first_seen=T0, title="old")
    b = art("https://a.example/2", T0 + timedelta(hours=1))
    await store.add_article("t", a)
    await store.add_article("t", b)
    await store.add_article("u", art("https://a.example/3"))
    before = await store.topic_versions(["t", "u"])
    better = dataclasses.replace(
        a, title="new", published=T0 + timedelta(hours=2), first_seen=T0 + timedelta(days=3)
    )
    assert await store.update_article(better, ["t", "u", "t", "absent"]) == ["t"]
    got = await store.get_article(a.url)
    assert got == dataclasses.replace(better, first_seen=T0)
    assert urls(await store.topic_articles("t", 10)) == [a.url, b.url]
    after = await store.topic_versions(["t", "u"])
    assert after["t"] != before["t"]
    assert after["u"] == before["u"]
    assert await store.update_article(art("https://a.example/unknown"), ["t"]) == []
    assert await store.get_article("https://a.example/unknown") is None


async def test_concurrent_adds_of_one_story(store: Store) -> None:
    stories = [art(f"https://s{i}.example/x", fingerprint="one") for i in range(20)]
    results = await asyncio.gather(*(store.add_article("t", s) for s in stories))
    assert sum(results) == 1
    assert len(await store.topic_articles("t", 50)) == 1


async def test_concurrent_adds_of_one_url(store: Store) -> None:
    a = art("https://a.example/1")
    results = await asyncio.gather(*(store.add_article("t", a) for _ in range(10)))
    assert sum(results) == 1


async def test_pages_roundtrip_binary_safe(store: Store) -> None:
    for name in ("bin", "none", "empty", "u"):
        await store.add_article("t", art(f"https://a.example/{name}"))
    every_byte = bytes(range(256)) * 40
    await store.put_page("https://a.example/bin", PackedPage.pack(every_byte, "application/octet-stream"))
    await store.put_page("https://a.example/none", PackedPage.pack(b"<html>x</html>", None))
    await store.put_page("https://a.example/empty", PackedPage.pack(b"", ""))
    latin = "<p>caf\u00e9</p>".encode("latin-1")
    await store.put_page("https://a.example/u", PackedPage.pack(latin, "text/html; charset=iso-8859-1"))
    assert await page_of(store, "https://a.example/bin") == (
        every_byte,
        "application/octet-stream",
    )
    assert await page_of(store, "https://a.example/none") == (b"<html>x</html>", None)
    assert await page_of(store, "https://a.example/empty") == (b"", "")
    assert await page_of(store, "https://a.example/u") == (
        b"<p>caf\xe9</p>",
        "text/html; charset=iso-8859-1",
    )
    await store.put_page("https://a.example/none", PackedPage.pack(b"v2", "text/html"))
    assert await page_of(store, "https://a.example/none") == (b"v2", "text/html")


async def test_a_page_kept_for_no_time_is_not_kept(store: Store) -> None:
    """ttl=0 (page_retention: 0) keeps nothing, and forgets a page kept before; it used
    to mean the default, 14 days."""
    url = "https://a.example/p"
    await store.add_article("t", art(url))
    await store.put_page(url, PackedPage.pack(b"<html>page</html>", "text/html"))
    assert await store.get_page(url) is not None
    await store.put_page(url, PackedPage.pack(b"<html>new</html>", "text/html"), ttl=0)
    assert await store.get_page(url) is None


async def test_a_page_is_kept_only_while_its_article_is_stored(store: Store) -> None:
    """The pipeline keeps a page after entering its article; a prune (another poll of the
    topic, another replica) may delete the article in between. The page is then not kept:
    nothing would ever read it, and no prune would remove it."""
    a = art("https://a.example/old", fingerprint="old")
    await store.add_article("t", a)
    await store.add_article("t", art("https://a.example/new", T0 + timedelta(hours=1)))
    assert await store.prune("t", seen_before=0.0, keep=1) == 1  # a is gone
    await store.put_page(a.url, PackedPage.pack(b"<html>late</html>", "text/html"))
    assert await store.get_page(a.url) is None
    await store.put_page("https://a.example/never", PackedPage.pack(b"<html></html>", None))
    assert await store.get_page("https://a.example/never") is None


STORY = "".join(f"<p>Paragraph {n}: the ministers met at {n} o'clock.</p>" for n in range(300))


def chained_page(a: Article) -> tuple[bytes, PackedPage]:
    body = f"<html><body><nav>Home</nav><article>{a.content_html}</article></body></html>"
    raw = body.encode()
    return raw, PackedPage.pack_after(a.content_html, raw, "text/html", a.url)


async def test_page_continuing_its_story_reads_while_its_article_holds_that_story(
    store: Store,
) -> None:
    """A page packed as the rest of its article's story stream reads back whole, through
    any change to the article but its story; once the story is another (re-extracted,
    refreshed), the page is gone as if expired, never an error or another page."""
    a = art("https://a.example/s", content_html=STORY, fingerprint="f")
    assert await store.add_article("t", a)
    body, page = chained_page(a)
    await store.put_page(a.url, page)
    assert await page_of(store, a.url) == (body, "text/html")
    await store.update_article(replace(a, title="A new title", fingerprint="g"), ["t"])
    assert await store.add_article("u", a)  # stored again, for another topic
    got = await store.get_page(a.url)
    assert got is not None and got.unpack() == (body, "text/html", a.url)
    assert await store.update_article(replace(a, content_html=STORY + "<p>More.</p>"), ["t"])
    assert await store.get_page(a.url) is None
    # an older page format reads without its article, as before
    await store.put_page(a.url, PackedPage.pack(body, "text/html"))
    assert await page_of(store, a.url) == (body, "text/html")


async def test_page_continuing_a_story_not_stored_is_not_found(store: Store) -> None:
    a = art("https://a.example/s", content_html=STORY)
    _, page = chained_page(a)
    await store.put_page(a.url, page)
    assert await store.get_page(a.url) is None  # no article at all
    await store.add_article("t", replace(a, content_html="<p>Another story.</p>"))
    assert await store.get_page(a.url) is None
    _, other = chained_page(art("https://a.example/other", content_html="<p>Another story.</p>"))
    await store.put_page(a.url, other)  # the article's story, under another page's URL
    assert await store.get_page(a.url) is not None


async def test_replace_page_replaces_a_kept_page_only(store: Store) -> None:
    """A re-extraction re-packs the page after the story it stored; a page no longer
    kept (expired, or never kept: page_retention 0) is not brought back."""
    a = art("https://a.example/s", content_html=STORY)
    await store.add_article("t", a)
    body, page = chained_page(a)
    await store.replace_page(a.url, page)
    assert await store.get_page(a.url) is None
    await store.put_page(a.url, PackedPage.pack(b"<html>as fetched</html>", "text/html"))
    await store.replace_page(a.url, page)
    assert await page_of(store, a.url) == (body, "text/html")


async def test_state_roundtrip(store: Store) -> None:
    full = FetchState(
        etag='W/"abc"',
        last_modified="Thu, 16 Feb 2017 10:00:00 GMT",
        next_due=1_700_000_000.25,
        error_count=3,
        last_error="HTTP 503",
        last_status=503,
        last_fetched=1_699_999_000.5,
        canonical="https://a.example/story",
        topics=("superpowers", "navy"),
        retry=(LinkHint("https://a.example/1"),
               LinkHint("https://a.example/2", title="Moon", author="AFP",
                        published=datetime(2017, 2, 14, 10, tzinfo=timezone(timedelta(hours=-5))),
                        updated=datetime(2017, 2, 15, tzinfo=UTC))),
    )
    await store.put_state("https://a.example/feed", full)
    await store.put_state("https://a.example/blank", FetchState())
    assert await store.get_state("https://a.example/feed") == full
    assert await store.get_state("https://a.example/blank") == FetchState()
    await store.put_state("https://a.example/feed", FetchState(error_count=1))
    assert await store.get_state("https://a.example/feed") == FetchState(error_count=1)


async def test_update_state_creates_and_changes(store: Store) -> None:
    url = "https://a.example/link"
    seen: list[FetchState | None] = []

    def enter(topic: str) -> Callable[[FetchState | None], FetchState]:
        def change(state: FetchState | None) -> FetchState:
            seen.append(state)
            state = state or FetchState(canonical=url)
            return replace(state, topics=(*state.topics, topic))
        return change

    first = await store.update_state(url, enter("a"))
    assert seen == [None] and first == FetchState(canonical=url, topics=("a",))
    assert await store.get_state(url) == first
    await store.put_state(url, replace(first, etag='"v2"'))
    second = await store.update_state(url, enter("b"))
    assert seen[-1] == replace(first, etag='"v2"')  # the stored state, not a cached one
    assert second == FetchState(canonical=url, etag='"v2"', topics=("a", "b"))
    assert await store.get_state(url) == second
    # returning the state unchanged writes nothing and still reports it
    assert await store.update_state(url, lambda s: s or FetchState()) == second


async def test_concurrent_update_state_loses_no_change(store: Store) -> None:
    """Twenty writers at once, each adding its own topic: every topic is kept. A plain
    read then write lets a writer overwrite what another wrote in between (on Redis,
    each is its own round-trip, and the writers interleave)."""
    url = "https://a.example/contended"

    async def add(topic: str) -> None:
        await store.update_state(
            url, lambda s: replace(s or FetchState(), topics=(*(s or FetchState()).topics, topic))
        )

    topics = [f"t{i}" for i in range(20)]
    await asyncio.gather(*(add(t) for t in topics))
    state = await store.get_state(url)
    assert state is not None and sorted(state.topics) == sorted(topics)


async def test_batch_reads_keep_order_and_missing(store: Store) -> None:
    # More than one Redis batch (keys per MGET) and a repeated URL.
    stored = [f"https://a.example/{i}" for i in range(0, 600, 3)]
    for i, url in enumerate(stored):
        await store.add_article("t", art(url, T0 + timedelta(minutes=i)))
        await store.put_state(url, FetchState(etag=f'"{i}"', topics=("t",)))
    asked = [f"https://a.example/{i}" for i in range(600)] + [stored[0]]
    got = await store.get_articles(asked)
    states = await store.get_states(asked)
    assert len(got) == len(states) == len(asked)
    for url, article, state in zip(asked, got, states, strict=True):
        if url in stored:
            assert article is not None and article.url == url
            assert state is not None and state.etag == f'"{stored.index(url)}"'
        else:
            assert article is None and state is None
    assert await store.get_articles([]) == [] and await store.get_states([]) == []


async def test_unknown_keys_return_none(store: Store) -> None:
    assert await store.get_article("https://nowhere.example/") is None
    assert await store.get_page("https://nowhere.example/") is None
    assert await store.get_state("https://nowhere.example/") is None


async def test_hostile_and_unicode_text_preserved(store: Store) -> None:
    # Text XML 1.0 forbids is the renderer's to drop; the store must keep it intact.
    hostile = "a\x00b\x01\x0b\x1f]]><script>alert(1)</script>&amp;\ud800\udfff\ufffe"
    a = art(
        "https://a.example/\u00e9t\u00e9?q=\u4e2d\u6587#frag",
        title="\u05e9\u05dc\u05d5\u05dd \U0001f680 \u0645\u0631\u062d\u0628\u0627",
        content_html=hostile * 50,
        author="Jos\u00e9 \u00d1\u00fa\u00f1ez",
        summary=hostile,
        fingerprint="\u00e9\ud800",
    )
    await store.add_article("t\u00f6pic", a)
    assert await store.get_article(a.url) == a
    assert await store.topic_articles("t\u00f6pic", 5) == [a]
    state = FetchState(etag='"\u00e9\x00"', last_error="bad \ud800 bytes")
    await store.put_state(a.url, state)
    assert await store.get_state(a.url) == state
    await store.put_page(a.url, PackedPage.pack(b"\xff\xfe\x00", "text/html; charset=\u00e9"))
    assert await page_of(store, a.url) == (b"\xff\xfe\x00", "text/html; charset=\u00e9")


# -- MemoryStore expiry (Redis expiry is checked by TTL in test_store_redis.py) ----------


async def test_a_claim_is_one_owner_s_until_it_expires(store: Store) -> None:
    """Replicas claim a source before a scheduled poll: one holds it, renewing it at
    will; the others get it only once it has expired."""
    assert await store.claim("src#k1", "a", ttl=0.3)
    assert not await store.claim("src#k1", "b", ttl=0.3)
    assert await store.claim("src#k1", "a", ttl=0.3)  # renewed by its holder
    assert await store.claim("src#k2", "b", ttl=0.3)  # another claim is another's to take
    await asyncio.sleep(0.45)
    assert await store.claim("src#k1", "b", ttl=0.3)
    assert not await store.claim("src#k1", "a", ttl=0.3)


async def test_a_claim_is_released_only_by_its_owner(store: Store) -> None:
    assert await store.claim("src", "a", ttl=60)
    assert await store.claim("other", "b", ttl=60)
    await store.release(["src", "other", "none"], "b")
    assert not await store.claim("src", "b", ttl=60)
    await store.release(["src"], "a")
    assert await store.claim("src", "b", ttl=60)
    assert await store.claim("other", "a", ttl=60)


async def test_one_of_many_concurrent_claims_wins(store: Store) -> None:
    got = await asyncio.gather(*(store.claim("src", f"owner-{n}", ttl=5) for n in range(20)))
    assert got.count(True) == 1


async def test_memory_store_expires_like_redis_ttls() -> None:
    now = [T0.timestamp()]
    store = MemoryStore(clock=lambda: now[0])
    day = 86400
    await store.add_article("t", art("https://a.example/1", first_seen=T0), retention=10 * day)
    await store.put_page("https://a.example/1", PackedPage.pack(b"page", None))
    await store.put_state("https://a.example/1", FetchState(error_count=2))
    now[0] += 10 * day + keys.ARTICLE_TTL_MARGIN - 1
    assert await store.get_article("https://a.example/1") is not None
    assert await page_of(store, "https://a.example/1") == (b"page", None)
    assert await store.get_state("https://a.example/1") is not None
    now[0] += 2
    assert await store.get_article("https://a.example/1") is None
    assert await store.topic_articles("t", 10) == []
    await store.replace_page("https://a.example/1", PackedPage.pack(b"again", None))
    assert await page_of(store, "https://a.example/1") == (b"again", None)
    now[0] = T0.timestamp() + keys.PAGE_TTL + 1  # replaced, it kept its expiry
    assert await store.get_page("https://a.example/1") is None
    assert await store.get_state("https://a.example/1") is not None
    now[0] = T0.timestamp() + keys.STATE_TTL + 1
    assert await store.get_state("https://a.example/1") is None


async def test_memory_store_makes_a_pages_story_stream_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The stream a chained page continues is Brotli-compressed again from the article's
    story at each read (~28 ms for a 1 MB story): in a thread, never on the event loop
    that serves the feeds of this one-process store."""
    from feedsvc.store import codec

    made_on = record_threads(monkeypatch, codec, "content_stream")
    store = MemoryStore()
    a = art("https://a.example/s", content_html=STORY, fingerprint="f")
    assert await store.add_article("t", a)
    body, page = chained_page(a)
    await store.put_page(a.url, page)
    assert await page_of(store, a.url) == (body, "text/html")
    assert made_on and threading.get_ident() not in made_on


async def test_memory_store_keeps_link_states_read_alive() -> None:
    """As the Redis store's GETEX does: a state read by get_states lives another
    STATE_TTL from the read."""
    now = [T0.timestamp()]
    store = MemoryStore(clock=lambda: now[0])
    url = "https://a.example/listed"
    await store.put_state(url, FetchState(topics=("t",)))
    now[0] += keys.STATE_TTL - 10
    assert await store.get_states([url]) == [FetchState(topics=("t",))]
    now[0] += keys.STATE_TTL - 10
    assert await store.get_state(url) == FetchState(topics=("t",))
    now[0] += 20
    assert await store.get_state(url) is None
    # a reader that only shows states leaves their lives alone
    await store.put_state(url, FetchState(topics=("t",)))
    now[0] += keys.STATE_TTL - 10
    assert await store.get_states([url], renew=False) == [FetchState(topics=("t",))]
    now[0] += 20
    assert await store.get_state(url) is None


async def test_memory_store_keep_articles_extends_lives_never_shortens() -> None:
    now = [T0.timestamp()]
    store = MemoryStore(clock=lambda: now[0])
    day = 86400
    await store.add_article("t", art("https://a.example/1", first_seen=T0), retention=10 * day)
    assert await store.keep_articles("t", 90 * day) == 1
    assert await store.keep_articles("t", 5 * day) == 0
    now[0] += 80 * day
    assert await store.get_article("https://a.example/1") is not None
    now[0] += 11 * day + 1
    assert await store.get_article("https://a.example/1") is None


def test_values_written_by_earlier_versions_still_read() -> None:
    """Values compressed with zlib (marker 0x01, before Brotli) decode unchanged; links
    to retry stored as bare URLs (before their hints were kept) read as links."""
    import zlib

    from feedsvc.store import codec

    old_state = b'{"etag":"\\"x\\"","retry":["https://a.example/1"]}'
    assert codec.state_from_bytes(codec.pack(old_state)) == FetchState(
        etag='"x"', retry=(LinkHint("https://a.example/1"),))

    raw = b'{"etag":"\\"x\\"","error_count":2}' * 10
    assert codec.unpack(bytes((codec.ZLIB,)) + zlib.compress(raw)) == raw
    assert codec.unpack(codec.pack(raw)) == raw
    assert codec.pack(raw)[0] == codec.BROTLI
