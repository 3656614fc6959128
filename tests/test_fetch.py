"""The real Fetcher against local origins (issue #2 item 2, issue #3 item 4)."""

from __future__ import annotations

import asyncio
import email.utils
import gzip
import pickle
import time
import zlib
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from feedsvc.errors import (
    BlockedError,
    FetchError,
    HostWaitError,
    HTTPStatusError,
    PrivateAddressBlockedError,
    RobotsUnreachableError,
    TooLargeError,
    UnsupportedContentError,
)
from feedsvc.fetch import Fetcher, parse_max_age, parse_retry_after
from feedsvc.models import FetchResult
from feedsvc.robots import STALE_MAX, RobotsCache, product_token
from tests.helpers import free_port, record_threads
from tests.origin import (
    Handler,
    Origin,
    RawOrigin,
    Route,
    RouteSpec,
    StreamStats,
    close_mid_body,
    hang,
    huge_body,
    redirect,
)

UA = "feedsvc-test/1.0 (+https://example.invalid/feedsvc)"
PAGE = "<html><head><title>t</title></head><body><p>hello</p></body></html>"
MB = 1024 * 1024


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher(user_agent=UA, concurrency=8, per_host=2) as f:
        yield f


# -- success and validators -----------------------------------------------------


async def test_200_returns_body_validators_and_lowercased_headers(fetcher: Fetcher) -> None:
    headers = {
        "ETag": '"v1"',
        "Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT",
        "Cache-Control": "public, max-age=600",
    }
    async with Origin({"/p": Route(body=PAGE, headers=headers)}) as site:
        res = await fetcher.fetch(site.url("/p"), timeout=2, max_bytes=MB)
    assert res.status == 200
    assert res.body == PAGE.encode()
    assert res.url == site.url("/p")
    assert res.etag == '"v1"'
    assert res.last_modified == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert res.headers["content-type"].startswith("text/html")
    assert res.headers["Content-Type"] == res.headers.get("CONTENT-TYPE")
    assert "Cache-Control" in res.headers
    assert pickle.loads(pickle.dumps(res)) == res
    assert res.min_interval == 600
    assert not res.not_modified


