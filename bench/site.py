"""The benchmark's origin: a news site on 127.0.0.1 with realistic pages (issue #3 item 3).

Article pages are generated deterministically from their number: 15-60 KB of HTML with
a story (headline, byline, dateline, paragraphs) inside the chrome of a real news site
(head scripts and styles, navigation, sidebar, related links, comments, footer), so
extraction works as hard as it does on the web. Feeds are partial RSS 2.0 (title, link,
teaser) with an ETag, answering 304 to a matching ``If-None-Match``.

Run as its own process (the benchmark never shares a core's event loop with it)::

    python -m bench.site --delay 0.05 --feed news=50 --grow live:2

and it prints ``PORT <n>`` once listening. Routes:

- ``/feed/<name>.xml``: the named feed (newest first); ``/poll/<i>.xml``: an unchanged
  empty feed for steady-state polling;
- ``/a/<n>.html``: article ``n``;
- ``/_bench/add?feed=<name>``: publish a new article at the top of a feed (returns its URL);
- ``/_bench/stats`` (JSON: request counts and times) and ``/_bench/reset``.

``--delay`` holds every feed and article response that long (a slow origin).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from typing import Any

from aiohttp import web

from bench.common import LOOPBACK, PYTHON, http_get, popen, running

_TEXT = """the a of to and in that for on with as was said by at from his her its their government
minister officials report military space agency launch satellite mission orbit rocket engineers
program defence budget contract system test flight crew station lunar research nation nations
security council talks treaty forces navy army air command radar missile drone systems country
countries week month year years first new last next several many other earlier later after before
during while since under over against between would could should will may might has have had been
being were are is be not no more most less least about into through across around plans plan
project projects funding industry companies company partners partner leaders leader spokesman
statement announced confirmed warned expected planned delayed approved signed reached agreed opened
closed built tested designed developed deployed ordered delivered reported according sources
analysts experts observers critics parliament ministry capital region border coast sea ocean
north south east west european american russian chinese indian japanese international global
national regional local public private commercial civil scientific technical strategic political
economic financial major minor key critical important significant large small long short high low
early late recent current future past"""
_WORDS = tuple(_TEXT.split())

_SECTIONS = ["World", "Politics", "Business", "Science", "Space", "Defence", "Technology", "Energy",
             "Environment", "Health", "Culture", "Sport", "Opinion", "Video", "Podcasts"]
_CITIES = ["Washington", "Moscow", "Beijing", "Paris", "London", "Tokyo", "Delhi", "Berlin",
           "Houston", "Brussels", "Seoul", "Canberra"]
_AGENCIES = ["AFP", "UPI", "Reuters", "AP", "Staff Writers"]
BASE_DATE = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(9, 26))]
    return " ".join(words).capitalize() + rng.choice([".", ".", ".", ",\" officials said.", "."])


def paragraph(rng: random.Random) -> str:
    """A paragraph of 3-6 sentences of news-like filler."""
    return " ".join(_sentence(rng) for _ in range(rng.randint(3, 6)))


def headline(n: int) -> str:
    """The headline of article ``n`` (distinct words per article, for dedup by fingerprint)."""
    rng = random.Random(n * 7919)
    words = [rng.choice(_WORDS) for _ in range(rng.randint(5, 10))]
    return f"{' '.join(words).capitalize()} ({n})"


def published(n: int) -> datetime:
    """Article ``n``'s publication time: later numbers are newer."""
    return BASE_DATE + timedelta(minutes=7 * n)


def _links(rng: random.Random, count: int, prefix: str) -> str:
    return "".join(
        f'<li><a href="/{prefix}/{rng.randint(1, 99999)}.html">'
        f"{escape(headline(rng.randint(10**6, 10**7)))}</a></li>"
        for _ in range(count)
    )


