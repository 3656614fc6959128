"""RedisStore beyond the shared contract: key layout, compact values, TTLs, restarts, outages.

Runs on the private redis-server of tests/redis_fixtures.py (never the one on 6379).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from lxml import html as lxml_html
from redis.exceptions import RedisError

from feedsvc import keys
from feedsvc.errors import StoreError
from feedsvc.models import Article, FetchState
from feedsvc.store import changed_at, codec
from feedsvc.store.redis_store import _CAS_ATTEMPTS, RedisStore
from tests.helpers import SHARED, shared_path
from tests.redis_fixtures import RedisServer

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def art(url: str, **kw: Any) -> Article:
    base: dict[str, Any] = {
        "title": f"Title of {url}",
        "content_html": f"<p>Story at {url}</p>",
        "published": T0,
        "first_seen": T0,
    }
    base.update(kw)
    return Article(url=url, **base)


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A plain client on the private server, to look at what the store wrote."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def rstore(redis_url: str) -> AsyncIterator[RedisStore]:
    s = RedisStore.from_url(redis_url)
    try:
        yield s
    finally:
        await s.close()


def realistic_page() -> bytes:
    """The shared SpaceDaily page when present, else a page of similar size and shape."""
    path = SHARED / "pages" / "spacedaily-superpowers.html"
    if path.exists():
        return path.read_bytes()
    paras = "".join(
        f"<p>Paragraph {i}: the ministers met in Brussels to discuss defence spending, "
        f"sanctions and the alliance's eastern flank, officials said on day {i}.</p>"
        for i in range(40)
    )
    nav = "".join(f'<li><a href="/reports/{i}.html">Related report {i}</a></li>' for i in range(60))
    return (
        f"<html><head><title>News</title></head><body><ul>{nav}</ul>{paras}</body></html>".encode()
    )


def story_of(page: bytes) -> str:
    """The page's paragraphs as story HTML: about what extraction keeps of a news page."""
    doc = lxml_html.fromstring(page)
    return "".join(f"<p>{p.text_content().strip()}</p>" for p in doc.iter("p") if p.text_content())


async def test_every_key_under_prefix(rstore: RedisStore, raw: aioredis.Redis) -> None:
    a = art("https://a.example/1", fingerprint="fp")
    await rstore.add_article("t", a)
    await rstore.add_article("u", art("https://b.example/2"))
    await rstore.put_page(a.url, codec.PackedPage.pack(b"<html></html>", "text/html"))
    await rstore.put_state(a.url, FetchState(etag='"e"'))
    await rstore.prune("u", seen_before=0.0, keep=0)
    found = [k async for k in raw.scan_iter(count=1000)]
    assert len(found) >= 9
    assert all(k.startswith(keys.PREFIX.encode()) for k in found), found
    assert keys.article(a.url).encode() in found
    assert keys.topic_fingerprints("t").encode() in found


async def test_large_values_compressed(rstore: RedisStore, raw: aioredis.Redis) -> None:
    page = realistic_page()
    a = art("https://a.example/big", content_html=story_of(page))
    await rstore.add_article("t", a)
    stored = await raw.get(keys.article(a.url))
    assert stored is not None
    assert stored[0] == codec.CHAINED
    as_json = json.dumps({"content_html": a.content_html, "title": a.title}).encode()
    assert len(stored) < len(as_json) * 0.75
    await rstore.put_page(a.url, codec.PackedPage.pack(page, "text/html"))
    stored_page = await raw.get(keys.page(a.url))
    assert stored_page is not None
    assert len(stored_page) < len(page) / 2
    # A tiny state stays plain: compressing it would not pay.
    await rstore.put_state(a.url, FetchState(error_count=1))
    stored_state = await raw.get(keys.state(a.url))
    assert stored_state is not None
    assert stored_state[0] == codec.PLAIN