def _conditional(etag: str, last_modified: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        validators = {"ETag": etag, "Last-Modified": last_modified}
        if (
            request.headers.get("If-None-Match") == etag
            or request.headers.get("If-Modified-Since") == last_modified
        ):
            return web.Response(status=304, headers=validators)
        return web.Response(text=PAGE, content_type="text/html", headers=validators)

    return handler


async def test_conditional_get_sends_validators_and_gets_304(fetcher: Fetcher) -> None:
    lm = "Wed, 21 Oct 2015 07:28:00 GMT"
    async with Origin({"/p": _conditional('"abc"', lm)}) as site:
        first = await fetcher.fetch(site.url("/p"), timeout=2, max_bytes=MB)
        by_etag = await fetcher.fetch(site.url("/p"), timeout=2, max_bytes=MB, etag=first.etag)
        by_date = await fetcher.fetch(
            site.url("/p"), timeout=2, max_bytes=MB, last_modified=first.last_modified
        )
        sent = site.headers_of("/p")
    assert first.status == 200
    assert first.body is not None
    assert "If-None-Match" not in sent[0]
    assert sent[1]["If-None-Match"] == '"abc"'
    assert sent[2]["If-Modified-Since"] == lm
    for res in (by_etag, by_date):
        assert res.status == 304
        assert res.not_modified
        assert res.body is None
        assert res.etag == '"abc"'
        assert res.last_modified == lm


async def test_304_without_validators_keeps_the_old_ones(fetcher: Fetcher) -> None:
    async with Origin({"/p": Route(status=304, content_type=None)}) as site:
        res = await fetcher.fetch(
            site.url("/p"),
            timeout=2,
            max_bytes=MB,
            etag='"old"',
            last_modified="Mon, 01 Jan 2024 00:00:00 GMT",
        )
    assert res.status == 304
    assert res.body is None
    assert res.etag == '"old"'
    assert res.last_modified == "Mon, 01 Jan 2024 00:00:00 GMT"


async def test_304_carries_the_cache_control_floor(fetcher: Fetcher) -> None:
    route = Route(status=304, content_type=None, headers={"Cache-Control": "max-age=1800"})
    async with Origin({"/p": route}) as site:
        res = await fetcher.fetch(site.url("/p"), timeout=2, max_bytes=MB, etag='"e"')
    assert res.not_modified
    assert res.min_interval == 1800


async def test_user_agent_on_every_request_including_robots(fetcher: Fetcher) -> None:
    async with Origin(
        {"/p": PAGE, "/robots.txt": Route(body="", content_type="text/plain")}
    ) as site:
        await fetcher.fetch(site.url("/p"), timeout=2, max_bytes=MB)
        await fetcher.fetch(site.url("/p"), timeout=2, max_bytes=MB)
    paths = [r.path for r in site.requests]
    assert paths == ["/robots.txt", "/p", "/p"]
    assert all(r.headers["User-Agent"] == UA for r in site.requests)


# -- time limits ----------------------------------------------------------------


async def test_timeout_raises_fetch_error_quickly(fetcher: Fetcher) -> None:
    async with Origin({"/slow": hang(30)}) as site:
        t0 = time.monotonic()
        with pytest.raises(FetchError, match=r"timed out after 0\.2s"):
            await fetcher.fetch(site.url("/slow"), timeout=0.2, max_bytes=MB)
        assert time.monotonic() - t0 < 1.0


async def test_trickling_body_hits_the_total_timeout(fetcher: Fetcher) -> None:
    # Each chunk arrives well within any per-read timeout; only a total deadline stops it.
    body = "x" * 4000
    async with Origin({"/drip": Route(body=body, trickle=(100, 0.02))}) as site:
        t0 = time.monotonic()
        with pytest.raises(FetchError, match="timed out"):
            await fetcher.fetch(site.url("/drip"), timeout=0.3, max_bytes=MB)
        assert time.monotonic() - t0 < 1.0
        assert site.hits["/drip"] == 1


async def test_queue_time_does_not_count_against_the_timeout() -> None:
    async with (
        Fetcher(user_agent=UA, concurrency=8, per_host=1) as f,
        Origin({"/slow": Route(body=PAGE, delay=0.4), "/fast": PAGE}) as site,
    ):
        slow = asyncio.create_task(f.fetch(site.url("/slow"), timeout=2, max_bytes=MB))
        await asyncio.sleep(0.05)  # /slow now holds the only slot for this host
        fast = await f.fetch(site.url("/fast"), timeout=0.25, max_bytes=MB, check_robots=False)
        assert fast.status == 200
        assert (await slow).status == 200


# -- body cap -------------------------------------------------------------------


async def test_50mb_streamed_body_is_capped_and_reading_stops(fetcher: Fetcher) -> None:
    stats = StreamStats()
    async with Origin({"/big": huge_body(50 * MB, stats=stats)}) as site:
        t0 = time.monotonic()
        with pytest.raises(TooLargeError, match="1048576-byte cap"):
            await fetcher.fetch(site.url("/big"), timeout=5, max_bytes=MB)
        assert time.monotonic() - t0 < 1.0
        # The server notices the dropped connection and stops writing.
        for _ in range(100):
            if stats.stopped_early:
                break
            await asyncio.sleep(0.01)
    assert stats.stopped_early
    assert not stats.finished
    # Only socket buffers' worth went out, nowhere near 50 MB.
    assert stats.bytes_written < 16 * MB


async def test_content_length_over_cap_is_refused_before_reading(fetcher: Fetcher) -> None:
    stats = StreamStats()
    async with Origin({"/big": huge_body(50 * MB, declare_length=True, stats=stats)}) as site:
        t0 = time.monotonic()
        with pytest.raises(TooLargeError, match="Content-Length 52428800"):
            await fetcher.fetch(site.url("/big"), timeout=5, max_bytes=MB)
        assert time.monotonic() - t0 < 1.0
    assert not stats.finished
    assert stats.bytes_written < 16 * MB


async def test_cap_counts_decompressed_bytes(fetcher: Fetcher) -> None:
    bomb = gzip.compress(b"\0" * (5 * MB))
    assert len(bomb) < 64 * 1024  # small on the wire, big once inflated
    route = Route(body=bomb, headers={"Content-Encoding": "gzip"})
    async with Origin({"/bomb": route}) as site:
        with pytest.raises(TooLargeError):
            await fetcher.fetch(site.url("/bomb"), timeout=2, max_bytes=MB)


async def test_body_exactly_at_cap_is_accepted(fetcher: Fetcher) -> None:
    async with Origin({"/p": Route(body=b"a" * 1000)}) as site:
        res = await fetcher.fetch(site.url("/p"), timeout=2, max_bytes=1000)
        assert res.body == b"a" * 1000
        with pytest.raises(TooLargeError):
            await fetcher.fetch(site.url("/p"), timeout=2, max_bytes=999)


# -- encodings --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress)],
)
async def test_compressed_bodies_are_decoded(
    fetcher: Fetcher, encoding: str, compress: object
) -> None:
    assert callable(compress)
    raw = (PAGE * 50).encode()
    route = Route(body=compress(raw), headers={"Content-Encoding": encoding})
    async with Origin({"/z": route}) as site:
        res = await fetcher.fetch(site.url("/z"), timeout=2, max_bytes=MB)
        sent = site.headers_of("/z")[0]
    assert res.body == raw
    assert encoding in sent["Accept-Encoding"]