def article_page(n: int) -> bytes:
    """Article ``n``: 15-60 KB of HTML, a story in a news site's chrome."""
    rng = random.Random(n)
    target = rng.randint(15_000, 60_000)
    title = headline(n)
    when = published(n)
    city, agency = rng.choice(_CITIES), rng.choice(_AGENCIES)
    style = "".join(f".c{i}{{margin:{i % 7}px;padding:{i % 5}px;color:#{i * 4099 % 0xFFFFFF:06x}}}"
                    for i in range(60))
    script = ("window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}"
              "gtag('js',new Date());gtag('config','G-BENCH');" * 8)
    nav = "".join(f'<li><a href="/{s.lower()}/">{s}</a></li>' for s in _SECTIONS)
    head = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(title)} | The Bench Times</title>"
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta property="og:title" content="{escape(title)}"><meta property="og:type" content="article">'
            f'<meta name="author" content="{agency}">'
            f'<meta property="article:published_time" content="{when.isoformat()}">'
            f"<style>{style}</style><script>{script}</script></head><body>"
            f'<div class="cookie-banner">We use cookies to improve your experience. '
            f'<a href="/privacy">Learn more</a> <button>Accept</button></div><header class="site-header">'
            f'<a class="logo" href="/">The Bench Times</a><nav class="main-nav"><ul>{nav}</ul></nav>'
            f'<form class="search"><input name="q"></form></header>'
            f'<div class="ad ad-leaderboard">Advertisement</div><div class="layout"><main>')
    sidebar = (f'<aside class="sidebar"><h3>Most read</h3><ol>{_links(rng, 10, "most-read")}</ol>'
               f'<div class="ad ad-mpu">Advertisement</div><h3>Newsletter</h3><p>Sign up for our daily '
               f'briefing and never miss a story.</p><form><input name="email"><button>Subscribe</button>'
               f'</form><h3>Latest</h3><ul>{_links(rng, 12, "latest")}</ul></aside>')
    related = (f'<section class="related"><h2>Related stories</h2><ul>{_links(rng, 8, "related")}</ul>'
               "</section>")
    comments = "".join(
        f'<div class="comment"><b>reader{rng.randint(1, 9999)}</b><p>{_sentence(rng)}</p></div>'
        for _ in range(rng.randint(3, 8))
    )
    footer = (f'</div><footer><ul>{_links(rng, 30, "archive")}</ul><p>Copyright 1995-2024 The Bench Times. '
              f'All rights reserved. Reproduction without permission is prohibited.</p></footer>'
              f'<script>{script}</script></body></html>')
    chrome = len(head) + len(sidebar) + len(related) + len(footer) + len(comments) + 400
    paras: list[str] = []
    while chrome + sum(len(p) + 8 for p in paras) < target or len(paras) < 4:
        paras.append(paragraph(rng))
    story = "".join(f"<p>{p}</p>\n" for p in paras)
    body = (f'<article class="story"><h1>{escape(title)}</h1><div class="byline">By {agency}</div>'
            f'<time datetime="{when.isoformat()}">{when:%B %d, %Y}</time>'
            f'<p class="dateline"><b>{city} ({agency}) {when:%b %d, %Y}</b></p>{story}</article>'
            f'{related}<section class="comments"><h2>Comments</h2>{comments}</section></main>{sidebar}')
    return (head + body + footer).encode("utf-8")


def article_path(n: int) -> str:
    return f"/a/{n}.html"


def teaser(n: int) -> str:
    return paragraph(random.Random(-n))[:200]


def rss(base: str, numbers: list[int], title: str = "The Bench Times") -> bytes:
    """A partial RSS 2.0 feed of articles ``numbers`` (newest first): title, link, teaser."""
    items = "".join(
        f"<item><title>{escape(headline(n))}</title><link>{base}{article_path(n)}</link>"
        f"<guid>{base}{article_path(n)}</guid><pubDate>{format_datetime(published(n))}</pubDate>"
        f"<description>{escape(teaser(n))}</description></item>"
        for n in numbers
    )
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{escape(title)}</title><link>{base}/</link><description>news</description>{items}</channel></rss>").encode()


# -- the origin server -------------------------------------------------------------------


@dataclass
class _Feed:
    numbers: list[int]  # newest first
    body: bytes = b""
    etag: str = ""


