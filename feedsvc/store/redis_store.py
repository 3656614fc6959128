"""The Redis store (redis.asyncio): restarts lose nothing, replicas share (issue #2 item 5).

Layout (every key from :mod:`feedsvc.keys`, under its one prefix):

- ``article:<hash>``: compressed JSON of the article, expiring at ``first_seen + retention
  + margin`` (retention counts from first_seen, issue #2 item 5);
- per topic: ``entries`` (zset url -> published), ``seen`` (zset url -> first_seen),
  ``fp`` (hash fingerprint -> url) and ``version`` (the time of its last change, see
  :data:`_TOUCH`);
- ``page:<hash>`` (packed by the extraction worker; it continues the Brotli stream of the
  story in ``article:<hash>``, see :mod:`feedsvc.store.codec`) and ``state:<hash>``, with
  their TTLs.

Writes that touch several keys run as one Lua script: Redis runs a script atomically and
AOF/replicas receive its effects as one MULTI/EXEC, so a crash mid-write never leaves an
article half-indexed (issue #3 item 4). Scripts also ``PUBLISH`` the topic name on
``keys.CHANGES_CHANNEL`` for other consumers (the README documents it); replicas learn
of changes from the topic versions, one MGET a second (feeds.py).

Every redis-py or socket exception is re-raised as :class:`~feedsvc.errors.StoreError`
(nothing from redis leaks past this stage). The client fails fast (short connect/read
timeouts, one quick retry) so an outage is noticed within seconds, and reconnects by
itself on the next call once Redis is back (health checks drop dead pooled connections).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import logging
import math
import secrets
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from feedsvc import keys
from feedsvc.errors import StoreError
from feedsvc.models import Article, FetchState
from feedsvc.store import article_expiry, codec

log = logging.getLogger("feedsvc.store")

# Timeouts tuned for a Redis on the same host or LAN: a healthy answer takes well under a
# millisecond, so seconds of silence mean an outage, and the poller should learn it quickly
# (issue #3 item 4: /readyz reports the outage, polling pauses).
CONNECT_TIMEOUT = 2.0
SOCKET_TIMEOUT = 3.0
# Idle pooled connections are PINGed before reuse after this many seconds, so a connection
# broken by a Redis restart is replaced instead of failing the caller's command.
HEALTH_CHECK_INTERVAL = 10
# One retry with a short backoff absorbs a single dropped connection (e.g. right after a
# Redis restart) without making a real outage slow to report; redis-py's default is 10.
RETRIES = 1
# Connections per store; callers beyond this wait up to POOL_TIMEOUT for one.
MAX_CONNECTIONS = 32
POOL_TIMEOUT = 10.0
# Keys per MGET of a batch read: bounds one reply (articles are ~5-30 KB compressed) and
# the time Redis spends on one command, which blocks every other client meanwhile.
BATCH = 256
# Decoding (Brotli, then JSON) more than this many articles at once runs in a thread,
# off the event loop that serves feeds (~0.1 ms per article, issue #3 item 2).
DECODE_INLINE = 4
# The same for fetch states, which cost a fifth of an article each.
DECODE_STATES_INLINE = 64
# add/update_article read the article, then write it in a script that checks it did not
# change in between (optimistic concurrency), and prune runs again with the keys its last
# run asked for; this bounds the retries under contention.
_CAS_ATTEMPTS = 8

# A topic's version is the time of its last change in milliseconds since the epoch, by
# Redis's clock (one clock for every replica, so they agree on a feed's Last-Modified and
# atom:updated), made strictly greater than the one before (two changes in one ms, a
# clock set back) so that every change is seen as one. '%d': Lua 5.1 would print a
# number this big as 1.76e+12. TIME in a script is fine: Redis 7 replicates a script's
# effects, not the script.
# A topic's keys live as long as its longest-lived article (KEEPTTL: a change keeps the
# expiry its adds gave): a topic dropped from the config leaves nothing behind once its
# articles are gone, and one still polled never loses its index while an article lives.
_TOUCH = """
local function touch(key)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local cur = tonumber(redis.call('GET', key) or '0') or 0
  if now <= cur then now = cur + 1 end
  redis.call('SET', key, string.format('%d', now), 'KEEPTTL')