# -- redirects -------------------------------------------------------------------


async def test_redirect_chain_is_followed(fetcher: Fetcher) -> None:
    routes: dict[str, RouteSpec] = {
        "/a": redirect("/b", 301),
        "/b": redirect("c", 302),  # relative to /b
        "/c": redirect("/final#frag", 307),
        "/final": PAGE,
    }
    async with Origin(routes) as site:
        res = await fetcher.fetch(site.url("/a"), timeout=2, max_bytes=MB)
    assert res.status == 200
    assert res.url == site.url("/final")
    assert res.body == PAGE.encode()
    assert [site.hits[p] for p in ("/a", "/b", "/c", "/final")] == [1, 1, 1, 1]


async def test_redirect_to_another_host_checks_that_hosts_robots(fetcher: Fetcher) -> None:
    other_routes = {
        "/robots.txt": Route(body="User-agent: *\nDisallow: /", content_type="text/plain")
    }
    async with Origin(other_routes) as other:
        async with Origin({"/go": redirect(other.url("/article"))}) as site:
            with pytest.raises(BlockedError):
                await fetcher.fetch(site.url("/go"), timeout=2, max_bytes=MB)
        assert other.hits["/robots.txt"] == 1
        assert other.hits["/article"] == 0


async def test_redirect_loop_is_reported(fetcher: Fetcher) -> None:
    async with Origin({"/a": redirect("/b"), "/b": redirect("/a")}) as site:
        with pytest.raises(FetchError, match=r"redirect loop: .*/a -> .*/b -> .*/a") as info:
            await fetcher.fetch(site.url("/a"), timeout=2, max_bytes=MB)
    assert not isinstance(info.value, HTTPStatusError)
    assert site.hits["/a"] == 1
    assert site.hits["/b"] == 1


async def test_credentials_are_kept_for_their_origin_and_never_shown(fetcher: Fetcher) -> None:
    """A URL's ``user:password@`` is sent with it and with later URLs of the same origin
    that carry none (links found on a protected page), and never shows in an error."""
    async with Origin({"/a": redirect("/b"), "/b": redirect("/a"), "/p": PAGE}) as site, \
            Origin({"/p": PAGE}) as other:
        secret = site.url("/a").replace("http://", "http://bob:s3cret@")
        with pytest.raises(FetchError) as info:
            await fetcher.fetch(secret, timeout=2, max_bytes=MB, check_robots=False)
        assert "redirect loop" in str(info.value) and "s3cret" not in str(info.value)
        await fetcher.fetch(site.url("/p"), timeout=2, max_bytes=MB, check_robots=False)
        await fetcher.fetch(other.url("/p"), timeout=2, max_bytes=MB, check_robots=False)
    sent = [r.headers.get("Authorization") for r in site.requests]
    assert sent == ["Basic Ym9iOnMzY3JldA=="] * 3  # /a, /b (the redirect) and /p
    assert [r.headers.get("Authorization") for r in other.requests] == [None]  # another origin


async def test_too_many_redirects() -> None:
    routes: dict[str, RouteSpec] = {f"/r{i}": redirect(f"/r{i + 1}") for i in range(10)}
    async with Fetcher(user_agent=UA, concurrency=4, per_host=2, max_redirects=3) as f:
        async with Origin(routes) as site:
            with pytest.raises(FetchError, match=r"too many redirects \(more than 3\)"):
                await f.fetch(site.url("/r0"), timeout=2, max_bytes=MB)
        assert sum(site.hits[f"/r{i}"] for i in range(10)) == 4


async def test_redirect_to_unsupported_scheme(fetcher: Fetcher) -> None:
    async with Origin({"/a": redirect("ftp://example.invalid/x")}) as site:
        with pytest.raises(FetchError, match="unsupported URL"):
            await fetcher.fetch(site.url("/a"), timeout=2, max_bytes=MB)


# -- statuses ----------------------------------------------------------------------


async def test_429_with_retry_after_seconds(fetcher: Fetcher) -> None:
    route = Route(body="slow down", status=429, headers={"Retry-After": "120"})
    async with Origin({"/p": route}) as site:
        with pytest.raises(HTTPStatusError) as info:
            await fetcher.fetch(site.url("/p"), timeout=2, max_bytes=MB)
    assert info.value.status == 429
    assert info.value.retry_after == 120.0


async def test_503_with_retry_after_http_date(fetcher: Fetcher) -> None:
    when = email.utils.formatdate(time.time() + 300, usegmt=True)
    route = Route(body="later", status=503, headers={"Retry-After": when})
    async with Origin({"/p": route}) as site:
        with pytest.raises(HTTPStatusError) as info:
            await fetcher.fetch(site.url("/p"), timeout=2, max_bytes=MB)
    assert info.value.status == 503
    assert info.value.retry_after is not None
    assert 295 <= info.value.retry_after <= 301


