"""robots.txt, fetched once per origin and cached in memory (RFC 9309).

Used by :class:`feedsvc.fetch.Fetcher`; parsing is protego's (a maintained parser that
implements RFC 9309 matching, including ``*``/``$`` patterns and longest-match
precedence). The cache is keyed by scheme and authority, the scope a robots.txt
governs (RFC 9309 §2.3: "the rules MUST apply only to the host, protocol and port
number where it is hosted").

How each outcome of fetching robots.txt is treated, and why:

* 2xx: parsed; the first 500 KiB are read (RFC 9309 §2.5 asks parsers to handle at
  least 500 KiB, so a larger file is truncated, never rejected). Cached ``ttl`` (1 h;
  §2.4 says caches SHOULD NOT be used for more than 24 h).
* 4xx except 429 ("unavailable", §2.3.1.3): no rules, every path is allowed.
  Redirect chains longer than five hops are also "unavailable" (§2.3.1.2).
* A host that cannot be reached at all (its name does not resolve, nothing answers on
  its port): not a robots.txt matter. The check fails with the fetch error the page
  itself would have got ("DNS lookup failed", "cannot connect"), cached ``error_ttl``.
* 5xx, 429, timeouts and other network errors ("unreachable", §2.3.1.4): the RFC says a
  crawler MUST assume complete disallow, and feedsvc follows it. A 5xx robots.txt
  usually means the server is struggling, and a polite poller (issue #2: "robots.txt
  honoured by default") should not pile page requests onto it; the verdict is only
  cached for ``error_ttl`` (5 min) so a blip costs one skipped poll, and the
  source's backoff does the rest. If an earlier good copy is cached, it is kept and
  used instead ("continue to use a cached copy", §2.3.1.4), so a site whose robots
  endpoint flaps is not blocked. 429 is grouped with 5xx because it asks us to slow
  down, not tell us there are no rules. For a site whose robots endpoint is
  permanently broken, the per-source ``robots: false`` switch turns the check off.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from protego import Protego
from yarl import URL

from feedsvc.errors import (
    BlockedError,
    FetchError,
    PrivateAddressBlockedError,
    RobotsUnreachableError,
    private_refusal,
)

log = logging.getLogger(__name__)

ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309 §2.5
# RFC 9309 §2.4: a cached copy SHOULD NOT be used for more than 24 h. Entries this long
# past their expiry (no longer good even as a stale fallback) are dropped, so the cache
# holds only origins seen lately, not every article host ever linked.
STALE_MAX = 24 * 3600.0
# A robots.txt larger than this is checked in a thread. Protego matches a URL against
# every rule in turn: a hostile 500 KiB file of wildcard rules took 93 ms per check of a
# 2 KB URL, on the loop that serves feeds (security review, session 6). Ordinary files
# (a few KB) are checked inline in microseconds, cheaper than a thread hop.
ROBOTS_INLINE_MAX = 32 * 1024


def product_token(user_agent: str) -> str:
    """The name robots.txt groups are matched against (RFC 9309 §2.2.1): the first
    product token of the User-Agent, without its version or comment. Matching the whole
    header would let a word of the comment (a project URL's host) select a group."""
    match = re.match(r"\s*([A-Za-z_-]+)", user_agent)
    return match.group(1) if match else user_agent


@dataclass(frozen=True, slots=True)
class _Entry:
    rules: Protego | None  # None: no rules apply (allow all) unless ``unreachable``
    expires: float
    unreachable: str | None = None  # why robots.txt is undefined -> disallow all
    good: bool = True  # from a 2xx or 4xx answer (usable as a stale copy)
    costly: bool = False  # rules too many to match on the event loop
    host_down: bool = False  # not robots.txt: the host itself could not be reached


class RobotsCache:
    """Per-origin robots.txt verdicts for one user agent."""

    def __init__(
        self,
        user_agent: str,
        *,
        ttl: float = 3600.0,
        error_ttl: float = 300.0,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.user_agent = user_agent
        self.robot_name = product_token(user_agent)
        self.ttl = ttl
        self.error_ttl = error_ttl
        self.timeout = timeout
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._next_sweep = clock() + ttl
        self.fetches = 0  # robots.txt requests made (for tests and metrics)

    def __len__(self) -> int:
        """Origins cached."""
        return len(self._entries)

    def _sweep(self, now: float) -> None:
        """Drop entries past any use (see STALE_MAX), and their locks; at most once per
        ``ttl``, so a check costs nothing extra."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.ttl
        for origin, entry in list(self._entries.items()):
            if entry.expires + STALE_MAX <= now:
                del self._entries[origin]
        for origin, lock in list(self._locks.items()):
            if origin not in self._entries and not lock.locked():
                del self._locks[origin]

    async def check(self, session: aiohttp.ClientSession, url: URL, *, budget: float) -> None:
        """Raise :class:`BlockedError` if robots.txt forbids ``url`` for our user agent.

        ``budget`` (seconds) bounds the robots.txt request, together with the
        cache's own ``timeout``: the smaller applies.
        """
        origin = str(url.origin())
        self._sweep(self._clock())
        entry = self._entries.get(origin)
        if entry is None or entry.expires <= self._clock():
            # One fetch per origin even when many requests arrive at once.
            lock = self._locks.setdefault(origin, asyncio.Lock())
            async with lock:
                entry = self._entries.get(origin)
                if entry is None or entry.expires <= self._clock():
                    entry = await self._refresh(session, url.origin(), entry, budget)
                    self._entries[origin] = entry
        if entry.host_down:
            # What fetching the page would have said: a host that is offline or unknown
            # is not a robots.txt problem, and saying so misleads (a first run without
            # network logged "robots.txt unreachable" for every source).
            raise FetchError(str(url), entry.unreachable or "cannot connect")
        if entry.unreachable is not None:
            raise RobotsUnreachableError(
                str(url),
                f"robots.txt unreachable ({entry.unreachable}); "
                "assuming disallow (RFC 9309 §2.3.1.4)",
            )
        if entry.rules is None:
            return
        if entry.costly:
            allowed = await asyncio.to_thread(entry.rules.can_fetch, str(url), self.robot_name)
        else:
            allowed = entry.rules.can_fetch(str(url), self.robot_name)
        if not allowed:
            raise BlockedError(str(url), "disallowed by robots.txt")

    async def _refresh(
        self, session: aiohttp.ClientSession, origin: URL, old: _Entry | None, budget: float
    ) -> _Entry:
        now = self._clock()
        robots_url = origin.with_path("/robots.txt")
        self.fetches += 1
        try:
            async with session.get(
                robots_url,
                headers={"Accept": "text/plain"},
                max_redirects=5,
                timeout=aiohttp.ClientTimeout(total=min(budget, self.timeout)),
            ) as resp:
                status = resp.status
                if 200 <= status < 300:
                    body = await _read_head(resp, ROBOTS_MAX_BYTES)
                    # In a thread: a robots.txt of a few hundred KB takes Protego
                    # ~150 ms to parse, which the loop serving feeds must not wait
                    # out in one piece (the GIL is handed back every few ms).
                    rules = await asyncio.to_thread(_parse, body, robots_url)
                    return _Entry(rules, now + self.ttl, costly=len(body) > ROBOTS_INLINE_MAX)
                if 400 <= status < 500 and status != 429:
                    return _Entry(None, now + self.ttl)
                reason = f"HTTP {status}"
        except aiohttp.TooManyRedirects:
            return _Entry(None, now + self.ttl)  # RFC 9309 §2.3.1.2: unavailable
        except TimeoutError:
            reason = "timed out"
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            refused = private_refusal(exc)
            if refused is not None:
                # The host itself is refused (feedsvc.fetch): say so, and cache nothing,
                # rather than call its robots.txt unreachable.
                raise PrivateAddressBlockedError(str(origin), str(refused)) from None
            reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
            if isinstance(exc, aiohttp.ClientConnectorError):
                down = describe_connect_error(exc)
                log.debug("robots.txt %s: %s", robots_url, down)
                return _Entry(None, now + self.error_ttl, unreachable=down, good=False,
                              host_down=True)
        if old is not None and old.good and now < old.expires + STALE_MAX:
            log.info("robots.txt %s: %s; keeping the cached copy", robots_url, reason)
            return _Entry(old.rules, now + self.error_ttl, costly=old.costly)
        # DEBUG: the source's own failure line already carries this reason (one clear
        # line per failing source, issue #2 item 7).
        log.debug("robots.txt %s: %s; disallowing for now", robots_url, reason)
        return _Entry(None, now + self.error_ttl, unreachable=reason, good=False)


def describe_connect_error(exc: aiohttp.ClientConnectorError) -> str:
    """One short line for a connection that could not be made: the same words whether
    the robots.txt fetch or the page fetch (feedsvc.fetch) met it."""
    what = "DNS lookup failed" if isinstance(exc, aiohttp.ClientConnectorDNSError) else "cannot connect"
    return f"{what}: {exc.os_error}"


async def _read_head(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The first ``limit`` bytes of the body; the rest is never read."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            resp.close()
            break
    return b"".join(chunks)[:limit]


def _parse(body: bytes, robots_url: URL) -> Protego | None:
    # RFC 9309 §2.2: robots.txt is UTF-8; bad bytes must not void the whole file.
    text = body.decode("utf-8", errors="replace")
    try:
        return Protego.parse(text)
    except Exception:  # a parser bug must not stop polling; no rules == allow
        log.warning("robots.txt %s could not be parsed; allowing all", robots_url)
        return None
