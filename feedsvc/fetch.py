"""The fetch stage: one shared aiohttp session, polite and bounded.

:class:`Fetcher` turns a URL into a :class:`~feedsvc.models.FetchResult` or a named
:class:`~feedsvc.errors.FetchError`; nothing from aiohttp leaks past it (issue #2,
item 2; issue #3, item 4 "Faults survived"). What it guarantees:

* Conditional GET: ``If-None-Match`` / ``If-Modified-Since`` from the caller's stored
  validators; a 304 comes back with ``body=None`` (a 304 costs no parsing).
* A total time budget per fetch (``timeout``), covering connect, headers and body,
  across redirect hops; time spent queued for a slot does not count, so a source with
  many articles on one slow host does not time out while politely waiting its turn.
* A body cap: Content-Length is checked first, then bytes are counted while
  streaming and the connection is dropped the moment the cap is passed (decompressed
  bytes are counted, so a gzip bomb is stopped too). A 50 MB body is never buffered.
* Redirects followed by hand, at most ``max_redirects`` hops; a loop is reported as
  such. Each hop is checked against its own host's robots.txt and takes its own
  host's slot.
* gzip/deflate accepted (aiohttp sends ``Accept-Encoding`` and decodes).
* Limits: ``concurrency`` requests in flight service-wide and ``per_host`` per host
  (scheme + host + port, the scope robots.txt uses too). Waiters queue in FIFO order
  (``asyncio.Semaphore`` wakes waiters first-come first-served).
* Status >= 400 -> :class:`HTTPStatusError` with ``retry_after`` from Retry-After
  (RFC 9110 §10.2.3, seconds or HTTP-date). On success, Retry-After or Cache-Control
  ``max-age`` becomes ``FetchResult.min_interval``, a floor for the scheduler.
* A 429 (RFC 6585 §4: this client sends too many requests) holds back the whole host,
  not just the URL that got it: until the time asked for has passed (Retry-After, else
  60 s), other fetches from that host fail at once with :class:`HostWaitError` instead of
  asking the origin that is telling us to slow down. A 503 holds back only its own URL:
  one broken page of a site must not stop the others.
* robots.txt honoured unless ``check_robots=False`` (see :mod:`feedsvc.robots`).
* Credentials in a URL (``https://user:pass@host/feed``) are remembered for that
  origin (scheme, host, port) and sent with later requests to it, as a browser's auth
  cache does: the links found on a protected page then need no credentials of their
  own, so entry ids and links, which readers see, carry none.
* Only HTML, XHTML, XML and feed types are read; a PDF or an image is refused from
  its Content-Type before any of the body is read.
* With ``private_ok`` (the pipeline passes the hosts its config names), a host that
  resolves only to a non-public address (loopback, private, link-local such as the
  cloud metadata service at 169.254.169.254, unique-local, multicast, reserved) is
  refused, at every redirect hop: an origin's feed or redirect must not make feedsvc
  fetch an internal service and publish its answer. The check is on the address of
  the connection itself (new or kept alive) before a request is written, so a DNS
  answer changed between two lookups cannot get round it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import email.utils
import ipaddress
import re
import time
from collections.abc import AsyncIterator, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC
from types import TracebackType
from typing import TypeVar, overload

import aiohttp
from aiohttp.connector import Connection
from aiohttp.tracing import Trace
from yarl import URL

from feedsvc.errors import (
    FetchError,
    FetchTimeoutError,
    HostWaitError,
    HTTPStatusError,
    PrivateAddressBlockedError,
    PrivateAddressError,
    TooLargeError,
    UnsupportedContentError,
    private_refusal,
)
from feedsvc.extract.urls import site_of_host
from feedsvc.models import FetchResult
from feedsvc.redact import redact_url
from feedsvc.robots import RobotsCache, describe_connect_error

_T = TypeVar("_T")

DEFAULT_ACCEPT = (
    "text/html,application/xhtml+xml,application/atom+xml,application/rss+xml,"
    "application/rdf+xml;q=0.9,application/xml;q=0.9,text/xml;q=0.9,*/*;q=0.1"
)

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024

# What discovery and extraction can read. Feeds are often served as text/plain or
# generic XML, and JSON Feed as application/json, so those are let through; anything
# else (application/pdf, image/*, video/*, octet-stream) is refused unread.
_ACCEPTED_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "application/xml",
        "text/xml",
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "application/feed+json",
        "application/json",
        "text/plain",
    }
)

# How long a 429 without Retry-After holds its host back, and the most any Retry-After
# does (the scheduler's MAX_FLOOR: an origin cannot park us for a week).
HOST_WAIT_DEFAULT = 60.0
HOST_WAIT_MAX = 24 * 3600.0

_MAX_AGE = re.compile(r'(?:^|,)\s*max-age\s*=\s*"?(\d+)"?\s*(?=,|$)', re.IGNORECASE)
_DELAY_SECONDS = re.compile(r"[0-9]+")
# Host names after IDNA encoding (yarl's raw_host), IPv4 and bracket-less IPv6.
_HOST_CHARS = re.compile(r"[A-Za-z0-9._:-]+")


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After value, or None if absent or unreadable.

    RFC 9110 §10.2.3: ``Retry-After = HTTP-date / delay-seconds``. A date in the past
    means "now" (0.0).
    """
    if value is None:
        return None
    value = value.strip()
    if _DELAY_SECONDS.fullmatch(value):
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" parses naive; HTTP-dates are always GMT
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def parse_max_age(cache_control: str | None) -> float | None:
    """``max-age`` of a Cache-Control header in seconds (RFC 9111 §5.2.2.1), if > 0."""
    if not cache_control:
        return None
    match = _MAX_AGE.search(cache_control)
    if match is None:
        return None
    seconds = float(int(match.group(1)))
    return seconds if seconds > 0 else None