@pytest.mark.parametrize(("status", "retry_after", "held"), [
    (429, "120", 120.0), (429, None, 60.0), (503, "300", None), (500, "120", None),
])
async def test_a_429_holds_back_the_whole_host(
    status: int, retry_after: str | None, held: float | None
) -> None:
    """Other URLs of a host that answered 429 (RFC 6585 §4) are not asked for until the
    time it asked for has passed; other hosts are. A 503 holds back only its own URL."""
    headers = {"Retry-After": retry_after} if retry_after else {}
    routes: dict[str, RouteSpec] = {"/a": Route("slow down", status=status, headers=headers),
                                    "/b": PAGE}
    async with Origin(routes) as site, Origin({"/b": PAGE}) as other, \
            Fetcher(user_agent=UA, concurrency=8, per_host=1) as fetcher:
        # queued behind /a for the host's one slot while /a gets its answer
        first, second = await asyncio.gather(
            fetcher.fetch(site.url("/a"), timeout=2, max_bytes=MB, check_robots=False),
            fetcher.fetch(site.url("/b"), timeout=2, max_bytes=MB, check_robots=False),
            return_exceptions=True)
        assert isinstance(first, HTTPStatusError) and first.status == status
        if held is None:
            assert isinstance(second, FetchResult) and site.hits["/b"] == 1
            return
        assert isinstance(second, HostWaitError) and site.hits["/b"] == 0
        assert second.retry_after is not None and held - 5 < second.retry_after <= held
        with pytest.raises(HostWaitError):  # and still later
            await fetcher.fetch(site.url("/b"), timeout=2, max_bytes=MB, check_robots=False)
        assert site.hits["/b"] == 0
        await fetcher.fetch(other.url("/b"), timeout=2, max_bytes=MB, check_robots=False)
        assert other.hits["/b"] == 1


@pytest.mark.parametrize("status", [500, 404, 403, 410])
async def test_error_statuses(fetcher: Fetcher, status: int) -> None:
    async with Origin({"/p": Route(body="no", status=status)}) as site:
        with pytest.raises(HTTPStatusError) as info:
            await fetcher.fetch(site.url("/p"), timeout=2, max_bytes=MB)
    assert info.value.status == status
    assert info.value.retry_after is None
    assert str(info.value) == f"{site.url('/p')}: HTTP {status}"


async def test_retry_after_on_success_sets_min_interval(fetcher: Fetcher) -> None:
    route = Route(body=PAGE, headers={"Retry-After": "900", "Cache-Control": "max-age=60"})
    async with Origin({"/p": route}) as site:
        res = await fetcher.fetch(site.url("/p"), timeout=2, max_bytes=MB)
    assert res.min_interval == 900


def test_parse_retry_after_and_max_age() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after(" 42 ") == 42.0
    assert parse_retry_after(email.utils.formatdate(now + 60, usegmt=True), now=now) == 60.0
    assert parse_retry_after(email.utils.formatdate(now - 60, usegmt=True), now=now) == 0.0
    assert parse_retry_after("-5") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_max_age("public, max-age=300") == 300.0
    assert parse_max_age('max-age="30", must-revalidate') == 30.0
    assert parse_max_age("s-maxage=300") is None
    assert parse_max_age("max-age=0") is None
    assert parse_max_age(None) is None


# -- content types -----------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "text/html; charset=iso-8859-1",
        "application/xhtml+xml",
        "application/rss+xml",
        "application/atom+xml; charset=utf-8",
        "text/xml",
        "application/xml",
    ],
)
async def test_page_and_feed_types_are_accepted(fetcher: Fetcher, content_type: str | None) -> None:
    async with Origin({"/p": Route(body=PAGE, content_type=content_type)}) as site:
        res = await fetcher.fetch(site.url("/p"), timeout=2, max_bytes=MB)
    assert res.body == PAGE.encode()


async def test_missing_content_type_is_accepted(fetcher: Fetcher) -> None:
    # aiohttp's own server always adds a Content-Type, so this origin is raw bytes.
    body = PAGE.encode()
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (
        len(body),
        body,
    )
    async with RawOrigin(reply) as site:
        res = await fetcher.fetch(site.url("/p"), timeout=2, max_bytes=MB, check_robots=False)
    assert res.body == body
    assert "content-type" not in res.headers


@pytest.mark.parametrize(
    "content_type", ["application/pdf", "image/png", "application/octet-stream"]
)
async def test_pdf_and_images_are_refused_unread(fetcher: Fetcher, content_type: str) -> None:
    stats = StreamStats()
    handler = huge_body(50 * MB, content_type=content_type, stats=stats)
    async with Origin({"/doc": handler}) as site:
        t0 = time.monotonic()
        with pytest.raises(UnsupportedContentError, match=content_type):
            await fetcher.fetch(site.url("/doc"), timeout=5, max_bytes=100 * MB)
        assert time.monotonic() - t0 < 1.0
    assert not stats.finished


