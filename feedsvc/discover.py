"""The discover stage: an index page or a partial feed -> article links (issue #2, item 3).

Both functions are plain, synchronous and module-level with picklable arguments: the
pipeline runs them in the process pool (issue #3, item 2). Both raise
:class:`~feedsvc.errors.DiscoverError` for input they cannot read; nothing from lxml,
cssselect or feedparser leaks.

Index pages, what is kept (in order of first appearance, de-duplicated):

* always: ``<a href>`` resolved against the page (and its ``<base href>``), fragment
  stripped; only http(s); none whose canonical form (its entry's id) is longer than
  ``feedsvc.limits.MAX_URL`` (see ``_link_url``); only the page's
  own site (host compared without a leading ``www.``) or a host in ``allow_hosts``;
  never the index page itself; only URLs the ``follow`` regex finds (``re.search`` on
  the absolute URL), when given.
* ``links`` (a CSS selector) picks the anchors; a selected element that is not an
  ``<a>`` contributes the anchors inside it. With a selector the user has said what
  an article link is, so nothing else is second-guessed.
* without ``links``, navigation is dropped by a deliberately small heuristic:
  links inside ``nav``/``aside``, the page's own ``header``/``footer`` (not an
  article's, as HTML-AAM maps them), an ARIA navigation/banner/contentinfo/
  complementary role, or an element whose class/id reads ``leftnav``, ``menu``,
  ``sidebar``, ``breadcrumbs``, ``pagination``...; the walk up from the link stops
  at the first ``<article>`` or ``<main>``, whose links are content, and at ``<body>``, whose
  classes describe the page's layout. Also dropped: the site root,
  common non-article sections (``/tag/``, ``/author/``, ``/about``, ``/rss``,
  ``/page/2``...) and links to images, PDFs, scripts and other files.

Feeds are parsed with feedparser (RSS 0.9x/1.0/2.0, Atom; not JSON Feed); each item's
title, date (UTC, tz-aware) and author become the link's hints (links as long as an
index's are skipped; titles and authors, of index links too, bounded as an entry's are). A feed with parse
errors ("bozo") is accepted as long as it yielded entries.
"""

from __future__ import annotations

import calendar
import collections
import contextlib
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit, urlunsplit

import cssselect
import feedparser
import lxml.html
from lxml import etree

from feedsvc.budget import OverBudget, within
from feedsvc.errors import DiscoverError
from feedsvc.extract.charset import decode_html
from feedsvc.extract.urls import canonical_url, site_of_host
from feedsvc.limits import MAX_AUTHOR, MAX_TITLE, long_url, trim_text
from feedsvc.models import LinkHint
from feedsvc.redact import without_userinfo

# -- index pages ----------------------------------------------------------------------

_LANDMARK_TAGS = frozenset({"nav", "aside", "menu"})
_PAGE_BANDS = frozenset({"header", "footer"})
_CONTENT_TAGS = frozenset({"article", "main"})
# HTML-AAM: <header>/<footer> are the page's banner/contentinfo only when not inside
# one of these; an article's own <header> holds its headline, not navigation.
_SECTIONING = frozenset({"article", "aside", "main", "nav", "section"})
_NAV_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "menu", "menubar"})
_NAV_WORDS = frozenset(
    {
        "menu",
        "mainmenu",
        "menubar",
        "footer",
        "sidebar",
        "breadcrumb",
        "breadcrumbs",
        "pagination",
        "pager",
    }
)
# "nav", "leftnav", "topnav", "navbar", "navigation", but not "canvas" or "navy".
_NAV_WORD = re.compile(r"[a-z]{0,8}nav(?:bar|igation|links?|menu)?")
_WORD_SPLIT = re.compile(r"[\s_-]+")

