"""Section ``redis`` (issue #3 item 3): Redis memory per stored article.

A private ``redis-server`` (free loopback port, never the shared one on 6379) receives,
through :class:`feedsvc.store.redis_store.RedisStore`, what the pipeline writes for each
new article: the article (extracted by feedsvc from the page), the page itself (kept for
re-extraction) and the link's fetch state. ``INFO memory`` before and after, divided by
the article count, is compared with the gzip size of the page (target: below). The
page is stored as the pipeline stores it: the rest of the Brotli stream of the story the
article holds (feedsvc/store/codec.py), checked to read back whole.

Two sets of pages: the bench site's generated ones, and the 130 real news and blog pages
of the Mozilla Readability corpus in ``../shared`` (skipped, saying so, without it). The
generated pages are mostly story (~25 KB of text in 15-60 KB of HTML), so the stored
article is as big as the page's compressed text; real pages carry far more markup
around a story (200 KB of HTML for 22 KB of story on average), which is what the
target's gzip page size measures.

It also runs the real ``feedsvc crawl --once`` into that Redis, which must store every
article of a feed larger than the Redis client's connection pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    SectionResult,
    free_port,
    log,
    metric,
    redis_server,
    service_config,
)
from bench.crawl import crawl_once
from bench.site import article_page, origin
from feedsvc import keys

TOPIC = "news"
CT = "text/html"  # no charset: each page's own <meta charset> decides, as from most origins
CORPUS = ROOT.parent / "shared" / "corpus" / "mozilla-readability" / "test-pages"


def _corpus_pages() -> list[bytes]:
    return [d.joinpath("source.html").read_bytes() for d in sorted(CORPUS.iterdir())
            if d.joinpath("source.html").is_file()]


def _extract(job: tuple[int, bytes]) -> Any:
    """Page ``n`` as the pipeline would store it (in a worker process): the same worker
    function the service uses, so the stored page is the slimmed one."""
    from feedsvc.errors import ExtractError
    from feedsvc.extractor import extract_in_worker
    from feedsvc.models import Article

    n, body = job
    url = f"http://127.0.0.1/a/{n}.html"
    try:
        extraction = extract_in_worker(body, url, {"Content-Type": CT}, None, keep_page=True,
                                       sites_dir=None, time_budget=None)
    except ExtractError:
        return None  # not an article: the pipeline would store nothing either
    ex = extraction.article
    now = datetime.now(UTC)
    article = Article(
        url=url, title=ex.title or url, content_html=ex.content_html, published=ex.published or now,
        first_seen=now, author=ex.author, updated=ex.updated, dateline=ex.dateline,
        lead_image=ex.lead_image, lang=ex.lang, fingerprint=extraction.fingerprint,
    )
    return article, extraction.page


async def _store_all(url: str, extracted: list[Any], *, pages: bool) -> int:
    """Store as the pipeline does; returns how many articles were entered (a copy of
    a story entered already, by its text fingerprint, is not, and keeps no page)."""
    from feedsvc.models import FetchState
    from feedsvc.store.redis_store import RedisStore

    store = RedisStore.from_url(url)
    added = 0
    try:
        now = time.time()
        for n, (article, page) in enumerate(extracted):
            if await store.add_article(TOPIC, article, retention=30 * 86400.0):
                added += 1
                if pages:
                    await store.put_page(article.url, page)
            await store.put_state(article.url, FetchState(
                etag=f'"{n:08x}"', last_status=200, last_fetched=now,
                canonical=article.url, topics=(TOPIC,)))
    finally:
        await store.close()
    return added


async def _readable_pages(url: str, extracted: list[Any]) -> int:
    """How many kept pages the store gives back whole (a page continues its article's
    story: one the store could not read would cost memory for nothing)."""
    from feedsvc.errors import StoreError
    from feedsvc.store.redis_store import RedisStore

    store = RedisStore.from_url(url)
    readable = 0
    try:
        for article, _ in extracted:
            page = await store.get_page(article.url)
            with contextlib.suppress(StoreError):
                readable += page is not None and bool(page.unpack().body)
    finally:
        await store.close()
    return readable


def _info(url: str) -> dict[str, Any]:
    import redis

    client = redis.Redis.from_url(url)
    try:
        sizes: dict[str, list[int]] = {"article": [], "page": [], "state": []}
        for key in client.scan_iter(match=keys.scan_pattern(), count=1000):
            kind = key.decode().split(":")[1]
            if kind in sizes and len(sizes[kind]) < 200:
                sizes[kind].append(int(client.memory_usage(key, samples=0) or 0))
        return {
            "used_memory": int(client.info("memory")["used_memory"]),
            "dbsize": int(client.dbsize()),
            "mean_key_bytes": {k: (sum(v) / len(v) if v else 0.0) for k, v in sizes.items()},
        }
    finally:
        client.close()


def _flush(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushall()  # our private server only: redis_server() started it on its own port
    finally:
        client.close()


def run(quick: bool = False) -> SectionResult:
    """Memory per article, and a real crawl into Redis."""
    res = SectionResult("redis")
    count = 100 if quick else 300
    crawl_count = 150 if quick else 300
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as tmp, redis_server(Path(tmp)) as url:
        if url is None:
            res.notes.append("redis-server is not installed: section skipped.")
            return res
        _memory_per_article(res, url, "bench site", [article_page(n) for n in range(count)])
        if CORPUS.is_dir():
            _memory_per_article(res, url, "real pages", _corpus_pages())
        else:
            res.notes.append(f"{CORPUS} not found: memory on real pages not measured")

        _flush(url)
        with origin(feeds={"big": crawl_count}) as site:
            cfg = service_config(free_port(), {TOPIC: [{"url": site.feed_url("big"), "kind": "feed",
                                                        "max_articles": crawl_count}]},
                                 redis_url=url, extract_workers=2,
                                 # Every article listed, so every one stays stored: one that
                                 # max_entries (50 by default) drops from the topic's only
                                 # feed goes from the store at once.
                                 defaults={"max_entries": crawl_count})
            log(f"redis: crawl --once of {crawl_count} articles into Redis")
            error = ""
            try:
                crawl_once(Path(tmp), cfg, site)
            except RuntimeError as exc:
                error = str(exc)
            stored = _count_articles(url)
        if error:
            res.notes.append(f"crawl --once into Redis failed: {error.splitlines()[1][:300]}")
        res.add(metric("redis", f"crawl --once into Redis: articles stored of {crawl_count}", stored, "",
                       target=f">= {crawl_count}"))
    return res


def _memory_per_article(res: SectionResult, url: str, label: str, pages: list[bytes]) -> None:
    """Store what the pipeline stores for each page; report bytes per article."""
    count = len(pages)
    log(f"redis: extracting {count} pages ({label})")
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(_extract, enumerate(pages), chunksize=8))
    pages = [page for page, r in zip(pages, results, strict=True) if r is not None]
    extracted = [r for r in results if r is not None]
    count = len(extracted)
    gz = sum(len(gzip.compress(p, 6)) for p in pages) / count
    per: dict[bool, float] = {}
    infos: dict[bool, dict[str, Any]] = {}
    # A fresh server's first fill, and first look at it (_info's SCAN and MEMORY USAGE),
    # take ~300 KB more than any later one, whichever pass comes first and whatever it
    # stores: a one-time cost, not one per article. Filled, looked at and flushed once
    # beforehand, it is not counted against the articles measured.
    _flush(url)
    asyncio.run(_store_all(url, extracted, pages=True))
    _info(url)
    readable = 0
    for keep_pages in (True, False):
        _flush(url)
        before = _info(url)
        stored = asyncio.run(_store_all(url, extracted, pages=keep_pages))
        infos[keep_pages] = after = _info(url)
        per[keep_pages] = (after["used_memory"] - before["used_memory"]) / stored
        if keep_pages:
            readable = asyncio.run(_readable_pages(url, extracted))
    if readable < stored:
        res.notes.append(f"{label}: only {readable} of {stored} kept pages read back whole")
    log(f"redis ({label}): {per[True]:,.0f} B per article (article + page + state), "
        f"{per[False]:,.0f} B without pages, vs gzip page {gz:,.0f} B")
    res.add(metric("redis", f"[{label}] memory per stored article (all keys)", per[True], "B",
                   baseline=gz, target="< 1.0", on="ratio",
                   note=f"{count} pages, {stored} stories; INFO used_memory delta / stories, pages kept "
                        "(page_retention: 14d); baseline: gzip -6 size of the page"))
    res.add(metric("redis", f"[{label}] memory per stored article, page_retention: 0", per[False],
                   "B", baseline=gz, target="< 1.0", on="ratio",
                   note="no stored pages (no re-extraction after a rule change)"))
    after = infos[True]
    for kind in ("article", "page", "state"):
        res.add(metric("redis", f"  {kind} key (MEMORY USAGE mean)", after["mean_key_bytes"][kind], "B",
                       baseline=gz, note="information"))
    res.details[label] = dict(articles=count, stored=stored, after=after, gzip_page_mean=gz,
                              pages_readable=readable,
                              raw_page_mean=sum(map(len, pages)) / count, per_article=per[True],
                              per_article_without_pages=per[False])


def _count_articles(url: str) -> int:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return sum(1 for _ in client.scan_iter(match=keys.scan_pattern("article"), count=1000))
    finally:
        client.close()
