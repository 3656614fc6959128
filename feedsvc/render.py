"""Render stage: a topic's articles -> Atom 1.0 bytes (the only module that imports feedgen).

Runs in the CPU pool (``feedsvc.cpu``): rendering and gzip are CPU work and never run
on the event loop that serves feeds. The output is deterministic for the same
articles and change time (the store's topic version), so replicas rendering the same
topic version agree on its bytes and ETag.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator
from lxml import etree

from feedsvc import __version__
from feedsvc.limits import MAX_FEED_STORY_BYTES, feed_excerpt, xml_text_bytes
from feedsvc.models import Article
from feedsvc.xmltext import xml_safe

ATOM_CONTENT_TYPE = "application/atom+xml; charset=utf-8"
# On every answer with a body: a browser must take it for the type it says it is, never
# sniff a feed or a plain-text error that quotes a name into HTML.
NOSNIFF = {"X-Content-Type-Options": "nosniff"}
# An empty feed has changed "never": a fixed instant keeps its ETag stable across
# renders and replicas (RFC 4287 §4.2.15 needs some atom:updated).
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class FeedMeta:
    """What the feed says about itself: everything but the entries."""

    topic: str
    title: str
    description: str
    self_url: str  # this feed's own URL (rel="self", RFC 4287 §4.2.7.2)
    home_url: str  # the HTML page listing topics (rel="alternate")


@dataclass(frozen=True, slots=True)
class RenderedFeed:
    """A rendered feed with its validators and its gzip form, ready to serve."""

    body: bytes
    gzipped: bytes
    etag: str  # quoted strong entity-tag (RFC 9110 §8.8.3)
    etag_gzip: str  # the gzip representation's own entity-tag (RFC 9110 §8.8.3.3)
    last_modified: datetime
    entries: int
    # Entries carrying an excerpt for want of room in the feed (limits.MAX_FEED_STORY_BYTES).
    excerpted: int
    # Response headers, built once per render (the serving hot path only picks one).
    headers: dict[str, str]
    headers_gzip: dict[str, str]
    headers_304: dict[str, str]
    headers_304_gzip: dict[str, str]


# RFC 4287 §2: xml:lang is a language tag (the schema's atomLanguageTag).
_LANG_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def language_tag(lang: str | None) -> str | None:
    """The page's declared language as an xml:lang value ("en_US" -> "en-US"), or None
    when it is not a language tag at all."""
    tag = (lang or "").strip().replace("_", "-")
    return tag if _LANG_TAG.fullmatch(tag) else None


class _Entry(FeedEntry):  # type: ignore[misc]  # feedgen is untyped
    """An entry that carries its story's language (feedgen sets xml:lang only on the
    feed): readers use it for hyphenation, text direction and speech."""

    def __init__(self, lang: str | None) -> None:
        super().__init__()
        self._lang = lang

    def atom_entry(self, extensions: bool = True) -> etree._Element:
        entry: etree._Element = super().atom_entry(extensions)
        if self._lang:
            entry.set(_XML_LANG, self._lang)
        return entry


# The widest offset xsd:dateTime, which the Atom schema types dates with, allows.
MAX_OFFSET = timedelta(hours=14)


def _aware(dt: datetime) -> datetime:
    """``dt`` as an RFC 3339 date with a zone that Atom's schema accepts: naive values are
    taken as UTC (RFC 4287 §3.3 needs a zone); an offset beyond ±14:00 or with seconds,
    which Python reads from a page but xsd:dateTime refuses, becomes UTC."""
    offset = dt.utcoffset()
    if offset is None:
        return dt.replace(tzinfo=UTC)
    if abs(offset) > MAX_OFFSET or offset % timedelta(minutes=1):
        return dt.astimezone(UTC)
    return dt


def entry_updated(article: Article) -> datetime:
    return _aware(article.updated or article.published)


def render_feed(
    meta: FeedMeta,
    articles: Sequence[Article],
    *,
    changed: datetime | None = None,
    modified: datetime | None = None,
    story_budget: int = MAX_FEED_STORY_BYTES,
) -> RenderedFeed:
    """Render ``articles`` (already in feed order, newest first) as an Atom feed.

    The entries' stories (and summaries) take at most ``story_budget`` bytes of it, the
    newest first: an entry whose story would take more than is left carries, instead of
    its content and summary, an HTML summary (the start of its text and a link to its
    page: :func:`feedsvc.limits.feed_excerpt`, a few hundred bytes not counted in the
    budget), and a later, shorter story may still fit whole. The same articles give the
    same bytes.

    ``changed`` is when the topic last changed (its store version): the feed's
    atom:updated, which must move when an entry is added, changed or dropped (RFC 4287
    §4.2.15), not only when a newer story arrives; it never falls behind an entry's own
    date. Unknown, the newest entry's date stands in. ``modified`` is the HTTP
    Last-Modified (default: atom:updated).
    """
    fg = FeedGenerator()
    fg.id(meta.self_url)
    fg.title(xml_safe(meta.title))
    fg.subtitle(xml_safe(meta.description))
    fg.link(href=meta.self_url, rel="self", type="application/atom+xml")
    fg.link(href=meta.home_url, rel="alternate", type="text/html")
    fg.generator("feedsvc", version=__version__)
    # Feed-level author: RFC 4287 §4.1.1 requires an author on every entry unless the
    # feed has one; entries with no byline inherit this.
    fg.author({"name": xml_safe(meta.title)})
    updated = max((entry_updated(a) for a in articles), default=EPOCH)
    if changed is not None:
        updated = max(updated, _aware(changed).replace(microsecond=0))
    fg.updated(updated)
    room = story_budget
    excerpted = 0
    for article in articles:
        fe = fg.add_entry(_Entry(language_tag(article.lang)), order="append")
        # The canonical URL is stable across restarts and re-renders (issue #2 item 6);
        # like every string, it must be XML-safe, or one page would break the feed.
        url = xml_safe(article.url)
        fe.id(url)
        fe.title(xml_safe(article.title) or url)
        fe.link(href=url, rel="alternate", type="text/html")
        fe.published(_aware(article.published))
        fe.updated(entry_updated(article))
        if article.author:
            fe.author({"name": xml_safe(article.author)})
        summary = xml_safe(article.summary) if article.summary else None
        content = xml_safe(article.content_html)
        size = xml_text_bytes(content) + (xml_text_bytes(summary) if summary else 0)
        if size <= room:
            room -= size
            if summary is not None:
                fe.summary(summary)
            fe.content(content, type="html")
        else:
            # No room left for this story. An entry without content must have an
            # alternate link (RFC 4287 §4.1.2), which it has; its summary, "a short
            # summary, abstract, or excerpt of an entry" (§4.2.13), gives the reader the
            # story's start and that link again.
            fe.summary(feed_excerpt(content, url, summary), type="html")
            excerpted += 1
    body: bytes = fg.atom_str(pretty=False)
    etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    # mtime=0 keeps the gzip bytes deterministic for the same body.
    gz = gzip.compress(body, compresslevel=6, mtime=0)
    etag_gzip = etag[:-1] + '-gzip"'
    last_modified = modified or updated
    http_date = last_modified.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    common = {"Last-Modified": http_date, "Vary": "Accept-Encoding",
              "Cache-Control": "public, max-age=60"}
    plain_304 = {**common, "ETag": etag}
    gzip_304 = {**common, "ETag": etag_gzip}
    return RenderedFeed(
        body=body,
        gzipped=gz,
        etag=etag,
        etag_gzip=etag_gzip,
        last_modified=last_modified,
        entries=len(articles),
        excerpted=excerpted,
        headers={**plain_304, **NOSNIFF, "Content-Type": ATOM_CONTENT_TYPE},
        headers_gzip={**gzip_304, **NOSNIFF, "Content-Type": ATOM_CONTENT_TYPE,
                      "Content-Encoding": "gzip"},
        headers_304=plain_304,
        headers_304_gzip=gzip_304,
    )
