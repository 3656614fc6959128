"""How much of what an origin says feedsvc keeps: the size of each part of an entry.

Every entry is stored (in Redis, in each replica's memory) and sent in its topic's feed
to every reader, so an origin that gives a 2 MB title, a 2 MB byline or a 20 MB story
must not have it kept as it is. The bounds sit far above what real pages have (the
Mozilla Readability corpus, 130 pages: longest title 111 characters, byline 88, story
564 KB of HTML for a whole Wikipedia article, 92 KB for the longest news story) and are
fixed, not configured: no feed reader wants more, and nothing is lost to a reader, who
gets the start of an over-long story and a link to all of it.
"""

from __future__ import annotations

from dataclasses import replace

from feedsvc.models import Article, LinkHint

# Entry title and author (characters): trimmed on a word boundary, with an ellipsis.
MAX_TITLE = 300
MAX_AUTHOR = 200
# A wire dateline ("Brussels (AFP) Feb 16, 2017") is a few dozen characters.
MAX_DATELINE = 200
# URLs (characters): longer ones are not article links, canonical URLs or lead images.
# 2,048 is the sitemaps protocol's limit and what every browser and CDN accepts; a URL
# is a store key, a sorted-set member, an entry id and part of every error message.
MAX_URL = 2048

ELLIPSIS = "\u2026"


def trim_text(text: str, limit: int) -> str:
    """``text`` if it has at most ``limit`` characters, else its start, cut at the last
    space within the limit (unless that loses more than a third of it: a text without
    spaces is cut where it must be) and ending with an ellipsis, ``limit`` characters in
    all."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    space = head.rfind(" ")
    if space >= (limit * 2) // 3:
        head = head[:space]
    return head.rstrip(" ,;:.-\u2013\u2014") + ELLIPSIS


def long_url(url: str | None) -> bool:
    """Whether ``url`` is too long to be an article's link or id."""
    return url is not None and len(url) > MAX_URL


def bounded_hint(hint: LinkHint) -> LinkHint:
    """``hint`` with its title and author (what a feed or index said) trimmed."""
    title = trim_text(hint.title, MAX_TITLE) if hint.title else hint.title
    author = trim_text(hint.author, MAX_AUTHOR) if hint.author else hint.author
    if title is hint.title and author is hint.author:
        return hint
    return replace(hint, title=title, author=author)


def bounded_article(article: Article) -> Article:
    """``article`` with its title, author and dateline trimmed, and a lead image URL too
    long to be one dropped."""
    bounded = replace(
        article,
        title=trim_text(article.title, MAX_TITLE),
        author=trim_text(article.author, MAX_AUTHOR) if article.author else article.author,
        dateline=trim_text(article.dateline, MAX_DATELINE) if article.dateline
        else article.dateline,
        lead_image=None if long_url(article.lead_image) else article.lead_image,
    )
    return article if bounded == article else bounded
