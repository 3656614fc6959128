"""Serve stage: HTTP handlers. Feeds come from the in-memory :class:`FeedCache`.

Conditional requests follow RFC 9110 §13: ``If-None-Match`` (weak comparison) wins
over ``If-Modified-Since``, which is only looked at when there is no
``If-None-Match`` (§13.1.3).
"""

from __future__ import annotations

import contextlib
import html
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

from aiohttp import hdrs, web

from feedsvc import __version__
from feedsvc.errors import StoreError
from feedsvc.extract import canonical_url
from feedsvc.live import LIVE
from feedsvc.metrics import CONTENT_TYPE_LATEST, Metrics
from feedsvc.models import FetchState
from feedsvc.redact import redact_url
from feedsvc.render import NOSNIFF
from feedsvc.store import Store

log = logging.getLogger("feedsvc.web")

STORE = web.AppKey("store", Store)
METRICS = web.AppKey("metrics", Metrics)

ATOM_TYPE = "application/atom+xml"


def _accepts_gzip(request: web.Request) -> bool:
    accept = request.headers.get(hdrs.ACCEPT_ENCODING)
    if not accept:
        return False
    accept = accept.lower()  # codings and q are case-insensitive (RFC 9110 §8.4.1, §12.4.2)
    if "gzip" not in accept and "*" not in accept:
        return False
    named = wildcard = None
    for part in accept.split(","):
        coding, _, params = part.strip().partition(";")
        coding = coding.strip()
        if coding in ("gzip", "x-gzip"):  # x-gzip: the same coding (RFC 9110 §8.4.1.3)
            named = bool(named) or _q_positive(params)
        elif coding == "*":
            wildcard = _q_positive(params)
    # "*" stands for every coding not named (RFC 9110 §12.5.3)
    return named if named is not None else bool(wildcard)


def _q_positive(params: str) -> bool:
    q = params.strip().removeprefix("q=").strip()
    return not (q and q.replace("0", "").strip(".") == "")  # "q=0" refuses it


def _not_modified(request: web.Request, etag: str, last_modified: datetime) -> bool:
    inm = request.headers.get(hdrs.IF_NONE_MATCH)
    if inm is not None:
        if inm == etag:  # the usual case: a reader sends back what it got
            return True
        if inm.strip() == "*":
            return True
        wanted = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return etag in wanted
    ims = request.if_modified_since
    return ims is not None and last_modified.replace(microsecond=0) <= ims


async def feed_handler(request: web.Request) -> web.StreamResponse:
    """``GET /feeds/{topic}.atom`` for topics added by a config reload."""
    return await serve_feed(request, request.match_info["topic"])