# -- broken connections and bad input -------------------------------------------------


async def test_connection_closed_mid_body(fetcher: Fetcher) -> None:
    async with Origin({"/cut": close_mid_body(10_000, b"<html><body>partial")}) as site:
        with pytest.raises(FetchError, match="connection closed mid-body") as info:
            await fetcher.fetch(site.url("/cut"), timeout=2, max_bytes=MB)
    assert type(info.value) is FetchError


async def test_connection_closed_before_answering(fetcher: Fetcher) -> None:
    async def drop(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()
        return web.Response()

    async with Origin({"/drop": drop}) as site:
        with pytest.raises(FetchError) as info:
            await fetcher.fetch(site.url("/drop"), timeout=2, max_bytes=MB)
    assert type(info.value) is FetchError


async def test_connection_refused(fetcher: Fetcher) -> None:
    port = free_port()  # nobody listens on it
    with pytest.raises(FetchError, match="cannot connect") as info:
        await fetcher.fetch(
            f"http://127.0.0.1:{port}/", timeout=2, max_bytes=MB, check_robots=False
        )
    assert type(info.value) is FetchError


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "ftp://example.org/x",
        "http://",
        "/relative/path",
        "http://exa mple.org/",
        "http://[::1",
    ],
)
async def test_invalid_urls(fetcher: Fetcher, url: str) -> None:
    with pytest.raises(FetchError, match="invalid URL"):
        await fetcher.fetch(url, timeout=1, max_bytes=MB)


async def test_using_fetcher_outside_context_is_an_error() -> None:
    f = Fetcher(user_agent=UA, concurrency=1, per_host=1)
    with pytest.raises(RuntimeError):
        await f.fetch("http://127.0.0.1:1/", timeout=1, max_bytes=1)


# -- robots.txt -----------------------------------------------------------------------

ROBOTS = "User-agent: *\nDisallow: /private\n\nUser-agent: otherbot\nDisallow: /\n"


def _robots(body: str = ROBOTS, status: int = 200) -> Route:
    return Route(body=body, status=status, content_type="text/plain")


async def test_robots_disallow_and_allow_fetched_once(fetcher: Fetcher) -> None:
    routes: dict[str, RouteSpec] = {"/robots.txt": _robots(), "/public": PAGE, "/private/x": PAGE}
    async with Origin(routes) as site:
        ok = await asyncio.gather(
            *(fetcher.fetch(site.url("/public"), timeout=2, max_bytes=MB) for _ in range(4))
        )
        with pytest.raises(BlockedError, match=r"disallowed by robots\.txt"):
            await fetcher.fetch(site.url("/private/x"), timeout=2, max_bytes=MB)
    assert all(r.status == 200 for r in ok)
    assert site.hits["/robots.txt"] == 1  # once, although four fetches raced for it
    assert site.hits["/private/x"] == 0