# Path segments naming listings and site pages rather than stories.
_NON_ARTICLE_SEGMENTS = frozenset(
    {
        "tag",
        "tags",
        "category",
        "categories",
        "author",
        "authors",
        "search",
        "login",
        "signin",
        "logout",
        "register",
        "signup",
        "subscribe",
        "account",
        "about",
        "about-us",
        "contact",
        "contact-us",
        "privacy",
        "privacy-policy",
        "terms",
        "terms-of-service",
        "terms-of-use",
        "cookies",
        "advertise",
        "advertising",
        "rss",
        "feed",
        "feeds",
        "atom",
        "newsletter",
        "newsletters",
        "sitemap",
    }
)
_PAGINATION = re.compile(r"/page/\d+/?$")
_FILE_EXTENSIONS = frozenset(
    {
        "jpg", "jpeg", "png", "gif", "webp", "svg", "ico", "bmp", "tif", "tiff",
        "pdf", "zip", "gz", "tgz", "rar", "7z", "exe", "dmg",
        "mp3", "mp4", "m4a", "ogg", "wav", "avi", "mov", "webm",
        "css", "js", "json", "xml", "rss", "atom", "txt",
        "doc", "docx", "xls", "xlsx", "ppt", "pptx", "epub",
    }
)  # fmt: skip


def _strip_fragment(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(fragment=""))


def _link_url(parts: SplitResult) -> str | None:
    """A found link as it is fetched and stored: without fragment or credentials. A
    ``user:pass@`` in a page's or feed's link is not the config's: the Fetcher would
    remember it for the link's origin and send it with every later request there,
    configured sources included, and keep one such origin more per link, forever.

    None for a link too long to be an article's (feedsvc.limits.MAX_URL), judged by its
    canonical form, the entry's id and store key it would become: percent-encoding makes
    that longer than the link as written, dropped tracking parameters shorter. A link
    over the limit as written but not in that form is fetched in it: only what selects
    no content was dropped, and no URL over the limit is fetched or kept."""
    url = without_userinfo(urlunsplit(parts._replace(fragment="")))
    canonical = canonical_url(url)
    if long_url(canonical):
        return None
    return canonical if long_url(url) else url


def _words(el: Any) -> Iterator[str]:
    for attr in ("class", "id"):
        value = el.get(attr)
        if value:
            yield from _WORD_SPLIT.split(value.lower())


def _in_navigation(anchor: Any) -> bool:
    """True if the nearest landmark around ``anchor`` is navigation, not content."""
    for el in anchor.iterancestors():
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag in ("body", "html"):
            # Their classes describe the whole page's layout ("no-sidebar",
            # "nav-closed"), not where the link sits.
            return False
        if tag in _CONTENT_TAGS:
            return False
        if tag in _LANDMARK_TAGS or (el.get("role") or "").lower() in _NAV_ROLES:
            return True
        if tag in _PAGE_BANDS and not any(a.tag in _SECTIONING for a in el.iterancestors()):
            return True
        if any(w in _NAV_WORDS or _NAV_WORD.fullmatch(w) for w in _words(el)):
            return True
    return False


def _non_article_path(path: str) -> bool:
    lowered = path.lower()
    if lowered in ("", "/") or _PAGINATION.search(lowered):
        return True
    segments = [s for s in lowered.split("/") if s]
    last = segments[-1] if segments else ""
    if "." in last and last.rsplit(".", 1)[1] in _FILE_EXTENSIONS:
        return True
    return any(s.split(".", 1)[0] in _NON_ARTICLE_SEGMENTS for s in segments)


def _anchors(doc: Any, selector: str | None) -> Iterable[Any]:
    if selector is None:
        every: Iterable[Any] = doc.iter("a")
        return every
    found: list[Any] = []
    for el in doc.cssselect(selector):
        if el.tag == "a":
            found.append(el)
        else:
            found.extend(el.iter("a"))
    return found


def _link_text(anchor: Any) -> str | None:
    text = " ".join(anchor.text_content().split())
    if not text:
        text = " ".join((anchor.get("title") or "").split())
    return trim_text(text, MAX_TITLE) or None


def _parse_html(body: bytes, page_url: str, content_type: str | None) -> Any:
    if not body.strip():
        raise DiscoverError(f"{page_url}: empty page")
    # Charset from the Content-Type header, else BOM/<meta>, else detection; bytes
    # that are invalid for the charset become U+FFFD instead of failing the page.
    text, _source = decode_html(body, {"Content-Type": content_type} if content_type else None)
    try:
        return lxml.html.document_fromstring(text)
    except (etree.LxmlError, ValueError) as exc:
        raise DiscoverError(f"{page_url}: not a readable HTML page: {exc}") from None