async def test_ttls(rstore: RedisStore, raw: aioredis.Redis) -> None:
    day = 86400
    now = datetime.now(UTC)
    a = art("https://a.example/1", first_seen=now - timedelta(days=2))
    await rstore.add_article("t", a, retention=10 * day)
    expected = 8 * day + keys.ARTICLE_TTL_MARGIN
    assert abs(await raw.ttl(keys.article(a.url)) - expected) < 60
    # A second topic with a shorter retention never shortens the article's life.
    await rstore.add_article("u", a, retention=3 * day)
    assert abs(await raw.ttl(keys.article(a.url)) - expected) < 60
    # ... and a longer one extends it.
    await rstore.add_article("v", a, retention=20 * day)
    assert abs(await raw.ttl(keys.article(a.url)) - (expected + 10 * day)) < 60
    # Default retention when the caller does not say.
    b = art("https://a.example/2", first_seen=now)
    await rstore.add_article("t", b)
    want = keys.DEFAULT_RETENTION + keys.ARTICLE_TTL_MARGIN
    assert abs(await raw.ttl(keys.article(b.url)) - want) < 60
    # update_article keeps the expiry.
    await rstore.update_article(art(b.url, title="new", first_seen=now), ["t"])
    assert abs(await raw.ttl(keys.article(b.url)) - want) < 60
    await rstore.put_page(a.url, codec.PackedPage.pack(b"x", None))
    await rstore.put_state(a.url, FetchState())
    assert abs(await raw.ttl(keys.page(a.url)) - keys.PAGE_TTL) < 60
    assert abs(await raw.ttl(keys.state(a.url)) - keys.STATE_TTL) < 60
    # A topic's keys live as long as its longest-lived article (b's), so a topic dropped
    # from the config leaves nothing behind; a later change keeps that expiry. (A version
    # recreated after expiring is a newer time than any before it, never a stale match.)
    for key in (keys.topic_entries("t"), keys.topic_seen("t"), keys.topic_version("t")):
        assert abs(await raw.ttl(key) - want) < 60, key


async def test_topic_keys_outlive_their_articles_only(rstore: RedisStore, raw: aioredis.Redis) -> None:
    """Keys of a topic written before they had an expiry get one at the next add; a prune
    keeps it; a raised retention (keep_articles) extends it with the articles'."""
    day = 86400
    now = datetime.now(UTC)
    index = [keys.topic_entries("t"), keys.topic_seen("t"), keys.topic_version("t")]
    await rstore.add_article("t", art("https://a.example/old", first_seen=now), retention=day)
    for key in index:
        await raw.persist(key)  # as an earlier release left them
    await rstore.add_article("t", art("https://a.example/new", first_seen=now), retention=day)
    for key in index:
        assert abs(await raw.ttl(key) - (day + keys.ARTICLE_TTL_MARGIN)) < 60, key
    await rstore.prune("t", seen_before=0, keep=1)  # drops one of the two
    assert abs(await raw.ttl(keys.topic_version("t")) - (day + keys.ARTICLE_TTL_MARGIN)) < 60
    await rstore.keep_articles("t", 30 * day)
    for key in index:
        assert abs(await raw.ttl(key) - (30 * day + keys.ARTICLE_TTL_MARGIN)) < 60, key


async def test_expired_article_skipped(
    rstore: RedisStore, raw: aioredis.Redis
) -> None:
    await rstore.add_article("t", art("https://a.example/1"))
    await rstore.add_article("t", art("https://a.example/2", published=T0 + timedelta(hours=1)))
    await raw.delete(keys.article("https://a.example/2"))  # as if its TTL had run out
    assert [a.url for a in await rstore.topic_articles("t", 10)] == ["https://a.example/1"]