def _min_interval(headers: Mapping[str, str]) -> float | None:
    retry = parse_retry_after(headers.get("retry-after"))
    if retry is not None and retry > 0:
        return retry
    return parse_max_age(headers.get("cache-control"))


def _mime(content_type: str | None) -> str | None:
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def _accepted(mime: str | None) -> bool:
    # No Content-Type at all: let discovery sniff it rather than drop a real page.
    return mime is None or mime in _ACCEPTED_TYPES or mime.endswith("+xml")


def _parse_url(url: str) -> URL:
    try:
        parsed = URL(url)
    except (ValueError, TypeError) as exc:
        raise FetchError(url, f"invalid URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        raise FetchError(url, "invalid URL: not an absolute http(s) URL")
    # yarl keeps hosts such as "exa mple.org" that no resolver should be asked about.
    if not _HOST_CHARS.fullmatch(parsed.raw_host):
        raise FetchError(url, f"invalid URL: bad host {parsed.raw_host!r}")
    return parsed.with_fragment(None)


def _basic_auth(user: str, password: str | None) -> str:
    """An ``Authorization`` value for HTTP Basic (RFC 7617 §2, UTF-8 as §2.1 allows)."""
    token = base64.b64encode(f"{user}:{password or ''}".encode()).decode("ascii")
    return f"Basic {token}"


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP ``text`` is (brackets and an IPv6 zone id aside), or None for a name."""
    try:
        return ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def _describe(exc: BaseException) -> str:
    """One short line for an aiohttp/OS error, naming what went wrong."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return describe_connect_error(exc)
    if isinstance(exc, aiohttp.ClientPayloadError):
        # aiohttp reports a body shorter than Content-Length (or a chunked body
        # that never ended) as "payload is not completed".
        if "not completed" in str(exc) or "ContentLength" in str(exc):
            return "connection closed mid-body"
        return f"bad response body: {exc}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server closed the connection before answering"
    if isinstance(exc, aiohttp.InvalidURL):
        return f"invalid URL: {exc}"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Headers(dict[str, str]):
    """Response headers as a plain ``dict`` whose lookups ignore case.

    Names are stored lower-cased; ``headers["Content-Type"]``, ``.get("etag")`` and
    ``"ETag" in headers`` all work (HTTP field names are case-insensitive, RFC 9110
    §5.1). A dict subclass so it still is the ``dict[str, str]`` of FetchResult and
    pickles across the process pool. A repeated field keeps its last value.
    """

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__((k.lower(), v) for k, v in items)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key.lower(), value)

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key.lower() if isinstance(key, str) else key)

    @overload
    def get(self, key: str, default: None = None, /) -> str | None: ...
    @overload
    def get(self, key: str, default: str, /) -> str: ...
    @overload
    def get(self, key: str, default: _T, /) -> str | _T: ...
    def get(self, key: str, default: object = None, /) -> object:
        return super().get(key.lower(), default)