class OriginApp:
    """State of the origin process: feeds, page cache, request statistics."""

    def __init__(self, base: str, feeds: dict[str, int], delay: float) -> None:
        self.base = base
        self.delay = delay
        self.next_number = 0
        self.feeds: dict[str, _Feed] = {}
        for name, count in feeds.items():
            numbers = list(range(self.next_number, self.next_number + count))[::-1]
            self.next_number += count
            self.feeds[name] = self._render(_Feed(numbers))
        # Pages are built before the server answers: building one costs a few ms of this
        # process's CPU, which would otherwise slow the crawl under test.
        self.pages: dict[int, bytes] = {n: article_page(n) for n in range(self.next_number)}
        self.reset()
        empty = rss(base, [])
        self.empty = (empty, '"' + hashlib.sha1(empty).hexdigest()[:16] + '"')

    def reset(self) -> dict[str, Any]:
        self.counts: Counter[str] = Counter()
        self.first: dict[str, float] = {}
        self.last_done: dict[str, float] = {}
        self.in_flight = self.max_in_flight = 0
        return {"ok": True}

    def _render(self, feed: _Feed) -> _Feed:
        feed.body = rss(self.base, feed.numbers)
        feed.etag = '"' + hashlib.sha1(feed.body).hexdigest()[:16] + '"'
        return feed

    def add(self, name: str) -> str:
        feed = self.feeds[name]
        n = self.next_number
        self.next_number += 1
        feed.numbers.insert(0, n)
        del feed.numbers[200:]
        self._render(feed)
        return self.base + article_path(n)

    def page(self, n: int) -> bytes:
        body = self.pages.get(n)
        if body is None:
            body = self.pages[n] = article_page(n)
        return body

    def stats(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "first": self.first, "last_done": self.last_done,
                "max_in_flight": self.max_in_flight, "now": time.time()}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith("/_bench/"):
            return self._control(request)
        kind = path.split("/")[1] if path.count("/") >= 2 else "other"
        self.counts[kind] += 1
        self.first.setdefault(kind, time.time())
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            return self._content(request, kind)
        finally:
            self.in_flight -= 1
            self.last_done[kind] = time.time()

    def _content(self, request: web.Request, kind: str) -> web.Response:
        name = request.path.rsplit("/", 1)[1].split(".", 1)[0]
        if kind == "a" and name.isdigit():
            return web.Response(body=self.page(int(name)), content_type="text/html", charset="utf-8")
        if kind in ("feed", "poll"):
            feed = self.feeds.get(name) if kind == "feed" else None
            body, etag = (feed.body, feed.etag) if feed else self.empty
            if kind == "feed" and feed is None:
                return web.Response(status=404, text="no such feed")
            if request.headers.get("If-None-Match") == etag:
                return web.Response(status=304, headers={"ETag": etag})
            return web.Response(body=body, headers={"ETag": etag, "Content-Type": "application/rss+xml"})
        return web.Response(status=404, text="not found")

    def _control(self, request: web.Request) -> web.Response:
        action = request.path.removeprefix("/_bench/")
        if action == "add":
            return web.json_response({"url": self.add(request.query.get("feed", "news"))})
        if action == "stats":
            return web.json_response(self.stats())
        if action == "reset":
            return web.json_response(self.reset())
        return web.Response(status=404)


async def _grow(app: OriginApp, feed: str, per_second: float) -> None:
    while True:
        await asyncio.sleep(1 / per_second)
        app.add(feed)


async def _serve(args: argparse.Namespace) -> None:
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((LOOPBACK, args.port))
    port = sock.getsockname()[1]
    feeds = dict((f.split("=")[0], int(f.split("=")[1])) for f in args.feed)
    state = OriginApp(f"http://{LOOPBACK}:{port}", feeds, args.delay)
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", state.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.SockSite(runner, sock, backlog=1024).start()
    tasks = []
    for spec in args.grow:
        name, rate = spec.split(":")
        tasks.append(asyncio.create_task(_grow(state, name, float(rate))))
    print(f"PORT {port}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--delay", type=float, default=0.0, help="seconds before each feed/article response")
    p.add_argument("--feed", action="append", default=[], help="NAME=COUNT: a feed of COUNT articles")
    p.add_argument("--grow", action="append", default=[], help="NAME:PER_SECOND: publish continuously")
    args = p.parse_args()
    try:
        import uvloop

        uvloop.run(_serve(args))
    except ImportError:
        asyncio.run(_serve(args))


# -- client side ------------------------------------------------------------------------------


@dataclass
class Origin:
    """A running origin process, seen from the benchmark."""

    proc: subprocess.Popen[bytes]
    port: int

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def feed_url(self, name: str) -> str:
        return f"{self.base_url}/feed/{name}.xml"

    def poll_url(self, i: int) -> str:
        return f"{self.base_url}/poll/{i}.xml"

    def _control(self, action: str) -> dict[str, Any]:
        status, _, body = http_get(f"{self.base_url}/_bench/{action}")
        if status != 200:
            raise RuntimeError(f"origin control {action} answered {status}")
        data: dict[str, Any] = json.loads(body)
        return data

    def stats(self) -> dict[str, Any]:
        return self._control("stats")

    def reset(self) -> None:
        self._control("reset")

    def add(self, feed: str) -> str:
        url: str = self._control(f"add?feed={feed}")["url"]
        return url


@contextmanager
def origin(*, delay: float = 0.0, feeds: dict[str, int] | None = None,
           grow: dict[str, float] | None = None, cpu: int | None = None) -> Iterator[Origin]:
    """Start an origin process; stopped when the block ends."""
    cmd = [PYTHON, "-m", "bench.site", "--delay", str(delay)]
    for name, count in (feeds or {}).items():
        cmd += ["--feed", f"{name}={count}"]
    for name, rate in (grow or {}).items():
        cmd += ["--grow", f"{name}:{rate}"]
    proc = popen(cmd, cpu=cpu, stdout=subprocess.PIPE, stderr=None)
    with running(proc):
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            raise RuntimeError(f"origin did not start: {line!r}")
        yield Origin(proc, int(line.split()[1]))


if __name__ == "__main__":
    main()