def topic_handler(topic: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A handler for one configured topic, registered as a static route: matched by a
    dictionary lookup instead of a regular expression (the serving hot path)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return await serve_feed(request, topic)

    return handler


async def serve_feed(request: web.Request, topic: str) -> web.StreamResponse:
    cache = request.app[LIVE].feeds
    counts = request.app[METRICS].feed_statuses  # a plain Counter, folded in on scrape
    try:
        feed = cache.current(topic) or await cache.get(topic)
    except StoreError:
        counts[503] += 1
        raise web.HTTPServiceUnavailable(
            text="feed not available yet: the store is unreachable\n",
            headers={hdrs.RETRY_AFTER: "30", **NOSNIFF},
        ) from None
    if feed is None:
        counts[404] += 1
        raise web.HTTPNotFound(text=f"no such topic: {topic}\n", headers=NOSNIFF)
    # Everything below was computed when the feed was rendered.
    if _accepts_gzip(request):
        etag, headers, body = feed.etag_gzip, feed.headers_gzip, feed.gzipped
    else:
        etag, headers, body = feed.etag, feed.headers, feed.body
    if _not_modified(request, etag, feed.last_modified):
        counts[304] += 1
        return web.Response(status=304, headers=feed.headers_304_gzip
                            if etag is feed.etag_gzip else feed.headers_304)
    counts[200] += 1
    return web.Response(body=body, headers=headers)


async def healthz(request: web.Request) -> web.Response:
    """Process alive: no I/O at all."""
    return web.Response(text="ok\n", headers=NOSNIFF)


async def readyz(request: web.Request) -> web.Response:
    """Ready when the store answers."""
    try:
        await request.app[STORE].ping()
    except StoreError as exc:
        request.app[METRICS].store_checked(exc)
        return web.Response(status=503, text=f"store unavailable: {exc}\n", headers=NOSNIFF)
    request.app[METRICS].store_checked(None)
    return web.Response(text="ready\n", headers=NOSNIFF)


async def refresh_metrics(app: web.Application) -> None:
    """Fold the hot path's plain counts into the Prometheus metrics and check the store."""
    metrics = app[METRICS]
    feeds = app[LIVE].feeds
    metrics.cache_hits.inc(feeds.take_hits())
    for topic, renders in feeds.take_renders().items():
        metrics.renders.labels(topic).inc(renders)
    metrics.fold()
    try:
        await app[STORE].ping()
    except StoreError as exc:
        metrics.store_checked(exc)
    else:
        metrics.store_checked(None)


async def refresh_source_errors(app: web.Application) -> None:
    """Read every configured source's stored failure count (one batch) into
    ``feedsvc_source_errors``. With the store down the values stay as last read: an
    outage is not the sources' failure (a source dropped by a reload goes all the same)."""
    sources = app[LIVE].settings.all_sources()
    exported = app[METRICS].source_errors
    labels = [(s.topic, redact_url(s.url) or "") for s in sources]
    try:
        states = await app[STORE].get_states([s.state_key for s in sources], renew=False)
    except StoreError:
        exported.counts = {k: exported.counts[k] for k in labels if k in exported.counts}
        return
    exported.counts = {k: state.error_count if state else 0
                       for k, state in zip(labels, states, strict=True)}


async def metrics_handler(request: web.Request) -> web.Response:
    """``GET /metrics`` in the Prometheus text format."""
    metrics = request.app[METRICS]
    await refresh_metrics(request.app)
    await refresh_source_errors(request.app)
    resp = web.Response(body=metrics.render(), headers=NOSNIFF)
    resp.headers[hdrs.CONTENT_TYPE] = CONTENT_TYPE_LATEST
    return resp


def _status_line(state: FetchState | None, now: float, link: FetchState | None = None) -> str:
    """A source's line on ``/``; ``link`` is the state of the first of its article links
    that failed on its last poll (``state.retry``), for an example of their error."""
    if state is None or state.last_fetched is None:
        return "not polled yet"
    ago = f"{now - state.last_fetched:.0f}s ago"
    if state.error_count:
        wait = state.next_due - now
        due = f"next try in {wait:.0f}s" if wait >= 1 else "next try due now"
        line = f"failing ({state.error_count} in a row, last {ago}, {due}): {state.last_error}"
    else:
        line = f"ok (HTTP {state.last_status}, {ago})"
    if state.retry:
        # The source answers (maybe 304 each time) while its stories do not: without
        # this, "ok" over an empty feed.
        n = len(state.retry)
        line += f"; {n} article link{'' if n == 1 else 's'} failing"
        if link is not None and link.last_error:
            line += f", e.g. {link.last_error}"
    return line


def _link_key(state: FetchState | None) -> str | None:
    """The state key of the first article link ``state`` (a source's) is retrying."""
    return canonical_url(state.retry[0].url) if state is not None and state.retry else None


async def index_handler(request: web.Request) -> web.Response:
    """``GET /``: topics with subscribe links and feed autodiscovery, source status."""
    settings = request.app[LIVE].settings
    store = request.app[STORE]
    now = time.time()
    base = settings.base_url
    head, body = [], []
    # Every source's state in a few round-trips, not one per source in turn; with the
    # store down, one failed call (a connect attempt and a retry, issue #3 item 4).
    sources = settings.all_sources()
    links: dict[str, FetchState | None] = {}
    try:
        states = dict(zip((s.state_key for s in sources),
                          await store.get_states([s.state_key for s in sources], renew=False),
                          strict=True))
    except StoreError:
        states = None
    keys = list(dict.fromkeys(k for k in map(_link_key, (states or {}).values()) if k))
    if keys:  # one more batch when some sources have failing article links: one link each
        with contextlib.suppress(StoreError):
            links = dict(zip(keys, await store.get_states(keys, renew=False), strict=True))
    for topic in settings.topics.values():
        href = f"{base}/feeds/{topic.name}.atom"
        t = html.escape(topic.title)
        head.append(f'<link rel="alternate" type="{ATOM_TYPE}" title="{t}" href="{html.escape(href)}">')
        rows = []
        for src in topic.sources:
            if states is None:
                status = "unknown (store unavailable)"
            else:
                state = states[src.state_key]
                key = _link_key(state)
                status = _status_line(state, now, links.get(key) if key else None)
            rows.append(
                f"<li><a href=\"{html.escape(redact_url(src.url) or '')}\">"
                f"{html.escape(src.name)}</a> "
                f"({src.kind}): {html.escape(status)}</li>"
            )
        body.append(
            f'<section><h2>{t}</h2><p>{html.escape(topic.description)}</p>'
            f'<p>Subscribe: <a href="{html.escape(href)}">{html.escape(href)}</a></p>'
            f"<ul>{''.join(rows)}</ul></section>"
        )
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>feedsvc</title>{''.join(head)}</head><body>"
        f"<h1>feedsvc</h1><p>Clean full-text Atom feeds. Version {__version__}.</p>"
        f"{''.join(body)}</body></html>\n"
    )
    return web.Response(text=page, content_type="text/html", charset="utf-8", headers=NOSNIFF)


def add_routes(app: web.Application, topics: Iterable[str] = ()) -> None:
    for topic in topics:
        app.router.add_get(f"/feeds/{topic}.atom", topic_handler(topic))
    app.router.add_get("/", index_handler)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get(r"/feeds/{topic}.atom", feed_handler)
