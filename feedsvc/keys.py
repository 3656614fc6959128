"""Every Redis key and TTL feedsvc uses, under one prefix (the habit of arq's ``constants.py``).

URLs are hashed into keys so keys stay short and safe whatever the URL holds.
"""

from __future__ import annotations

import hashlib

PREFIX = "feedsvc:"

# Stored origin pages are kept so rules can re-extract without re-fetching (issue #4 item 4);
# they are large, so they expire sooner than articles.
PAGE_TTL = 14 * 86400
# Fetch state outlives a poll interval many times over; a source dropped from the
# config lets its state expire instead of leaking forever.
STATE_TTL = 90 * 86400
# Articles live as long as the longest retention allows, plus a margin for clocks.
ARTICLE_TTL_MARGIN = 86400
# Retention assumed when a caller does not pass the topic's (the config default, 30d).
DEFAULT_RETENTION = 30 * 86400
# How long a write's receipt outlives the call that made it (see receipt).
RECEIPT_TTL = 60
# Channel on which each topic change is announced, for other consumers (replicas read
# the topic versions instead).
CHANGES_CHANNEL = PREFIX + "changes"


def url_hash(url: str) -> str:
    # surrogatepass: a lone surrogate (never in a valid URL, but possible in scraped text)
    # must give a key, not a UnicodeEncodeError; valid text hashes exactly as before.
    return hashlib.blake2b(url.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def article(url: str) -> str:
    """String: compressed JSON of one :class:`~feedsvc.models.Article`."""
    return f"{PREFIX}article:{url_hash(url)}"


def page(url: str) -> str:
    """String: compressed origin page (the body extraction ran on)."""
    return f"{PREFIX}page:{url_hash(url)}"


def state(url: str) -> str:
    """String: compressed JSON of one :class:`~feedsvc.models.FetchState`."""
    return f"{PREFIX}state:{url_hash(url)}"


def claim(name: str) -> str:
    """String, expiring: which process polls the source ``name`` names this round
    (see :meth:`feedsvc.store.Store.claim`)."""
    return f"{PREFIX}claim:{url_hash(name)}"


def topic_entries(topic: str) -> str:
    """Sorted set: article URL scored by published time (feed order)."""
    return f"{PREFIX}topic:{topic}:entries"


def topic_seen(topic: str) -> str:
    """Sorted set: article URL scored by first-seen time (retention)."""
    return f"{PREFIX}topic:{topic}:seen"


def topic_fingerprints(topic: str) -> str:
    """Hash: text fingerprint -> article URL (one entry per story per topic)."""
    return f"{PREFIX}topic:{topic}:fp"


def topic_version(topic: str) -> str:
    """Integer: bumped on every change to the topic, for cheap cache checks."""
    return f"{PREFIX}topic:{topic}:version"


def topics() -> str:
    """Set, no expiry: the name of every topic an article was added to, and not since
    found empty, and of every topic each process found stored at its first prune (one
    SCAN). Prune looks up the other topics here to tell whether an article it drops is
    still listed anywhere (a topic's entries are the only record of that)."""
    return f"{PREFIX}topics"


def scan_pattern(kind: str | None = None) -> str:
    """SCAN pattern of every feedsvc key, or of one kind ("article", "page", "state",
    "topic"): for tools and benchmarks, never for serving."""
    return f"{PREFIX}{kind}:*" if kind else f"{PREFIX}*"


def receipt(token: str) -> str:
    """String, RECEIPT_TTL seconds: set in the same atomic step as one call's write (an
    add_article script, an update_state transaction; ``token`` names the call), so the
    call can tell, when redis-py sends it again after a lost reply, that the write it
    then finds is its own and must not be made twice."""
    return f"{PREFIX}done:{token}"