async def test_robots_txt_is_parsed_off_the_event_loop(
    fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big robots.txt takes Protego a long while to parse: not on the loop that serves
    feeds."""
    import threading

    from protego import Protego

    parsed_on = record_threads(monkeypatch, Protego, "parse")
    routes: dict[str, RouteSpec] = {"/robots.txt": _robots(), "/public": PAGE}
    async with Origin(routes) as site:
        await fetcher.fetch(site.url("/public"), timeout=2, max_bytes=MB)
    assert parsed_on and threading.get_ident() not in parsed_on


@pytest.mark.parametrize("big", [False, True])
async def test_a_big_robots_txt_is_matched_off_the_event_loop(
    fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch, big: bool
) -> None:
    """Matching a URL against a robots.txt of tens of thousands of wildcard rules took
    Protego 93 ms per article (security review, session 6): not on the loop that serves
    feeds. An ordinary file is matched in place, cheaper than a thread hop."""
    import threading

    from protego import Protego

    checked_on = record_threads(monkeypatch, Protego, "can_fetch")
    rules = "".join(f"Disallow: /*x{n}*y\n" for n in range(3000 if big else 3))
    routes: dict[str, RouteSpec] = {"/robots.txt": _robots(f"User-agent: *\n{rules}"),
                                    "/public": PAGE}
    async with Origin(routes) as site:
        await fetcher.fetch(site.url("/public"), timeout=5, max_bytes=MB)
    assert checked_on
    assert (threading.get_ident() not in checked_on) is big


async def test_robots_group_for_our_product_token_wins(fetcher: Fetcher) -> None:
    # RFC 9309 §2.2.1: the group naming our product token applies and "*" does not.
    robots = "User-agent: feedsvc-test\nDisallow: /mine\n\nUser-agent: *\nDisallow: /\n"
    async with Origin({"/robots.txt": _robots(robots), "/p": PAGE, "/mine": PAGE}) as site:
        assert (await fetcher.fetch(site.url("/p"), timeout=2, max_bytes=MB)).status == 200
        with pytest.raises(BlockedError):
            await fetcher.fetch(site.url("/mine"), timeout=2, max_bytes=MB)
    assert site.hits["/mine"] == 0


async def test_robots_groups_match_our_product_token_not_the_ua_comment(
    fetcher: Fetcher,
) -> None:
    # RFC 9309 §2.2.1: groups are matched against the product token ("feedsvc-test");
    # "example" appears only in the User-Agent's comment (a URL) and must not match.
    robots = "User-agent: example\nDisallow: /\n"
    async with Origin({"/robots.txt": _robots(robots), "/p": PAGE}) as site:
        assert (await fetcher.fetch(site.url("/p"), timeout=2, max_bytes=MB)).status == 200


def test_product_token() -> None:
    assert product_token(UA) == "feedsvc-test"
    assert product_token("Bot_Name") == "Bot_Name"


async def test_robots_time_counts_against_the_fetch_timeout(fetcher: Fetcher) -> None:
    """0.6 s for robots.txt and 0.6 s for the page: a 1 s budget is exceeded."""
    routes: dict[str, RouteSpec] = {
        "/robots.txt": Route(body="", content_type="text/plain", delay=0.6),
        "/p": Route(body=PAGE, delay=0.6),
    }
    async with Origin(routes) as site:
        started = time.monotonic()
        with pytest.raises(FetchError, match="timed out"):
            await fetcher.fetch(site.url("/p"), timeout=1.0, max_bytes=MB)
        assert time.monotonic() - started < 1.15


async def test_robots_cache_forgets_origins_not_seen_for_a_day() -> None:
    now = [1000.0]
    cache = RobotsCache(UA, ttl=3600, clock=lambda: now[0])
    async with Origin({"/robots.txt": _robots("")}) as a, Origin({"/robots.txt": _robots("")}) as b, \
            aiohttp.ClientSession() as session:
        await cache.check(session, URL(a.url("/p")), budget=2)
        assert len(cache) == 1
        now[0] += 3600 + STALE_MAX + 1  # a's copy expired a day ago: no use even as stale
        await cache.check(session, URL(b.url("/p")), budget=2)
        assert len(cache) == 1  # b only
        await cache.check(session, URL(a.url("/p")), budget=2)
        assert a.hits["/robots.txt"] == 2


async def test_check_robots_false_skips_robots(fetcher: Fetcher) -> None:
    routes: dict[str, RouteSpec] = {
        "/robots.txt": _robots("User-agent: *\nDisallow: /"),
        "/p": PAGE,
    }
    async with Origin(routes) as site:
        res = await fetcher.fetch(site.url("/p"), timeout=2, max_bytes=MB, check_robots=False)
    assert res.status == 200
    assert site.hits["/robots.txt"] == 0


@pytest.mark.parametrize("status", [404, 403, 401])
async def test_robots_4xx_allows_all(fetcher: Fetcher, status: int) -> None:
    async with Origin(
        {"/robots.txt": _robots("User-agent: *\nDisallow: /", status), "/p": PAGE}
    ) as site:
        res = await fetcher.fetch(site.url("/p"), timeout=2, max_bytes=MB)
        await fetcher.fetch(site.url("/p"), timeout=2, max_bytes=MB)
    assert res.status == 200
    assert site.hits["/robots.txt"] == 1


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_robots_5xx_disallows_for_a_while(fetcher: Fetcher, status: int) -> None:
    async with Origin({"/robots.txt": _robots("", status), "/p": PAGE}) as site:
        for _ in range(2):
            # its own kind, so /metrics does not count it as a robots.txt denial
            with pytest.raises(RobotsUnreachableError, match=rf"HTTP {status}.*RFC 9309"):
                await fetcher.fetch(site.url("/p"), timeout=2, max_bytes=MB)
    assert site.hits["/p"] == 0
    assert site.hits["/robots.txt"] == 1  # the verdict is cached (error_ttl)


async def test_robots_unreachable_keeps_a_good_cached_copy() -> None:
    # robots_ttl=0: every fetch re-checks robots.txt, so the outage is seen.
    async with Fetcher(user_agent=UA, concurrency=2, per_host=2, robots_ttl=0.0) as f:
        async with Origin({"/robots.txt": _robots(), "/p": PAGE, "/private": PAGE}) as site:
            assert (await f.fetch(site.url("/p"), timeout=2, max_bytes=MB)).status == 200
            site.routes["/robots.txt"] = _robots("", 503)
            assert (await f.fetch(site.url("/p"), timeout=2, max_bytes=MB)).status == 200
            with pytest.raises(BlockedError, match=r"disallowed by robots\.txt"):
                await f.fetch(site.url("/private"), timeout=2, max_bytes=MB)
        assert site.hits["/robots.txt"] == 2  # refetched once, then the error verdict is cached


async def test_robots_timeout_is_unreachable() -> None:
    async with Fetcher(user_agent=UA, concurrency=2, per_host=2) as f:
        async with Origin({"/robots.txt": hang(30), "/p": PAGE}) as site:
            with pytest.raises(RobotsUnreachableError, match="timed out"):
                await f.fetch(site.url("/p"), timeout=0.2, max_bytes=MB)
        assert site.hits["/p"] == 0


async def test_robots_ttl_expiry_refetches() -> None:
    async with Fetcher(user_agent=UA, concurrency=2, per_host=2, robots_ttl=0.0) as f:
        async with Origin({"/robots.txt": _robots(), "/p": PAGE}) as site:
            await f.fetch(site.url("/p"), timeout=2, max_bytes=MB)
            site.routes["/robots.txt"] = _robots("User-agent: *\nDisallow: /p")
            with pytest.raises(BlockedError):
                await f.fetch(site.url("/p"), timeout=2, max_bytes=MB)
        assert site.hits["/robots.txt"] == 2


# -- concurrency limits ------------------------------------------------------------------


async def test_per_host_limit_is_observed() -> None:
    routes = {f"/a{i}": Route(body=PAGE, delay=0.05) for i in range(8)}
    async with (
        Fetcher(user_agent=UA, concurrency=8, per_host=2) as f,
        Origin(routes) as site,
    ):
        results = await asyncio.gather(
            *(f.fetch(site.url(f"/a{i}"), timeout=2, max_bytes=MB) for i in range(8))
        )
    assert len(results) == 8
    assert site.max_in_flight == 2
    assert f._hosts == {}  # idle hosts are forgotten


class _Gauge:
    def __init__(self) -> None:
        self.now = 0
        self.max = 0

    def handler(self, delay: float) -> Handler:
        async def serve(request: web.Request) -> web.StreamResponse:
            self.now += 1
            self.max = max(self.max, self.now)
            try:
                await asyncio.sleep(delay)
                return web.Response(text=PAGE, content_type="text/html")
            finally:
                self.now -= 1

        return serve


async def test_global_concurrency_limit_across_hosts() -> None:
    gauge = _Gauge()
    routes = {f"/p{i}": gauge.handler(0.05) for i in range(3)}
    async with (
        Fetcher(user_agent=UA, concurrency=3, per_host=3) as f,
        Origin(routes) as a,
        Origin(routes) as b,
        Origin(routes) as c,
    ):
        urls = [site.url(f"/p{i}") for site in (a, b, c) for i in range(3)]
        await asyncio.gather(
            *(f.fetch(u, timeout=2, max_bytes=MB, check_robots=False) for u in urls)
        )
    assert gauge.max == 3
    assert max(a.max_in_flight, b.max_in_flight, c.max_in_flight) <= 3


async def test_busy_host_does_not_hold_global_slots_from_idle_hosts() -> None:
    async with (
        Fetcher(user_agent=UA, concurrency=2, per_host=1) as f,
        Origin({f"/s{i}": Route(body=PAGE, delay=0.15) for i in range(4)}) as busy,
        Origin({"/p": PAGE}) as idle,
    ):
        slow = [
            asyncio.create_task(
                f.fetch(busy.url(f"/s{i}"), timeout=5, max_bytes=MB, check_robots=False)
            )
            for i in range(4)
        ]
        await asyncio.sleep(0.05)
        t0 = time.monotonic()
        await f.fetch(idle.url("/p"), timeout=2, max_bytes=MB, check_robots=False)
        assert time.monotonic() - t0 < 0.1  # not behind the busy host's queue
        await asyncio.gather(*slow)


async def test_waiters_for_a_host_are_served_in_arrival_order() -> None:
    async with (
        Fetcher(user_agent=UA, concurrency=8, per_host=1) as f,
        Origin({"/q": Route(body=PAGE, delay=0.02)}) as site,
    ):
        tasks = []
        for i in range(6):
            tasks.append(
                asyncio.create_task(
                    f.fetch(site.url(f"/q?n={i}"), timeout=2, max_bytes=MB, check_robots=False)
                )
            )
            await asyncio.sleep(0)  # let each task queue before the next one starts
        await asyncio.gather(*tasks)
    assert [r.path_qs for r in site.requests] == [f"/q?n={i}" for i in range(6)]


# -- non-public addresses (security review, session 6) ----------------------------------


@pytest.mark.parametrize(("address", "public"), [
    ("8.8.8.8", True), ("2001:4860:4860::8888", True),
    ("127.0.0.1", False), ("::1", False), ("10.1.2.3", False), ("192.168.0.1", False),
    ("172.16.0.1", False), ("169.254.169.254", False), ("100.64.0.1", False),
    ("0.0.0.0", False), ("224.0.0.1", False), ("fd00::1", False), ("fe80::1%eth0", False),
    ("::ffff:127.0.0.1", False), ("::ffff:169.254.169.254", False), ("not an ip", False),
])
def test_is_public_address(address: str, public: bool) -> None:
    from feedsvc.fetch import is_public_address

    assert is_public_address(address) is public


async def test_non_public_address_needs_its_host_named(fetcher: Fetcher) -> None:
    """An origin's link or redirect must not make feedsvc fetch an internal service (the
    cloud metadata address, a Redis on loopback) and publish its answer: with
    ``private_ok``, only the hosts named there may be reached on such an address, by
    IP in the URL or through DNS, at any hop."""
    async with Origin({"/page": PAGE}) as site:
        port = site.port
        site.routes["/to-name"] = redirect(f"http://localhost:{port}/page")
        site.routes["/to-ip"] = redirect(f"http://127.0.0.1:{port}/page")
        named = frozenset({"127.0.0.1"})
        ok = await fetcher.fetch(site.url("/page"), timeout=5, max_bytes=MB, private_ok=named)
        assert ok.status == 200
        # unlimited when the caller names nothing (the `extract URL` command)
        assert (await fetcher.fetch(f"http://localhost:{port}/page", timeout=5,
                                    max_bytes=MB)).status == 200
        with pytest.raises(PrivateAddressBlockedError, match="non-public address"):
            await fetcher.fetch(site.url("/page"), timeout=5, max_bytes=MB,
                                private_ok=frozenset())
        # a redirect to a host on loopback, on a connection kept alive from the fetch above
        with pytest.raises(PrivateAddressBlockedError, match="localhost is at a non-public address"):
            await fetcher.fetch(site.url("/to-name"), timeout=5, max_bytes=MB, private_ok=named)
        # a redirect to a loopback IP in the URL (never resolved)
        with pytest.raises(PrivateAddressBlockedError, match="non-public address"):
            await fetcher.fetch(f"http://localhost:{port}/to-ip", timeout=5, max_bytes=MB,
                                private_ok=frozenset({"localhost"}))
    assert site.hits["/page"] == 2


async def test_a_refused_address_says_once_what_and_how_to_allow_it(fetcher: Fetcher) -> None:
    """Someone trying feedsvc on a local origin saw, for a feed item on 127.0.0.1 from a
    source on localhost, "article URL: URL: URL: a non-public address" in the log: the
    URL three times and not a word on ``allow_hosts``."""
    async with Origin({"/page": PAGE}) as site:
        for url, host in ((site.url("/page"), "127.0.0.1"),
                          (f"http://localhost:{site.port}/page", "localhost")):
            with pytest.raises(PrivateAddressBlockedError) as err:
                await fetcher.fetch(url, timeout=5, max_bytes=MB, private_ok=frozenset())
            text = str(err.value)
            assert f": {host} is at a non-public address" in text
            assert text.count(url) <= 1 and text.count("://") == 1
            assert text.endswith("; name its host in the source's allow_hosts to allow it")


async def test_a_refused_host_is_refused_not_its_robots_txt_unreachable() -> None:
    """robots.txt is fetched first: its refused connection read as "robots.txt
    unreachable" and was cached for the host, so the article's error (and the metric's
    outcome) said so rather than naming the address (final review, session 6)."""
    async with (
        Fetcher(user_agent=UA, concurrency=2, per_host=2) as f,
        Origin({"/page": PAGE, "/robots.txt": _robots()}) as site,
    ):
        with pytest.raises(PrivateAddressBlockedError, match="non-public address"):
            await f.fetch(f"http://localhost:{site.port}/page", timeout=5, max_bytes=MB,
                          private_ok=frozenset({"127.0.0.1"}))
        assert len(f.robots) == 0  # nothing cached for the refused host
    assert site.hits["/robots.txt"] == 0 and site.hits["/page"] == 0


async def test_a_host_that_cannot_be_reached_is_not_a_robots_txt_problem() -> None:
    """robots.txt is asked for first, so an offline or unknown host failed as "robots.txt
    unreachable ... RFC 9309" (every source of a first run without network said so): it
    is the host's own error, as the page's fetch would have given it."""
    url = f"http://127.0.0.1:{free_port()}/feed.xml"  # nothing listens there
    async with Fetcher(user_agent=UA, concurrency=2, per_host=2) as f:
        for _ in range(2):  # and again from the cached verdict
            with pytest.raises(FetchError, match="cannot connect") as failed:
                await f.fetch(url, timeout=5, max_bytes=MB)
            assert not isinstance(failed.value, BlockedError)
            assert "robots" not in str(failed.value)
        assert f.robots.fetches == 1