def discover_index(
    body: bytes,
    page_url: str,
    content_type: str | None,
    *,
    links: str | None,
    follow: str | None,
    allow_hosts: Sequence[str] = (),
    limit: int = 100,
    time_budget: float | None = None,
) -> list[LinkHint]:
    """Article links on an index page, absolute and de-duplicated, link text as title.

    See the module docstring for what is kept. At most ``limit`` links are returned.
    Parsing longer than ``time_budget`` seconds raises :class:`DiscoverError`.
    """
    with _budget(page_url, time_budget):
        return _index_links(body, page_url, content_type, links=links, follow=follow,
                            allow_hosts=allow_hosts, limit=limit)


@contextlib.contextmanager
def _budget(url: str, seconds: float | None) -> Iterator[None]:
    try:
        with within(seconds):
            yield
    except OverBudget:
        raise DiscoverError(f"{url}: parsing took longer than {seconds:g} s") from None


def _index_links(
    body: bytes, page_url: str, content_type: str | None, *, links: str | None,
    follow: str | None, allow_hosts: Sequence[str], limit: int,
) -> list[LinkHint]:
    doc = _parse_html(body, page_url, content_type)
    base = page_url
    for href in doc.xpath("//base/@href")[:1]:
        base = urljoin(page_url, str(href).strip())
    self_url = _strip_fragment(page_url)
    sites = {site_of_host(urlsplit(page_url).hostname)} | {site_of_host(h) for h in allow_hosts}
    pattern = re.compile(follow) if follow else None
    try:
        anchors = _anchors(doc, links)
    except (cssselect.SelectorError, etree.LxmlError) as exc:
        raise DiscoverError(f"{page_url}: bad link selector {links!r}: {exc}") from None

    titles: dict[str, str | None] = {}  # insertion order = first appearance
    for anchor in anchors:
        href = (anchor.get("href") or "").strip()
        if not href:
            continue
        try:
            parts = urlsplit(urljoin(base, href))
            host = parts.hostname
        except ValueError:  # e.g. an unclosed IPv6 bracket
            continue
        if parts.scheme not in ("http", "https") or not host:
            continue
        url = _link_url(parts)
        if url is None:
            continue  # see feedsvc.limits: a link of megabytes is no article's
        if url in titles:
            # An image link often precedes the headline link to the same story.
            if titles[url] is None:
                titles[url] = _link_text(anchor)
            continue
        if len(titles) >= limit or url == self_url or site_of_host(host) not in sites:
            continue
        if pattern is not None and not pattern.search(url):
            continue
        if links is None and (_non_article_path(parts.path) or _in_navigation(anchor)):
            continue
        titles[url] = _link_text(anchor)
    return [LinkHint(url=url, title=title) for url, title in titles.items()]


# -- feeds ------------------------------------------------------------------------------


def _entry_time(
    entry: Any, keys: tuple[str, ...] = ("published_parsed", "updated_parsed", "created_parsed")
) -> datetime | None:
    # feedparser normalises dates to UTC struct_time (RSS pubDate, dc:date, Atom).
    for key in keys:
        # dict.get, not entry.get: feedparser maps a missing updated_parsed to
        # published_parsed (with a DeprecationWarning), which is not an update date.
        value = dict.get(entry, key)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (TypeError, ValueError, OverflowError):
                continue
    return None


def _entry_author(entry: Any) -> str | None:
    detail = entry.get("author_detail") or {}
    name = detail.get("name") or entry.get("author")
    if not name:
        return None
    return trim_text(" ".join(str(name).split()), MAX_AUTHOR) or None


def _entry_title(entry: Any) -> str | None:
    title = entry.get("title")
    if not title:
        return None
    title = str(title)
    if "<" in title:  # Atom type="html" titles may carry markup
        with contextlib.suppress(etree.LxmlError, ValueError):
            title = lxml.html.fragment_fromstring(title, create_parent="div").text_content()
    return trim_text(" ".join(title.split()), MAX_TITLE) or None


