"""Plain data passed between stages.

Stages exchange these frozen dataclasses and nothing else, so each stage can be
tested alone and values can cross process boundaries (they pickle).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class LinkHint:
    """An article link found by discovery, with what the index or feed said of it.

    The feed's title/date/author are hints: extraction prefers the page's own
    metadata and falls back to these.
    """

    url: str
    title: str | None = None
    published: datetime | None = None
    author: str | None = None
    # When the feed says the item changed (Atom <updated>): a stored article older than
    # this is fetched again (issue #2 item 2, "unless the page changed and the source says so").
    updated: datetime | None = None


@dataclass(frozen=True, slots=True)
class ExtractedArticle:
    """What extraction keeps of one article page (issue #4, item 0)."""

    title: str
    content_html: str
    text: str
    author: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    dateline: str | None = None
    lead_image: str | None = None
    lang: str | None = None
    # The page's rel=canonical (or og:url), in canonical form (feedsvc.extract.urls).
    canonical_url: str | None = None
    # Which rule or heuristic produced each part ("title": "og:title", ...), for
    # ``feedsvc extract --explain``.
    explain: dict[str, str] = field(default_factory=dict)
    # Site rules may point elsewhere for the whole story (FiveFilters ``single_page_link``)
    # or to its next page (``next_page_link``); the pipeline fetches and joins them.
    single_page_url: str | None = None
    next_page_url: str | None = None


@dataclass(frozen=True, slots=True)
class Article:
    """A stored article: extraction result plus what feedsvc knows about it.

    ``url`` is the canonical URL (the store key and the Atom entry id's source).
    ``first_seen`` is when feedsvc first stored it: retention counts from there,
    so an old story newly linked from an index is still a new entry (issue #2).
    """

    url: str
    title: str
    content_html: str
    published: datetime
    first_seen: datetime
    author: str | None = None
    updated: datetime | None = None
    dateline: str | None = None
    lead_image: str | None = None
    lang: str | None = None
    summary: str | None = None
    fingerprint: str | None = None
    # Fingerprint of the site rule the content was extracted with (None: generic); when
    # the rule file changes, the article is re-extracted from its stored page (issue #4).
    rule: str | None = None


@dataclass(frozen=True, slots=True)
class FetchState:
    """Per-URL polling state: validators for conditional GET and backoff bookkeeping."""

    etag: str | None = None
    last_modified: str | None = None
    next_due: float = 0.0  # epoch seconds
    error_count: int = 0
    last_error: str | None = None
    last_status: int | None = None
    last_fetched: float | None = None  # epoch seconds
    # For an article link: the canonical URL its story was stored under (rel=canonical
    # may differ from the link), so the link is known as stored and never re-fetched.
    canonical: str | None = None
    # For an article link: the topics it has been entered into (or found to duplicate an
    # entry of). Such a link is never entered again, so an entry pruned by max_entries
    # does not come back on the next poll, and a stored link costs one read per poll.
    topics: tuple[str, ...] = ()
    # For a source: article links that failed on its last full poll, with what the
    # source said of each (a page without its own date keeps the feed's). They are
    # retried (each after its own backoff) even while the source itself answers 304.
    retry: tuple[LinkHint, ...] = ()
    # For a source: SourceConfig.discovery_key() of the config that stored the
    # validators above; they are not sent when it differs.
    discovery: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One HTTP fetch. ``body`` is None on 304 Not Modified (a 304 costs no parsing)."""

    url: str  # final URL after redirects
    status: int
    body: bytes | None
    headers: dict[str, str]
    etag: str | None = None
    last_modified: str | None = None
    # Seconds the origin asked us to wait (Retry-After or Cache-Control max-age as a floor).
    min_interval: float | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304