end
local function outlive(ttl, ...)
  for _, key in ipairs({...}) do
    local left = redis.call('TTL', key)
    if left == -1 or (left >= 0 and left < ttl) then redis.call('EXPIRE', key, ttl) end
  end
end
"""

_ADD = _TOUCH + """local cur = redis.call('GET', KEYS[1])
if cur then
  if redis.sha1hex(cur) ~= ARGV[7] then return -1 end
elseif ARGV[7] ~= '' then
  return -1
end
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
if ARGV[2] ~= '' and redis.call('HEXISTS', KEYS[4], ARGV[2]) == 1 then return 0 end
local ttl = tonumber(ARGV[6])
if cur then
  local old = redis.call('TTL', KEYS[1])
  if old == -1 then ttl = -1 elseif old > ttl then ttl = old end
end
if ttl == -1 then
  redis.call('SET', KEYS[1], ARGV[3], 'KEEPTTL')
else
  redis.call('SET', KEYS[1], ARGV[3], 'EX', ttl)
end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[4], ARGV[2], ARGV[1]) end
redis.call('SADD', KEYS[7], ARGV[9])
touch(KEYS[5])
if ttl > 0 then outlive(ttl, KEYS[2], KEYS[3], KEYS[4], KEYS[5]) end
redis.call('PUBLISH', ARGV[8], ARGV[9])
redis.call('SET', KEYS[6], '1', 'EX', ARGV[10])
return 1
"""

_UPDATE = _TOUCH + """
local cur = redis.call('GET', KEYS[1])
if not cur or redis.sha1hex(cur) ~= ARGV[4] then return -1 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
local old_fp, new_fp = ARGV[6], ARGV[7]
local changed = {}
for i = 8, #ARGV do
  local k = 3 * (i - 8) + 2
  local entries, version, fps = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  if redis.call('ZSCORE', entries, ARGV[1]) then
    redis.call('ZADD', entries, ARGV[3], ARGV[1])
    if old_fp ~= new_fp then
      if old_fp ~= '' and redis.call('HGET', fps, old_fp) == ARGV[1] then
        redis.call('HDEL', fps, old_fp)
      end
      if new_fp ~= '' then redis.call('HSETNX', fps, new_fp, ARGV[1]) end
    end
    touch(version)
    redis.call('PUBLISH', ARGV[5], ARGV[i])
    changed[#changed + 1] = ARGV[i]
  end
end
return changed
"""

# Prune decides what goes before it writes anything. An article it drops that no other
# topic lists is deleted with its page: no feed shows it any more, and it would otherwise
# stay until its retention ran out. Lua cannot hash a URL into its key, and a script may
# touch only the keys it is given, so a strict run that would drop an entry whose article
# key it lacks, or that does not have every other topic's entries (the registry
# keys.topics() names them), writes nothing and returns what it needs: the URLs it drops
# and the registered topics. The caller runs it again with those keys; a prune that drops
# nothing (most polls) stays one round-trip. A lenient run (the last attempt, should the
# topic keep changing in between) prunes as before and leaves to its TTL any article it
# cannot check.
# KEYS: entries, seen, fp, version, topics; an article and a page key per candidate; the
# entries of each other topic. ARGV: seen_before, keep, channel, topic, #candidates,
# strict ('1' or '0'), the candidate URLs, the other topics' names.
_PRUNE = _TOUCH + """
local m, strict = tonumber(ARGV[5]), ARGV[6] == '1'
local drop, gone = {}, {}
for _, url in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1])) do
  gone[url] = true
  drop[#drop + 1] = url
end
local n, keep = redis.call('ZCARD', KEYS[1]), tonumber(ARGV[2])
local left = n
for _, url in ipairs(drop) do
  if redis.call('ZSCORE', KEYS[1], url) then left = left - 1 end
end
if left > keep then
  -- the oldest of those left: among the n - keep oldest of all
  local extra = left - keep
  for _, url in ipairs(redis.call('ZRANGE', KEYS[1], 0, n - keep - 1)) do
    if extra == 0 then break end
    if not gone[url] then
      gone[url] = true
      drop[#drop + 1] = url
      extra = extra - 1
    end
  end
end
if #drop == 0 then return 0 end
local slot, listed, others = {}, {[ARGV[4]] = true}, {}
for i = 1, m do slot[ARGV[6 + i]] = 4 + 2 * i end
for j = 7 + m, #ARGV do
  listed[ARGV[j]] = true
  others[#others + 1] = {ARGV[j], KEYS[5 + 2 * m + (j - 6 - m)]}
end
local registered = redis.call('SMEMBERS', KEYS[5])
local complete = true
for _, name in ipairs(registered) do
  if not listed[name] then complete = false end
end
if strict then
  local keyed = complete
  for _, url in ipairs(drop) do
    if not slot[url] then keyed = false end
  end
  if not keyed then return {drop, registered} end
end
for _, url in ipairs(drop) do
  redis.call('ZREM', KEYS[1], url)
  redis.call('ZREM', KEYS[2], url)
end
local fps = redis.call('HGETALL', KEYS[3])
for i = 1, #fps, 2 do
  if gone[fps[i + 1]] then redis.call('HDEL', KEYS[3], fps[i]) end
end
if complete then
  for _, url in ipairs(drop) do
    local k, held = slot[url], false
    for _, other in ipairs(others) do
      if redis.call('ZSCORE', other[2], url) then
        held = true
        break
      end
    end
    if k and not held then redis.call('DEL', KEYS[k], KEYS[k + 1]) end
  end
  -- a topic whose entries are all gone (dropped from the config, expired) leaves the
  -- registry; its next add names it again
  for _, other in ipairs(others) do
    if redis.call('EXISTS', other[2]) == 0 then redis.call('SREM', KEYS[5], other[1]) end
  end
end
touch(KEYS[4])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return #drop
"""

_P = ParamSpec("_P")
_T = TypeVar("_T")


def _wrap_errors(
    op: str,
) -> Callable[
    [Callable[Concatenate[RedisStore, _P], Coroutine[Any, Any, _T]]],
    Callable[Concatenate[RedisStore, _P], Coroutine[Any, Any, _T]],
]:
    """Turn redis and socket exceptions raised by the method into StoreError, and make
    sure a cancellation of the calling task is not lost inside redis-py."""

    def deco(
        fn: Callable[Concatenate[RedisStore, _P], Coroutine[Any, Any, _T]],
    ) -> Callable[Concatenate[RedisStore, _P], Coroutine[Any, Any, _T]]:
        @functools.wraps(fn)
        async def wrapper(self: RedisStore, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
            task = asyncio.current_task()
            cancels = task.cancelling() if task is not None else 0
            try:
                result = await fn(self, *args, **kwargs)
            # TimeoutError is an OSError; UnicodeError: a key with a lone surrogate sent
            # through a caller's client that encodes strictly.
            except (RedisError, OSError, UnicodeError) as exc:
                _resurface_cancel(task, cancels)
                detail = str(exc) or "no detail"
                raise StoreError(
                    f"Redis at {self.where} failed during {op}: {type(exc).__name__}: {detail}"
                ) from exc
            _resurface_cancel(task, cancels)
            return result

        return wrapper

    return deco


def _resurface_cancel(task: asyncio.Task[Any] | None, cancels: int) -> None:
    """Raise CancelledError if ``task`` was asked to cancel (more often than ``cancels``
    times) during a call that then returned or failed as if nothing happened.

    redis-py sends with ``asyncio.wait_for``, which on Python 3.11 returns the inner
    result when the cancellation lands as the send completes (CPython gh-86296, fixed in
    3.12). The cancellation is then gone: a background task being stopped (the feed
    version watcher, a poll) carries on instead, and whoever awaits it at shutdown
    waits forever. Seen as a CI hang in tests/test_faults.py, reproduced once locally.
    """
    if task is not None and task.cancelling() > cancels:
        raise asyncio.CancelledError


def _bytes(value: object) -> bytes:
    """A reply that must be binary (the client never decodes); anything else is an error."""
    if isinstance(value, bytes):
        return value
    raise StoreError(f"unexpected Redis reply type {type(value).__name__}")


def _article(value: object, key: str) -> Article | None:
    """The article a stored value holds; None, logged, for one this version cannot read
    (damaged, or written by a newer release during a rolling upgrade or after a
    rollback): it is left in Redis, and is missing only from what this process serves,
    instead of failing every read of its topic."""
    if value is None:
        return None
    try:
        return codec.article_from_bytes(_bytes(value))
    except StoreError as exc:
        log.warning("skipping unreadable stored article %s: %s", key, exc)
        return None


async def _decode_articles(values: Sequence[object], names: Sequence[str]) -> list[Article | None]:
    def decode() -> list[Article | None]:
        return [_article(v, k) for v, k in zip(values, names, strict=True)]

    if sum(v is not None for v in values) <= DECODE_INLINE:
        return decode()
    return await asyncio.to_thread(decode)


def _enc(text: str) -> bytes:
    """UTF-8 that keeps lone surrogates (URLs and fingerprints are stored verbatim)."""
    return text.encode("utf-8", "surrogatepass")


def _dec(value: object) -> str:
    return _bytes(value).decode("utf-8", "surrogatepass")


def _score(value: float) -> str:
    # repr round-trips a float exactly, so Redis orders exactly as Python would.
    return repr(float(value))


# KEYS: claim; ARGV: owner, ttl in ms. Take a free claim or renew one's own.
_CLAIM = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
# KEYS: page, article; ARGV: page, ttl in s. Keep the page while its article is stored.
_PUT_PAGE = """
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""
# KEYS: claims; ARGV: owner. End each claim the owner holds.
_RELEASE = """
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
return 1
"""


class RedisStore:
    """:class:`~feedsvc.store.Store` on Redis. Build with :meth:`from_url` or from a client.

    A client passed in stays the caller's: :meth:`close` closes only a client this class
    created. The client must not decode responses (values are binary).
    """

    def __init__(self, client: aioredis.Redis, *, owns_client: bool = False) -> None:
        kwargs = client.connection_pool.connection_kwargs
        if kwargs.get("decode_responses"):
            raise ValueError("RedisStore needs a client with decode_responses=False")
        self._r = client
        self._owns = owns_client
        # Where we talk to, for error messages: host/port/db only, never the password.
        self.where = (
            f"{kwargs.get('host', kwargs.get('path', '?'))}:{kwargs.get('port', '')}"
            f"/{kwargs.get('db', 0)}"
        )
        self._add = client.register_script(_ADD)
        self._update = client.register_script(_UPDATE)
        self._prune = client.register_script(_PRUNE)
        self._put_page = client.register_script(_PUT_PAGE)
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)
        self._topics_complete = False  # see _know_every_topic

    @classmethod
    def from_url(cls, url: str, **client_kwargs: Any) -> RedisStore:
        """Connect lazily to ``url`` (``redis://``, ``rediss://`` or ``unix://``) with
        fail-fast timeouts and automatic reconnection; ``client_kwargs`` override them."""
        options: dict[str, Any] = {
            "socket_connect_timeout": CONNECT_TIMEOUT,
            "socket_timeout": SOCKET_TIMEOUT,
            "health_check_interval": HEALTH_CHECK_INTERVAL,
            "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), RETRIES),
            "socket_keepalive": True,
            # Key names embed topic names and hosts verbatim; keep odd text encodable.
            "encoding_errors": "surrogatepass",
        }
        options.update(client_kwargs)
        options["decode_responses"] = False
        options.setdefault("max_connections", MAX_CONNECTIONS)
        options.setdefault("timeout", POOL_TIMEOUT)
        try:
            # A blocking pool: callers beyond max_connections wait for a free connection;
            # the default pool raises "Too many connections" instead, which a crawl of a
            # few hundred new articles hits at once.
            pool = aioredis.BlockingConnectionPool.from_url(url, **options)
            client = aioredis.Redis.from_pool(pool)
        except (ValueError, RedisError) as exc:
            raise StoreError(f"bad Redis URL: {exc}") from exc
        return cls(client, owns_client=True)

    @_wrap_errors("ping")
    async def ping(self) -> None:
        """Raise StoreError when Redis is unreachable."""
        await self._r.ping()

    @_wrap_errors("close")
    async def close(self) -> None:
        """Close the client (and its pool) if this store created it."""
        if self._owns:
            await self._r.aclose()

    # -- articles ---------------------------------------------------------
    @_wrap_errors("get_article")
    async def get_article(self, url: str) -> Article | None:
        """The stored article for ``url``, or None."""
        return _article(await self._r.get(keys.article(url)), keys.article(url))

    @_wrap_errors("get_articles")
    async def get_articles(self, urls: Sequence[str]) -> list[Article | None]:
        """See :meth:`feedsvc.store.Store.get_articles` (one MGET per :data:`BATCH`)."""
        names = [keys.article(u) for u in urls]
        return await _decode_articles(await self._mget(names), names)

    @_wrap_errors("add_article")
    async def add_article(
        self, topic: str, article: Article, *, retention: float | None = None
    ) -> bool:
        """See :meth:`feedsvc.store.Store.add_article`."""
        codec.require_aware(article)
        akey = keys.article(article.url)
        receipt = keys.receipt(secrets.token_hex(8))
        for attempt in range(_CAS_ATTEMPTS):
            if attempt and await self._r.exists(receipt):
                # An earlier attempt added the entry but its reply was lost, and redis-py
                # re-sent the script, whose second run found the entry and refused.
                return True
            cur = await self._r.get(akey)
            art, expect = article, ""
            if cur is not None:
                raw = _bytes(cur)
                expect = hashlib.sha1(raw).hexdigest()
                # One this version cannot read is overwritten (logged by _article): the
                # story just extracted stands in for it.
                old = _article(raw, akey)
                if old is not None:
                    art = dataclasses.replace(article, first_seen=old.first_seen)
            ttl = math.ceil(article_expiry(art, retention, time.time()) - time.time())
            result = await self._add(
                keys=[
                    akey,
                    keys.topic_entries(topic),
                    keys.topic_seen(topic),
                    keys.topic_fingerprints(topic),
                    keys.topic_version(topic),
                    receipt,
                    keys.topics(),
                ],
                args=[
                    _enc(art.url),
                    _enc(art.fingerprint or ""),
                    codec.article_to_bytes(art),
                    _score(art.published.timestamp()),
                    _score(art.first_seen.timestamp()),
                    max(ttl, 1),
                    expect,
                    keys.CHANGES_CHANNEL,
                    _enc(topic),
                    keys.RECEIPT_TTL,
                ],
            )
            if result == 0 and await self._r.exists(receipt):
                # The same lost reply, for a story stored already with these very bytes:
                # the re-sent script found the article unchanged and the entry present.
                return True
            if result >= 0:
                return bool(result)
        raise StoreError(f"add_article: {article.url} kept changing during the write")

    @_wrap_errors("update_article")
    async def update_article(self, article: Article, topics: Sequence[str]) -> list[str]:
        """See :meth:`feedsvc.store.Store.update_article`."""
        codec.require_aware(article)
        akey = keys.article(article.url)
        names = list(dict.fromkeys(topics))
        topic_keys = [
            k for t in names
            for k in (keys.topic_entries(t), keys.topic_version(t), keys.topic_fingerprints(t))
        ]
        for _ in range(_CAS_ATTEMPTS):
            cur = await self._r.get(akey)
            if cur is None:
                return []
            raw = _bytes(cur)
            old = _article(raw, akey)
            if old is None:
                return []  # unreadable here (logged): a later add_article overwrites it
            art = dataclasses.replace(article, first_seen=old.first_seen)
            result = await self._update(
                keys=[akey, *topic_keys],
                args=[
                    _enc(art.url),
                    codec.article_to_bytes(art),
                    _score(art.published.timestamp()),
                    hashlib.sha1(raw).hexdigest(),
                    keys.CHANGES_CHANNEL,
                    # the entry's fingerprint moves with its text (old, new)
                    _enc(old.fingerprint or ""),
                    _enc(art.fingerprint or ""),
                    *map(_enc, names),
                ],
            )
            if isinstance(result, list):
                return [_dec(t) for t in result]
        raise StoreError(f"update_article: {article.url} kept changing during the write")

    @_wrap_errors("topic_articles")
    async def topic_articles(self, topic: str, limit: int) -> list[Article]:
        """Newest first by published time (two round-trips: ZREVRANGE, MGET)."""
        urls = await self._newest(topic, limit)
        if not urls:
            return []
        names = [keys.article(u) for u in urls]
        values = await self._r.mget(names)
        # An article past its TTL (retention ran out before a prune) is simply skipped.
        return [a for a in await _decode_articles(values, names) if a is not None]

    @_wrap_errors("topic_urls")
    async def topic_urls(self, topic: str, limit: int) -> list[str]:
        """See :meth:`feedsvc.store.Store.topic_urls` (one ZREVRANGE)."""
        return await self._newest(topic, limit)

    async def _newest(self, topic: str, limit: int) -> list[str]:
        """The URLs of the topic's newest ``limit`` entries (one ZREVRANGE), for
        topic_articles and topic_urls alike."""
        if limit <= 0:
            return []
        return [_dec(u) for u in await self._r.zrevrange(keys.topic_entries(topic), 0, limit - 1)]

    @_wrap_errors("topic_versions")
    async def topic_versions(self, topics: Sequence[str]) -> dict[str, int]:
        """Current version per topic, one MGET (0 for a topic never written)."""
        names = list(topics)
        if not names:
            return {}
        values = await self._r.mget([keys.topic_version(t) for t in names])
        return {t: int(v) if v is not None else 0 for t, v in zip(names, values, strict=True)}

    @_wrap_errors("prune")
    async def prune(self, topic: str, *, seen_before: float, keep: int) -> int:
        """See :meth:`feedsvc.store.Store.prune`: one atomic script (:data:`_PRUNE`); a
        second run, with the keys the first said it needs, when it drops something."""
        if keep < 0:
            raise ValueError("keep must be >= 0")
        if math.isnan(seen_before):
            raise ValueError("seen_before must be a number")
        await self._know_every_topic()
        index = [
            keys.topic_entries(topic),
            keys.topic_seen(topic),
            keys.topic_fingerprints(topic),
            keys.topic_version(topic),
            keys.topics(),
        ]
        candidates: list[bytes] = []
        others: list[str] = []
        for attempt in range(_CAS_ATTEMPTS):
            strict = attempt < _CAS_ATTEMPTS - 1
            reply = await self._prune(
                keys=[
                    *index,
                    *(k for u in candidates for k in (keys.article(_dec(u)), keys.page(_dec(u)))),
                    *(keys.topic_entries(t) for t in others),
                ],
                args=[
                    _score(seen_before), keep, keys.CHANGES_CHANNEL, _enc(topic),
                    len(candidates), "1" if strict else "0", *candidates, *map(_enc, others),
                ],
            )
            if not isinstance(reply, list):
                return int(reply)
            # what it drops, and the topics that may list it: as they are now
            drop, registered = reply
            candidates = [_bytes(u) for u in drop]
            others = sorted({_dec(n) for n in registered} - {topic})
        raise AssertionError("the last attempt is lenient")  # pragma: no cover

    async def _know_every_topic(self) -> None:
        """Make the registry name every topic stored, as this process first finds them
        (one SCAN, at its first prune): a topic missing from it would have its articles
        taken for unlisted. Once per process, not once per Redis: a process of an earlier
        release (one rolled back to, then upgraded from again) enters articles into a
        topic without naming it there, and a record that the registry was once complete
        would hide that topic from every later process for good."""
        if self._topics_complete:
            return
        pattern = keys.topic_entries("*")
        head, tail = pattern.split("*")
        found = sorted({_dec(key)[len(head):-len(tail)]
                        async for key in self._r.scan_iter(match=pattern, count=1000)})
        for i in range(0, len(found), BATCH):
            await self._r.sadd(keys.topics(), *map(_enc, found[i:i + BATCH]))
        self._topics_complete = True

    @_wrap_errors("keep_articles")
    async def keep_articles(self, topic: str, retention: float) -> int:
        """See :meth:`feedsvc.store.Store.keep_articles`: the topic's first-seen index,
        then each article's TTL, then EXPIREAT where it is short (a round-trip each,
        pipelined; article keys are hashes Lua could not compute)."""
        reply = await self._r.zrange(keys.topic_seen(topic), 0, -1, withscores=True)
        seen = [(url, float(score)) for url, score in cast(list[tuple[bytes, Any]], reply)]
        if not seen:
            return 0
        names = [keys.article(_dec(url)) for url, _ in seen]
        ttls: list[int] = []
        for i in range(0, len(names), BATCH):
            async with self._r.pipeline(transaction=False) as pipe:
                for name in names[i:i + BATCH]:
                    pipe.ttl(name)
                ttls.extend(await pipe.execute())
        now = time.time()
        longer = [
            (name, math.ceil(first_seen + retention + keys.ARTICLE_TTL_MARGIN))
            for name, (_, first_seen), ttl in zip(names, seen, ttls, strict=True)
            # -2: gone, -1: no expiry (kept for ever already)
            if ttl >= 0 and now + ttl < first_seen + retention + keys.ARTICLE_TTL_MARGIN - 60
        ]
        for i in range(0, len(longer), BATCH):
            async with self._r.pipeline(transaction=False) as pipe:
                for name, when in longer[i:i + BATCH]:
                    pipe.expireat(name, when)
                await pipe.execute()
        # and the topic's own keys, which live as long as its longest-lived article
        last = max(math.ceil(first_seen + retention + keys.ARTICLE_TTL_MARGIN) for _, first_seen in seen)
        index = [keys.topic_entries(topic), keys.topic_seen(topic),
                 keys.topic_fingerprints(topic), keys.topic_version(topic)]
        async with self._r.pipeline(transaction=False) as pipe:
            for name in index:
                pipe.ttl(name)
            left = await pipe.execute()
        async with self._r.pipeline(transaction=False) as pipe:
            for name, ttl in zip(index, left, strict=True):
                if ttl == -1 or (ttl >= 0 and now + ttl < last):
                    pipe.expireat(name, last)
            await pipe.execute()
        return len(longer)

    # -- origin pages -----------------------------------------------------
    @_wrap_errors("put_page")
    async def put_page(self, url: str, page: codec.PackedPage, *, ttl: float | None = None) -> None:
        """See :meth:`feedsvc.store.Store.put_page`: one script, so a prune deleting the
        article cannot come between the check and the write."""
        ttl = keys.PAGE_TTL if ttl is None else ttl
        if ttl <= 0:
            await self._r.delete(keys.page(url))
            return
        await self._put_page(
            keys=[keys.page(url), keys.article(url)], args=[page.data, max(1, math.ceil(ttl))]
        )

    @_wrap_errors("replace_page")
    async def replace_page(self, url: str, page: codec.PackedPage) -> None:
        """See :meth:`feedsvc.store.Store.replace_page`: SET XX KEEPTTL, one atomic step."""
        await self._r.set(keys.page(url), page.data, xx=True, keepttl=True)

    @_wrap_errors("get_page")
    async def get_page(self, url: str) -> codec.PackedPage | None:
        """The stored page, or None (also for a page that continues a story its article
        no longer holds); one MGET of the page and its article, whose content stream a
        chained page needs."""
        data, article = await self._r.mget([keys.page(url), keys.article(url)])
        if data is None:
            return None
        page = codec.PackedPage(_bytes(data))
        if not page.chained:
            return page
        stream = None if article is None else codec.article_stream(_bytes(article))
        if stream is None or not page.continues(stream):
            return None  # its article holds another story now: as good as expired
        return dataclasses.replace(page, after=stream)

    # -- polling ------------------------------------------------------------
    @_wrap_errors("claim")
    async def claim(self, name: str, owner: str, ttl: float) -> bool:
        """See :meth:`feedsvc.store.Store.claim`: one script, so two replicas asking at
        the same instant cannot both get it."""
        ms = max(1, math.ceil(ttl * 1000))
        return bool(await self._claim(keys=[keys.claim(name)], args=[owner, ms]))

    @_wrap_errors("release")
    async def release(self, names: Sequence[str], owner: str) -> None:
        """See :meth:`feedsvc.store.Store.release`: a script (compare, then delete) per
        :data:`BATCH` claims, so a shutdown with thousands of sources takes a few
        round-trips."""
        claims = [keys.claim(n) for n in names]
        for i in range(0, len(claims), BATCH):
            await self._release(keys=claims[i:i + BATCH], args=[owner])

    # -- fetch state ------------------------------------------------------
    @_wrap_errors("get_state")
    async def get_state(self, url: str) -> FetchState | None:
        """The stored fetch state, or None."""
        data = await self._r.get(keys.state(url))
        return None if data is None else codec.state_from_bytes(_bytes(data))

    @_wrap_errors("get_states")
    async def get_states(
        self, urls: Sequence[str], *, renew: bool = True,
    ) -> list[FetchState | None]:
        """See :meth:`feedsvc.store.Store.get_states`: GETEX, which reads a key and sets
        its expiry in one command (Redis 6.2), pipelined :data:`BATCH` at a time; MGET
        without ``renew``."""
        names = [keys.state(u) for u in urls]
        if not renew:
            values = await self._mget(names)
        else:
            values = []
            for i in range(0, len(names), BATCH):
                async with self._r.pipeline(transaction=False) as pipe:
                    for name in names[i:i + BATCH]:
                        pipe.getex(name, ex=keys.STATE_TTL)
                    values.extend(await pipe.execute())

        def decode() -> list[FetchState | None]:
            return [None if v is None else codec.state_from_bytes(_bytes(v)) for v in values]

        # Decoding costs 10-40 us a state: the states of 10,000 sources (a /metrics
        # scrape, the / page) would hold the loop that serves feeds for 0.1-0.4 s.
        return decode() if len(values) <= DECODE_STATES_INLINE else await asyncio.to_thread(decode)

    async def _mget(self, names: Sequence[str]) -> list[object]:
        values: list[object] = []
        for i in range(0, len(names), BATCH):
            values.extend(await self._r.mget(names[i:i + BATCH]))
        return values

    @_wrap_errors("put_state")
    async def put_state(self, url: str, state: FetchState) -> None:
        """Keep the state for ``keys.STATE_TTL`` seconds."""
        await self._r.set(keys.state(url), codec.state_to_bytes(state), ex=keys.STATE_TTL)

    @_wrap_errors("update_state")
    async def update_state(
        self, url: str, change: Callable[[FetchState | None], FetchState]
    ) -> FetchState:
        """See :meth:`feedsvc.store.Store.update_state`: optimistic locking (WATCH, then
        MULTI/EXEC, which Redis refuses when the key changed after the WATCH; redis-py's
        ``transaction`` runs ``change`` again on the fresh value until one goes through).
        The state is an opaque compressed blob, so a Lua script could not merge it."""
        key = keys.state(url)
        receipt = keys.receipt(secrets.token_hex(8))

        async def attempt(pipe: Pipeline) -> FetchState:
            # immediate commands: the pipeline is WATCHing
            done = await pipe.exists(receipt)
            data = await pipe.get(key)
            current = None if data is None else codec.state_from_bytes(_bytes(data))
            pipe.multi()  # type: ignore[no-untyped-call]  # untyped in redis-py 8
            if done and current is not None:
                # An earlier attempt's EXEC went through but its reply was lost (redis-py
                # reports that as a WatchError, and transaction() tries again): applying
                # the change once more would count a failure twice.
                return current
            new = change(current)
            if new != current:
                pipe.set(key, codec.state_to_bytes(new), ex=keys.STATE_TTL)
                pipe.set(receipt, b"1", ex=keys.RECEIPT_TTL)
            return new

        new: FetchState = await self._r.transaction(attempt, key, value_from_callable=True)
        return new