def _entry_link(entry: Any) -> str | None:
    link = entry.get("link")
    if link:
        return str(link)
    for item in entry.get("links") or ():
        if item.get("rel", "alternate") == "alternate" and item.get("href"):
            return str(item["href"])
    guid = entry.get("id")
    if guid and str(guid).startswith(("http://", "https://")):
        return str(guid)
    return None


# A feed's items past the first ITEMS_PARSED_PER_LINK times the links a poll takes are
# not parsed: feedparser spends ~0.1 ms of CPU on each item, so a 5 MB feed of 50,000
# of them ran past the time budget at every poll, for the first hundred links. Ten items
# per link taken leaves room for items that the follow pattern or de-duplication drop.
ITEMS_PARSED_PER_LINK = 10
MIN_ITEMS_PARSED = 1000
# The end of an RSS item or Atom entry, with or without a namespace prefix.
_ITEM_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?(?:item|entry)\s*>", re.IGNORECASE)


def _first_items(body: bytes, keep: int) -> bytes:
    """``body`` without its items past the first ``keep``: what follows the last item
    (the channel's and the document's end tags) joins the ``keep``-th item's end, so the
    document stays well-formed. A body in which no item end can be found (UTF-16, say)
    is left as it is."""
    ends = _ITEM_END.finditer(body)
    cut = None
    for count, match in enumerate(ends, 1):
        if count == keep:
            cut = match.end()
            break
    if cut is None:
        return body
    last = collections.deque(ends, maxlen=1)
    if not last:  # exactly ``keep`` items
        return body
    return body[:cut] + body[last[0].end():]


def discover_feed(
    body: bytes,
    feed_url: str,
    content_type: str | None,
    *,
    follow: str | None,
    limit: int = 100,
    time_budget: float | None = None,
) -> list[LinkHint]:
    """Item links of an RSS/Atom feed, with each item's title, date and author as hints.

    Links are resolved against the feed URL, fragments stripped, de-duplicated and
    filtered by ``follow``; at most ``limit`` are returned, from the first
    ``ITEMS_PARSED_PER_LINK * limit`` items (at least ``MIN_ITEMS_PARSED``), the only
    ones parsed. A body that is not a feed,
    or that takes longer than ``time_budget`` seconds to parse, raises
    :class:`DiscoverError`; a malformed feed that still yields entries is used.
    """
    with _budget(feed_url, time_budget):
        return _feed_links(body, feed_url, content_type, follow=follow, limit=limit)


def _feed_links(
    body: bytes, feed_url: str, content_type: str | None, *, follow: str | None, limit: int,
) -> list[LinkHint]:
    if not body.strip():
        raise DiscoverError(f"{feed_url}: empty feed")
    headers = {"content-location": feed_url}
    if content_type:
        headers["content-type"] = content_type
    body = _first_items(body, max(limit * ITEMS_PARSED_PER_LINK, MIN_ITEMS_PARSED))
    try:
        # BytesIO, never the bytes themselves: given bytes, feedparser first tries
        # them as a local file name, so an origin answering "/etc/passwd" would make
        # it read that file.
        parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
    except Exception as exc:  # feedparser's failure modes are not a documented set
        raise DiscoverError(f"{feed_url}: feed parser failed: {exc}") from None
    entries = parsed.get("entries") or []
    if not entries and not parsed.get("version"):
        reason = parsed.get("bozo_exception")
        detail = f": {reason}" if reason else ""
        raise DiscoverError(f"{feed_url}: not an RSS or Atom feed{detail}")

    pattern = re.compile(follow) if follow else None
    hints: dict[str, LinkHint] = {}
    for entry in entries:
        link = _entry_link(entry)
        if not link:
            continue
        try:
            parts = urlsplit(urljoin(feed_url, link.strip()))
        except ValueError:
            continue
        if parts.scheme not in ("http", "https") or not parts.netloc:
            continue
        url = _link_url(parts)
        if url is None or url in hints or (pattern is not None and not pattern.search(url)):
            continue
        hints[url] = LinkHint(
            url=url,
            title=_entry_title(entry),
            published=_entry_time(entry),
            updated=_entry_time(entry, ("updated_parsed",)),
            author=_entry_author(entry),
        )
        if len(hints) >= limit:
            break
    return list(hints.values())