async def test_changes_published(rstore: RedisStore, redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    try:
        await pubsub.subscribe(keys.CHANGES_CHANNEL)
        assert (await pubsub.get_message(timeout=2))["type"] == "subscribe"  # type: ignore[index]
        await rstore.add_article("t\u00f6pic", art("https://a.example/1"))
        await rstore.add_article("t\u00f6pic", art("https://a.example/1"))  # duplicate: silent
        await rstore.prune("t\u00f6pic", seen_before=0.0, keep=0)
        got = []
        for _ in range(3):
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            if msg is not None:
                got.append(msg["data"])
        assert got == ["t\u00f6pic".encode(), "t\u00f6pic".encode()]
    finally:
        await pubsub.aclose()
        await client.aclose()


async def test_persists_across_clients_and_server_restart(
    redis_server: RedisServer, redis_url: str
) -> None:
    a = art("https://a.example/1", fingerprint="fp", author="A")
    first = RedisStore.from_url(redis_url)
    await first.add_article("t", a)
    await first.put_page(a.url, codec.PackedPage.pack(b"<html>page</html>", "text/html"))
    await first.put_state(a.url, FetchState(etag='"v1"', next_due=123.0))
    version = (await first.topic_versions(["t"]))["t"]
    await first.close()

    redis_server.stop()  # clean shutdown; AOF is on
    redis_server.start()

    second = RedisStore.from_url(redis_url)
    try:
        assert await second.get_article(a.url) == a
        assert await second.topic_articles("t", 10) == [a]
        assert await second.topic_versions(["t"]) == {"t": version}
        page = await second.get_page(a.url)
        assert page is not None and page.unpack()[:2] == (b"<html>page</html>", "text/html")
        assert await second.get_state(a.url) == FetchState(etag='"v1"', next_due=123.0)
        # Dedup state survived too: the same story is not a new entry after a restart.
        assert await second.add_article("t", art("https://b.example/x", fingerprint="fp")) is False
    finally:
        await second.close()


async def test_outage_raises_store_error_then_recovers(
    redis_server: RedisServer, rstore: RedisStore
) -> None:
    a = art("https://a.example/1")
    await rstore.add_article("t", a)
    redis_server.stop()
    try:
        calls = [
            rstore.ping(),
            rstore.get_article(a.url),
            rstore.add_article("t", art("https://a.example/2")),
            rstore.topic_articles("t", 5),
            rstore.topic_versions(["t"]),
            rstore.get_state(a.url),
            rstore.prune("t", seen_before=0.0, keep=5),
            rstore.put_state(a.url, FetchState()),
        ]
        started = time.monotonic()
        for call in calls:
            with pytest.raises(StoreError) as info:
                await call
            assert not isinstance(info.value, RedisError)
            assert "Redis at 127.0.0.1" in str(info.value)
        # Fail fast: the poller and /readyz must learn of the outage within seconds.
        assert time.monotonic() - started < 10
    finally:
        redis_server.start()
    # The same store object recovers by itself once Redis is back.
    await rstore.ping()
    assert await rstore.get_article(a.url) == a
    assert await rstore.add_article("t", art("https://a.example/3")) is True


async def test_recovers_after_restart_without_error(
    redis_server: RedisServer, rstore: RedisStore
) -> None:
    """Pooled connections broken by a restart are replaced, not reported as errors."""
    await rstore.add_article("t", art("https://a.example/1"))
    redis_server.stop()
    redis_server.start()
    assert [a.url for a in await rstore.topic_articles("t", 5)] == ["https://a.example/1"]
    # The script cache was emptied by the restart; scripts are reloaded transparently.
    assert await rstore.add_article("t", art("https://a.example/2")) is True
    assert await rstore.prune("t", seen_before=0.0, keep=1) == 1


async def test_article_of_an_earlier_version_reads_and_no_chained_page_claims_it(
    rstore: RedisStore, raw: aioredis.Redis
) -> None:
    """An article stored whole as JSON by an earlier version (marker 0x02) still reads;
    a page continuing a story stream finds none in it, so reads as expired. So does one
    whose article is damaged: the article's own read reports that."""
    a = art("https://a.example/old", content_html="<p>" + "Old story. " * 500 + "</p>")
    earlier = {"url": a.url, "title": a.title, "content_html": a.content_html,
               "published": a.published.isoformat(), "first_seen": a.first_seen.isoformat()}
    await raw.set(keys.article(a.url), codec.pack(json.dumps(earlier).encode()))
    assert await rstore.get_article(a.url) == a
    page = codec.PackedPage.pack_after(a.content_html, b"<html>page</html>", "text/html")
    await rstore.put_page(a.url, page)
    assert await rstore.get_page(a.url) is None
    await rstore.add_article("t", a)  # written again, now as a story stream
    got = await rstore.get_page(a.url)
    assert got is not None and got.unpack()[:2] == (b"<html>page</html>", "text/html")
    await raw.set(keys.article(a.url), b"\x03\x00\x00")
    assert await rstore.get_page(a.url) is None


async def test_corrupt_value_is_store_error(rstore: RedisStore, raw: aioredis.Redis) -> None:
    await raw.set(keys.state("https://a.example/bad"), b"\x01not zlib")
    await raw.set(keys.page("https://a.example/bad"), b"\x00\x00")
    with pytest.raises(StoreError, match="zlib"):
        await rstore.get_state("https://a.example/bad")
    page = await rstore.get_page("https://a.example/bad")
    assert page is not None
    with pytest.raises(StoreError, match="truncated"):
        page.unpack()  # in the CPU worker that re-extracts it


async def test_an_unreadable_article_is_skipped_not_its_topic(
    rstore: RedisStore, raw: aioredis.Redis, caplog: pytest.LogCaptureFixture,
) -> None:
    """An article this version cannot read (damaged, or written by a newer release during
    a rolling upgrade) is missing from what it serves, logged, and left in Redis: it
    used to fail every read of its topic, so the whole feed stopped changing."""
    good, bad, worse = (f"https://a.example/{n}" for n in ("good", "bad", "worse"))
    for url in (good, bad, worse):
        await rstore.add_article("t", art(url))
    await raw.set(keys.article(bad), b"\x07written by a newer release")
    await raw.set(keys.article(worse), b"\x02not brotli")
    assert [a.url for a in await rstore.topic_articles("t", 10)] == [good]
    assert [a and a.url for a in await rstore.get_articles([bad, good, worse])] == [None, good, None]
    assert await rstore.get_article(bad) is None
    assert "skipping unreadable stored article" in caplog.text and "marker" in caplog.text
    assert await raw.get(keys.article(bad)) == b"\x07written by a newer release"
    # Writes no longer fail on it (they did, and the poll entering the story failed as
    # a store outage, and every poll of the topic after it, retrying the write): an add
    # that enters the story elsewhere replaces it, and every topic reads it again.
    assert await rstore.update_article(art(bad, title="New"), ["t"]) == []
    assert not await rstore.add_article("t", art(bad, title="Fetched again"))
    assert await rstore.add_article("t2", art(bad, title="Fetched again"))
    again = await rstore.get_article(bad)
    assert again is not None and again.title == "Fetched again"
    assert {a.url for a in await rstore.topic_articles("t", 10)} == {good, bad}


async def test_wrong_type_is_store_error(rstore: RedisStore, raw: aioredis.Redis) -> None:
    await raw.set(keys.topic_entries("t"), b"not a sorted set")
    with pytest.raises(StoreError, match="ResponseError"):
        await rstore.add_article("t", art("https://a.example/1"))


def test_bad_url_is_store_error() -> None:
    with pytest.raises(StoreError, match="bad Redis URL"):
        RedisStore.from_url("http://not-redis.example/")


async def test_client_passed_in(redis_url: str) -> None:
    decoding = aioredis.Redis.from_url(redis_url, decode_responses=True)
    with pytest.raises(ValueError, match="decode_responses"):
        RedisStore(decoding)
    await decoding.aclose()
    client = aioredis.Redis.from_url(redis_url)
    store = RedisStore(client)
    await store.add_article("t", art("https://a.example/1"))
    await store.close()
    # The caller's client stays open: the store did not create it.
    assert await client.exists(keys.article("https://a.example/1")) == 1
    await client.aclose()


async def test_memory_per_article(rstore: RedisStore, raw: aioredis.Redis) -> None:
    """Redis memory per stored article vs the gzip size of its page (issue #3 item 3),
    on the real SpaceDaily page (a made-up page compresses too well to compare with)."""
    page = shared_path("pages/spacedaily-superpowers.html").read_bytes()
    story = story_of(page)
    n = 100
    for i in range(n):
        a = art(
            f"https://www.spacewar.com/reports/Story_number_{i:04d}_about_superpowers_999.html",
            content_html=f"<p>Report {i}.</p>{story}",
            published=T0 + timedelta(minutes=i),
            author="Staff Writers",
            dateline="Brussels (AFP)",
            summary=story[:300],
            fingerprint=f"{i:032x}",
            lang="en",
        )
        await rstore.add_article("superpowers", a, retention=30 * 86400)
    total = 0
    article_keys = 0
    async for key in raw.scan_iter(count=1000):
        used = await raw.memory_usage(key, samples=0)
        assert used is not None
        total += used
        if key.startswith(f"{keys.PREFIX}article:".encode()):
            article_keys += used
    per_article = total / n
    gz = len(gzip.compress(page))
    await rstore.put_page(a.url, codec.PackedPage.pack(page, "text/html"))  # a stored article's
    page_mem = await raw.memory_usage(keys.page(a.url), samples=0)
    print(
        f"\nredis memory per article: {per_article:.0f} B with indexes "
        f"({article_keys / n:.0f} B article value), stored page {page_mem} B; "
        f"page {len(page)} B, gzip page {gz} B, story {len(story)} B"
    )
    assert per_article < gz


async def test_one_round_trip_for_versions(rstore: RedisStore, raw: aioredis.Redis) -> None:
    """topic_versions is one MGET whatever the number of topics (issue #3 item 1)."""
    for i in range(20):
        await rstore.add_article(f"t{i}", art(f"https://a.example/{i}"))
    before = await raw.info("commandstats")
    versions = await rstore.topic_versions([f"t{i}" for i in range(20)])
    after = await raw.info("commandstats")
    assert set(versions) == {f"t{i}" for i in range(20)}
    assert all(v > 0 for v in versions.values())
    assert after["cmdstat_mget"]["calls"] - before.get("cmdstat_mget", {"calls": 0})["calls"] == 1
    gets = after.get("cmdstat_get", {"calls": 0})["calls"]
    assert gets == before.get("cmdstat_get", {"calls": 0})["calls"]


async def test_concurrent_writers_on_two_clients(redis_url: str) -> None:
    """Two replicas adding the same story at once: exactly one entry (atomic script)."""
    one, two = RedisStore.from_url(redis_url), RedisStore.from_url(redis_url)
    try:
        results = await asyncio.gather(
            *(
                s.add_article("t", art(f"https://s{i}.example/x", fingerprint="same"))
                for i in range(10)
                for s in (one, two)
            )
        )
        assert sum(results) == 1
        assert len(await one.topic_articles("t", 50)) == 1
    finally:
        await one.close()
        await two.close()


async def test_more_callers_than_connections_wait_instead_of_failing(redis_url: str) -> None:
    """A first crawl asks for hundreds of states at once; with a bounded pool the extra
    callers queue for a connection (redis-py's default pool raises instead)."""
    store = RedisStore.from_url(redis_url, max_connections=4)
    try:
        urls = [f"https://a.example/{i}" for i in range(200)]
        await asyncio.gather(*(store.put_state(u, FetchState(error_count=1)) for u in urls))
        states = await asyncio.gather(*(store.get_state(u) for u in urls))
        assert all(s == FetchState(error_count=1) for s in states)
    finally:
        await store.close()


async def test_page_ttl_follows_page_retention(rstore: RedisStore, raw: aioredis.Redis) -> None:
    page = codec.PackedPage.pack(b"<html>x</html>", "text/html")
    for url in ("https://a.example/p", "https://a.example/q"):
        await rstore.add_article("t", art(url))
    await rstore.put_page("https://a.example/p", page, ttl=100)
    assert 95 <= await raw.ttl(keys.page("https://a.example/p")) <= 100
    await rstore.put_page("https://a.example/q", page)
    assert await raw.ttl(keys.page("https://a.example/q")) > keys.PAGE_TTL - 5
    # a page replaced (after a re-extraction) keeps the expiry it had
    await rstore.replace_page("https://a.example/p", codec.PackedPage.pack(b"again", None))
    assert 95 <= await raw.ttl(keys.page("https://a.example/p")) <= 100
    assert await raw.get(keys.page("https://a.example/p")) == codec.page_to_bytes(b"again", None)


class SlowFirstReply:
    """A TCP proxy to Redis that holds back the reply to the first ``command`` (EVALSHA:
    a script; EXEC: a transaction) for ``delay`` seconds: Redis ran it, but the client's
    socket timeout fires first."""

    def __init__(self, port: int, delay: float, command: bytes = b"EVALSHA") -> None:
        self.port, self.delay, self.armed, self.command = port, delay, True, command
        self.writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"redis://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/0"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        for w in self.writers:
            w.close()
        for w in self.writers:
            with contextlib.suppress(OSError):
                await w.wait_closed()
        await self.server.wait_closed()

    async def _handle(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        sr, sw = await asyncio.open_connection("127.0.0.1", self.port)
        self.writers += [cw, sw]
        hold = asyncio.Event()

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, up: bool) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    if up and self.armed and self.command in data.upper():
                        self.armed = False
                        hold.set()
                    elif not up and hold.is_set():
                        hold.clear()
                        await asyncio.sleep(self.delay)
                    dst.write(data)
            dst.close()

        await asyncio.gather(pump(cr, sw, True), pump(sr, cw, False))


async def test_add_whose_reply_was_lost_still_reports_added(
    redis_server: RedisServer, redis_url: str
) -> None:
    """The add script ran but its reply came after the socket timeout, so redis-py sent
    it again; the second run found the entry and said 'not added', and the pipeline
    then skipped the new-entry bookkeeping (count, prune, change notice)."""
    warm = RedisStore.from_url(redis_url)
    await warm.add_article("warm", art("https://a.example/warm"))  # scripts loaded
    await warm.close()
    async with SlowFirstReply(redis_server.port, delay=0.5) as url:
        store = RedisStore.from_url(url, socket_timeout=0.2)
        try:
            assert await store.add_article("t", art("https://a.example/new")) is True
            assert [a.url for a in await store.topic_articles("t", 5)] == ["https://a.example/new"]
        finally:
            await store.close()


async def test_entering_a_stored_story_whose_reply_was_lost_still_reports_added(
    redis_server: RedisServer, redis_url: str
) -> None:
    """As above for a story already stored (by another topic) with the same bytes: the
    second run finds nothing changed and the entry present, and answers 0; the receipt
    says the first run entered it."""
    story = art("https://a.example/shared")
    warm = RedisStore.from_url(redis_url)
    await warm.add_article("a", story)  # stored under a; scripts loaded
    await warm.close()
    async with SlowFirstReply(redis_server.port, delay=0.5) as url:
        store = RedisStore.from_url(url, socket_timeout=0.2)
        try:
            stored = await store.get_article(story.url)
            assert stored is not None
            assert await store.add_article("b", stored) is True
            assert [a.url for a in await store.topic_articles("b", 5)] == [story.url]
        finally:
            await store.close()


async def test_update_whose_reply_was_lost_is_applied_once(
    redis_server: RedisServer, redis_url: str
) -> None:
    """The transaction ran but its reply came after the socket timeout; redis-py reports
    that as a conflict and runs the change again. A failure must be counted once (twice
    would double the source's backoff)."""
    async with SlowFirstReply(redis_server.port, delay=0.5, command=b"EXEC") as url:
        store = RedisStore.from_url(url, socket_timeout=0.2)
        try:
            await store.put_state("https://a.example/x", FetchState(error_count=3))
            def failed_once(state: FetchState | None) -> FetchState:
                state = state or FetchState()
                return replace(state, error_count=state.error_count + 1)

            new = await store.update_state("https://a.example/x", failed_once)
            assert new.error_count == 4
            stored = await store.get_state("https://a.example/x")
            assert stored is not None and stored.error_count == 4
        finally:
            await store.close()


async def test_version_counter_of_earlier_releases_becomes_a_time(
    rstore: RedisStore, raw: aioredis.Redis
) -> None:
    """Earlier releases counted changes (INCR); the first change after an upgrade turns
    the topic's version into the change's time, still greater than the old counter."""
    await raw.set(keys.topic_version("t"), b"57")
    assert await rstore.topic_versions(["t"]) == {"t": 57}
    before = time.time()
    await rstore.add_article("t", art("https://a.example/1"))
    version = (await rstore.topic_versions(["t"]))["t"]
    when = changed_at(version)
    assert when is not None and before - 0.001 <= when.timestamp() <= time.time() + 0.001
    assert await raw.get(keys.topic_version("t")) == str(version).encode()  # no 1.7e+12


async def test_cancellation_lost_inside_redis_py_is_raised_again(
    rstore: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Python 3.11, redis-py's asyncio.wait_for around a send returns the result when
    a cancellation lands just as the send completes (CPython gh-86296): the caller's
    task then runs on as if never cancelled, and a background loop being stopped never
    stops. The store raises the cancellation again. Here the reply read swallows it in
    the same way, deterministically."""
    from redis.asyncio.connection import Connection

    reading = asyncio.Event()
    original = Connection.read_response

    async def slow_read(self: Connection, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.1)  # the cancellation lands meanwhile
        return await original(self, *args, **kwargs)

    async def read_response(self: Connection, *args: Any, **kwargs: Any) -> Any:
        inner = asyncio.ensure_future(slow_read(self, *args, **kwargs))
        reading.set()
        try:
            return await asyncio.shield(inner)
        except asyncio.CancelledError:
            return await inner  # what 3.11's wait_for does once the inner result is in

    await rstore.ping()  # connected: the call below goes straight to its reply
    monkeypatch.setattr(Connection, "read_response", read_response)
    call = asyncio.ensure_future(rstore.get_state("https://a.example/x"))
    await asyncio.wait_for(reading.wait(), 5)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call


async def test_update_that_changes_nothing_writes_nothing(
    rstore: RedisStore, raw: aioredis.Redis
) -> None:
    """An update returning the state unchanged leaves the key alone: no rewrite that
    would reset its expiry, no receipt."""
    url = "https://a.example/same"
    await rstore.put_state(url, FetchState(etag='"e"'))
    await raw.expire(keys.state(url), 100)
    assert await rstore.update_state(url, lambda s: s or FetchState()) == FetchState(etag='"e"')
    assert 0 < await raw.ttl(keys.state(url)) <= 100
    assert [k async for k in raw.scan_iter(match=keys.receipt("*"))] == []


async def test_reading_link_states_keeps_them_alive(rstore: RedisStore, raw: aioredis.Redis) -> None:
    """A poll reads the states of the links its source lists: each lives another
    STATE_TTL, so a story listed for months is not taken back as new. A link with no
    state gets none."""
    url = "https://a.example/listed"
    await rstore.put_state(url, FetchState(topics=("t",)))
    await raw.expire(keys.state(url), 100)
    assert await rstore.get_states([url, "https://a.example/none"]) == [
        FetchState(topics=("t",)), None]
    assert abs(await raw.ttl(keys.state(url)) - keys.STATE_TTL) < 60
    assert await raw.exists(keys.state("https://a.example/none")) == 0


async def test_showing_states_writes_nothing(rstore: RedisStore, raw: aioredis.Redis) -> None:
    """/ and /metrics read every source's state only to show it: renewing them was a
    write per source (92 bytes of AOF each) at every scrape (final review, session 6)."""
    url = "https://a.example/shown"
    await rstore.put_state(url, FetchState(etag='"e"'))
    await raw.expire(keys.state(url), 100)
    assert await rstore.get_states([url], renew=False) == [FetchState(etag='"e"')]
    assert 0 < await raw.ttl(keys.state(url)) <= 100


async def test_keep_articles_extends_lives_never_shortens(rstore: RedisStore, raw: aioredis.Redis) -> None:
    """After a topic's retention is raised, its stored articles live to first_seen + the
    new retention + margin; a lower one shortens nothing (another topic may need it)."""
    day = 86400
    now = datetime.now(UTC)
    a = art("https://a.example/kept", first_seen=now)
    await rstore.add_article("t", a, retention=10 * day)
    assert abs(await raw.ttl(keys.article(a.url)) - 11 * day) < 60
    assert await rstore.keep_articles("t", 90 * day) == 1
    assert abs(await raw.ttl(keys.article(a.url)) - 91 * day) < 60
    assert await rstore.keep_articles("t", 5 * day) == 0
    assert abs(await raw.ttl(keys.article(a.url)) - 91 * day) < 60
    assert await rstore.keep_articles("nothing-here", 90 * day) == 0


async def test_many_states_are_decoded_off_the_event_loop(
    rstore: RedisStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The states of every source are read at each /metrics scrape and / request: at
    10,000 sources decoding them took 0.1-0.4 s, not to be spent on the serving loop."""
    import threading

    from feedsvc.store import redis_store

    decoded_on: set[int] = set()
    decode = codec.state_from_bytes

    def recording(data: bytes) -> FetchState:
        decoded_on.add(threading.get_ident())
        return decode(data)

    monkeypatch.setattr(codec, "state_from_bytes", recording)
    urls = [f"https://a.example/{n}" for n in range(redis_store.DECODE_STATES_INLINE + 1)]
    for url in urls:
        await rstore.put_state(url, FetchState(etag=f'"{url}"'))
    assert [s and s.etag for s in await rstore.get_states(urls[:2])] == [f'"{u}"' for u in urls[:2]]
    assert decoded_on == {threading.get_ident()}  # a few: inline, cheaper than a thread hop
    decoded_on.clear()
    states = await rstore.get_states(urls)
    assert [s and s.etag for s in states] == [f'"{u}"' for u in urls]
    assert threading.get_ident() not in decoded_on


def between_prune_runs(
    rstore: RedisStore, meanwhile: Any, *, times: int = 1
) -> list[int | str]:
    """Run ``meanwhile()`` (another replica's write) before each of the first ``times``
    runs of the prune script after its first, i.e. after a run has said which keys it
    needs and before the run given them; returns each run's answer ("keys" when it asked
    for keys and wrote nothing)."""
    script = rstore._prune
    answers: list[int | str] = []

    async def racing(**kw: Any) -> Any:
        if 0 < len(answers) <= times:
            await meanwhile()
        answer = await script(**kw)
        answers.append("keys" if isinstance(answer, list) else int(answer))
        return answer

    rstore._prune = racing  # type: ignore[assignment]
    return answers


async def test_prune_keeps_an_article_entered_in_a_new_topic_as_it_runs(
    rstore: RedisStore, raw: aioredis.Redis, redis_url: str
) -> None:
    """Another replica enters the story into a topic prune had not heard of: the topic
    registry changed since the run that named the topics, so the next run writes nothing
    and names them again, and the one after sees the new topic list the story."""
    a = art("https://a.example/1")
    await rstore.add_article("t", a)
    other = RedisStore.from_url(redis_url)  # another replica
    try:
        answers = between_prune_runs(rstore, lambda: other.add_article("new", a))
        assert await rstore.prune("t", seen_before=0.0, keep=0) == 1
    finally:
        await other.close()
    assert answers == ["keys", "keys", 1]
    assert await rstore.get_article(a.url) == a
    assert await rstore.topic_articles("new", 5) == [a]
    assert set(await raw.smembers(keys.topics())) == {b"t", b"new"}


async def test_prune_keeps_an_article_entered_in_a_known_topic_as_it_runs(
    rstore: RedisStore,
) -> None:
    a = art("https://a.example/1")
    await rstore.add_article("t", a)
    await rstore.add_article("u", art("https://a.example/other"))  # u is known
    answers = between_prune_runs(rstore, lambda: rstore.add_article("u", a))
    assert await rstore.prune("t", seen_before=0.0, keep=0) == 1
    assert answers == ["keys", 1]
    assert await rstore.get_article(a.url) == a
    # a prune that drops nothing is one run, one round-trip, as before
    answers.clear()
    assert await rstore.prune("t", seen_before=0.0, keep=0) == 0
    assert answers == [0]


async def test_prune_runs_again_when_the_topic_changed_between_its_runs(
    rstore: RedisStore,
) -> None:
    """An entry added between the runs pushes out one the first run did not name: the
    second has no key for its article, so it writes nothing, and the third removes it."""
    older = art("https://a.example/older", published=T0)
    newer = art("https://a.example/newer", published=T0 + timedelta(hours=1))
    newest = art("https://a.example/newest", published=T0 + timedelta(hours=2))
    await rstore.add_article("t", older)
    await rstore.add_article("t", newer)
    answers = between_prune_runs(rstore, lambda: rstore.add_article("t", newest))
    assert await rstore.prune("t", seen_before=0.0, keep=1) == 2
    assert answers == ["keys", "keys", 2]
    assert await rstore.get_articles([older.url, newer.url, newest.url]) == [None, None, newest]


async def test_prune_under_endless_contention_still_prunes_and_loses_nothing(
    rstore: RedisStore,
) -> None:
    """Every strict run refused: the last run drops the entries anyway, and leaves the
    articles it cannot check (a topic it has not heard of) to their TTL."""
    a = art("https://a.example/1")
    await rstore.add_article("t", a)
    n = iter(range(100))

    async def new_topic() -> None:
        await rstore.add_article(f"n{next(n)}", art("https://a.example/elsewhere"))

    answers = between_prune_runs(rstore, new_topic, times=100)
    assert await rstore.prune("t", seen_before=0.0, keep=0) == 1
    assert answers == ["keys"] * (_CAS_ATTEMPTS - 1) + [1]
    assert await rstore.topic_articles("t", 5) == []
    assert await rstore.get_article(a.url) == a


async def test_prune_knows_topics_written_before_the_registry(
    rstore: RedisStore, raw: aioredis.Redis, redis_url: str
) -> None:
    """An upgrade: topics written by an earlier release are in no registry. The first
    prune finds them (one SCAN), so an article only they list is not taken as unlisted."""
    a = art("https://a.example/1")
    await rstore.add_article("t", a)
    await rstore.add_article("legacy", a)
    await raw.delete(keys.topics())  # as an earlier release left it
    upgraded = RedisStore.from_url(redis_url)
    try:
        assert await upgraded.prune("t", seen_before=0.0, keep=0) == 1
        assert await upgraded.get_article(a.url) == a
        assert b"legacy" in await raw.smembers(keys.topics())
        assert await upgraded.prune("legacy", seen_before=0.0, keep=0) == 1
        assert await upgraded.get_article(a.url) is None
    finally:
        await upgraded.close()


async def test_prune_knows_topics_an_earlier_release_wrote_after_a_rollback(
    rstore: RedisStore, raw: aioredis.Redis, redis_url: str
) -> None:
    """Upgraded, rolled back, upgraded again: while the earlier release ran, it entered
    the story into a topic without naming it in the registry, which the first upgrade
    had filled already. A process of the second upgrade still finds that topic (its
    own SCAN), and keeps the story it lists."""
    a = art("https://a.example/1")
    await rstore.add_article("t", a)
    assert await rstore.prune("t", seen_before=0.0, keep=5) == 0  # the first upgrade's
    # rolled back: an earlier release's add leaves the topic out of the registry
    await rstore.add_article("rolled-back", a)
    await raw.srem(keys.topics(), "rolled-back")
    upgraded = RedisStore.from_url(redis_url)  # upgraded again: a new process
    try:
        assert await upgraded.prune("t", seen_before=0.0, keep=0) == 1
        assert await upgraded.get_article(a.url) == a
        assert await upgraded.topic_articles("rolled-back", 5) == [a]
    finally:
        await upgraded.close()


async def test_prune_forgets_topics_that_hold_nothing(
    rstore: RedisStore, raw: aioredis.Redis
) -> None:
    """A topic whose entries are gone (dropped from the config, keys expired) leaves the
    registry at the next prune that drops something, so it is not looked up for ever."""
    await rstore.add_article("gone", art("https://a.example/g"))
    await rstore.add_article("t", art("https://a.example/t"))
    await raw.delete(keys.topic_entries("gone"))  # expired
    assert await rstore.prune("t", seen_before=0.0, keep=0) == 1
    assert await raw.smembers(keys.topics()) == {b"t"}
    # a prune that drops nothing writes nothing, the registry included
    await raw.sadd(keys.topics(), "gone")
    assert await rstore.prune("t", seen_before=0.0, keep=0) == 0
    assert await raw.smembers(keys.topics()) == {b"t", b"gone"}