# The sites (see site_of_host) a fetch may reach on non-public addresses; None: any.
# A context variable because the check runs in the connector (_GuardedConnector), which
# sees a request but not the fetch that made it.
_PRIVATE_OK: contextvars.ContextVar[Collection[str] | None] = contextvars.ContextVar(
    "feedsvc_private_ok", default=None)


def is_public_address(address: str) -> bool:
    """Whether ``address`` (an IP) is on the public internet: not loopback, private,
    link-local, shared (RFC 6598), unique-local, reserved, unspecified or multicast."""
    ip = _ip(address)
    if ip is None:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback
    return ip.is_global and not ip.is_multicast


def _private_allowed(host: str) -> bool:
    allowed = _PRIVATE_OK.get()
    return allowed is None or site_of_host(host) in allowed


class _GuardedConnector(aiohttp.TCPConnector):
    """aiohttp's connector, refusing a connection (new or kept alive) whose peer is a
    non-public address the fetch may not reach (see ``private_ok``), before any request
    is written to it. Checked on the connection itself, not on a DNS answer: a name
    whose answer changes between lookups (DNS rebinding) or one cached from a fetch
    that was allowed it cannot get round it."""

    async def connect(  # aiohttp's signature, timeout included
        self, req: aiohttp.ClientRequest, traces: list[Trace],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109
    ) -> Connection:
        conn = await super().connect(req, traces, timeout)
        if not _private_allowed(req.host):
            transport = conn.transport
            peer = transport.get_extra_info("peername") if transport is not None else None
            if peer and not is_public_address(str(peer[0])):
                conn.close()
                raise PrivateAddressError(f"{req.host} is at a non-public address ({peer[0]})")
        return conn


@dataclass(frozen=True, slots=True)
class _Redirect:
    location: URL


class _HostSlot:
    __slots__ = ("semaphore", "users")

    def __init__(self, size: int) -> None:
        self.semaphore = asyncio.Semaphore(size)
        self.users = 0


class Fetcher:
    """The service's HTTP client: one session, global and per-host limits, robots.

    Use as an async context manager; :meth:`fetch` may be called from many tasks.
    """

    def __init__(
        self,
        *,
        user_agent: str,
        concurrency: int,
        per_host: int,
        max_redirects: int = 5,
        robots_ttl: float = 3600.0,
        robots_error_ttl: float = 300.0,
    ) -> None:
        if concurrency < 1 or per_host < 1:
            raise ValueError("concurrency and per_host must be >= 1")
        self.user_agent = user_agent
        self.concurrency = concurrency
        self.per_host = per_host
        self.max_redirects = max_redirects
        self.robots = RobotsCache(user_agent, ttl=robots_ttl, error_ttl=robots_error_ttl)
        self._global = asyncio.Semaphore(concurrency)
        self._hosts: dict[str, _HostSlot] = {}
        # host -> loop time before which it is not asked again (after a 429)
        self._host_wait: dict[str, float] = {}
        # origin -> Authorization value from the credentials a URL of it carried (sent
        # to its other URLs)
        self._auth: dict[str, str] = {}
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Fetcher:
        connector = _GuardedConnector(
            # Our semaphores are the real limits; the connector's is a backstop.
            limit=self.concurrency,
            limit_per_host=0,
            ttl_dns_cache=300,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={"User-Agent": self.user_agent},
            # Deadlines are enforced per fetch with asyncio.timeout (see fetch()).
            timeout=aiohttp.ClientTimeout(total=None),
            raise_for_status=False,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session (idempotent)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    @contextlib.asynccontextmanager
    async def _slot(self, host: str) -> AsyncIterator[None]:
        # Per-host slot first, then the global one: a request waiting for its busy
        # host must not sit on a global slot that a request to an idle host could use.
        slot = self._hosts.get(host)
        if slot is None:
            slot = self._hosts[host] = _HostSlot(self.per_host)
        slot.users += 1
        try:
            async with slot.semaphore, self._global:
                yield
        finally:
            slot.users -= 1
            if slot.users == 0:  # forget idle hosts so the table does not grow forever
                del self._hosts[host]

    async def fetch(
        self,
        url: str,
        *,
        # Not a caller-side asyncio.timeout: queueing for a slot must not count.
        timeout: float,  # noqa: ASYNC109
        max_bytes: int,
        etag: str | None = None,
        last_modified: str | None = None,
        check_robots: bool = True,
        accept: str = DEFAULT_ACCEPT,
        private_ok: Collection[str] | None = None,
    ) -> FetchResult:
        """GET ``url``; return the final response or raise a :class:`FetchError`.

        ``FetchResult.url`` is the URL after redirects; ``FetchResult.headers`` is a
        :class:`Headers` (lower-cased names, case-insensitive lookups). Raises
        :class:`HTTPStatusError`, :class:`HostWaitError`, :class:`TooLargeError`,
        :class:`UnsupportedContentError`, :class:`FetchTimeoutError`, :class:`BlockedError`
        (robots.txt) and its kinds :class:`RobotsUnreachableError` and
        :class:`PrivateAddressBlockedError`, or a plain :class:`FetchError` (network,
        redirects, bad URLs). ``private_ok``: the only sites (as
        :func:`~feedsvc.extract.urls.site_of_host` spells them) this fetch may reach on
        a non-public address, at any hop (None: no such limit), else
        :class:`PrivateAddressBlockedError`.
        """
        token = _PRIVATE_OK.set(
            None if private_ok is None else frozenset(site_of_host(h) for h in private_ok))
        try:
            return await self._fetch(url, timeout=timeout, max_bytes=max_bytes, etag=etag,
                                     last_modified=last_modified, check_robots=check_robots,
                                     accept=accept)
        finally:
            _PRIVATE_OK.reset(token)

    async def _fetch(
        self, url: str, *, timeout: float, max_bytes: int,  # noqa: ASYNC109
        etag: str | None, last_modified: str | None, check_robots: bool, accept: str,
    ) -> FetchResult:
        session = self._session
        if session is None:
            raise RuntimeError("Fetcher used outside 'async with'")
        current = _parse_url(url)
        if current.user is not None:
            self._auth[str(current.origin())] = _basic_auth(current.user, current.password)
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        chain = [current]
        budget = timeout
        loop = asyncio.get_running_loop()
        for _hop in range(self.max_redirects + 1):
            literal = current.host or ""
            # An IP in the URL is refused before connecting: the connector would refuse it
            # too, but only once a TCP connection to the internal address is open.
            if _ip(literal) is not None and not is_public_address(literal) \
                    and not _private_allowed(literal):
                raise PrivateAddressBlockedError(url, f"{literal} is at a non-public address")
            host = str(current.origin())
            async with self._slot(host):
                started = loop.time()
                # Checked once the slot is ours: requests queued behind the one that got
                # the 429 must not go out either.
                wait = self._host_wait.get(host, 0.0) - started
                if wait > 0:
                    raise HostWaitError(url, wait)
                try:
                    # robots.txt is part of the fetch: its time comes out of the same
                    # budget, so a slow robots.txt cannot stretch the source's timeout.
                    async with asyncio.timeout(max(budget, 0.0)):
                        if check_robots:
                            await self.robots.check(session, current, budget=budget)
                        outcome = await self._request(
                            session, url, current, headers, max_bytes, etag, last_modified
                        )
                except HTTPStatusError as exc:
                    self._hold_host(host, exc)
                    raise
                except TimeoutError:
                    raise FetchTimeoutError(url, f"timed out after {timeout:g}s") from None
                except (aiohttp.ClientError, OSError, ValueError) as exc:
                    refused = private_refusal(exc)
                    if refused is not None:
                        raise PrivateAddressBlockedError(url, str(refused)) from None
                    raise FetchError(url, _describe(exc)) from None
                finally:
                    budget -= loop.time() - started
            if isinstance(outcome, FetchResult):
                return outcome
            target = outcome.location
            if target in chain:
                hops = " -> ".join(redact_url(str(u)) or "" for u in [*chain, target])
                raise FetchError(url, f"redirect loop: {hops}")
            chain.append(target)
            current = target
        raise FetchError(
            url, f"too many redirects (more than {self.max_redirects}), "
                 f"last: {redact_url(str(current))}"
        )

    def _hold_host(self, host: str, exc: HTTPStatusError) -> None:
        """After a 429, ask ``host`` nothing more until the time it asked for has passed."""
        if exc.status != 429:
            return
        wait = exc.retry_after if exc.retry_after is not None else HOST_WAIT_DEFAULT
        now = asyncio.get_running_loop().time()
        # forget hosts whose wait is over, so the table does not grow forever
        self._host_wait = {h: t for h, t in self._host_wait.items() if t > now}
        if wait > 0:
            self._host_wait[host] = max(self._host_wait.get(host, 0.0),
                                        now + min(wait, HOST_WAIT_MAX))

    async def _request(
        self,
        session: aiohttp.ClientSession,
        url: str,
        current: URL,
        headers: dict[str, str],
        max_bytes: int,
        etag: str | None,
        last_modified: str | None,
    ) -> FetchResult | _Redirect:
        # a URL's own credentials win; else those its origin was given before
        auth = None if current.user is not None else self._auth.get(str(current.origin()))
        if auth is not None:
            headers = {**headers, "Authorization": auth}
        async with session.get(current, headers=headers, allow_redirects=False) as resp:
            status = resp.status
            if status in _REDIRECTS:
                location = resp.headers.get("Location")
                if not location:
                    raise FetchError(url, f"HTTP {status} redirect without a Location")
                try:
                    target = current.join(URL(location)).with_fragment(None)
                except ValueError:
                    raise FetchError(url, f"redirect to an invalid URL: {location!r}") from None
                if target.scheme not in ("http", "https") or not target.host:
                    raise FetchError(url, f"redirect to an unsupported URL: {location!r}")
                return _Redirect(target)
            got = Headers(resp.headers.items())
            if status == 304:
                # RFC 9110 §15.4.5: a 304 repeats the validators; keep ours if not.
                return FetchResult(
                    url=str(current),
                    status=304,
                    body=None,
                    headers=got,
                    etag=got.get("etag", etag),
                    last_modified=got.get("last-modified", last_modified),
                    min_interval=_min_interval(got),
                )
            if not 200 <= status < 300:
                raise HTTPStatusError(url, status, parse_retry_after(got.get("retry-after")))
            mime = _mime(got.get("content-type"))
            if not _accepted(mime):
                resp.close()
                raise UnsupportedContentError(url, f"unsupported content type {mime}")
            length = resp.content_length
            if length is not None and length > max_bytes:
                resp.close()
                raise TooLargeError(
                    url, f"Content-Length {length} is over the {max_bytes}-byte cap"
                )
            body = await self._read_capped(resp, url, max_bytes)
            return FetchResult(
                url=str(current),
                status=status,
                body=body,
                headers=got,
                etag=got.get("etag"),
                last_modified=got.get("last-modified"),
                min_interval=_min_interval(got),
            )

    @staticmethod
    async def _read_capped(resp: aiohttp.ClientResponse, url: str, max_bytes: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                # close(), not release(): drop the connection instead of draining it.
                resp.close()
                raise TooLargeError(url, f"body over the {max_bytes}-byte cap; stopped reading")
            chunks.append(chunk)
        return b"".join(chunks)
