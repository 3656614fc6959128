"""How much of what an origin says feedsvc keeps: the size of each part of an entry.

Every entry is stored (in Redis, in each replica's memory) and sent in its topic's feed
to every reader, so an origin that gives a 2 MB title, a 2 MB byline or a 20 MB story
must not have it kept as it is. The bounds sit far above what real pages have (the
Mozilla Readability corpus, 130 pages: longest title 111 characters, byline 88; story
HTML as feedsvc extracts it under 100 KB for every news story, 564 KB for a whole
Wikipedia article) and are fixed, not configured: no feed reader wants more, and nothing
is lost to a reader, who gets the start of an over-long story and a link to all of it.

A whole feed is bounded too: MAX_STORY_BYTES times max_entries would be 50 MB a request
from an origin whose every story is at the cap. Its stories share MAX_FEED_STORY_BYTES;
the newest entries keep theirs whole, and an entry whose story no longer fits carries a
short excerpt and a link to its page instead (:func:`feed_excerpt`).
"""

from __future__ import annotations

import html
from dataclasses import replace

from feedsvc.models import Article

# Entry title and author (characters): trimmed on a word boundary, with an ellipsis.
MAX_TITLE = 300
MAX_AUTHOR = 200
# A wire dateline ("Brussels (AFP) Feb 16, 2017") is a few dozen characters.
MAX_DATELINE = 200
# URLs (characters): longer ones are not article links, canonical URLs or lead images.
# 2,048 is the sitemaps protocol's limit and what every browser and CDN accepts; a URL
# is a store key, a sorted-set member, an entry id and part of every error message.
MAX_URL = 2048
# The story's HTML (UTF-8 bytes): a longer one is cut, as valid HTML, and ends with a
# note linking the original page.
MAX_STORY_BYTES = 1_000_000
# Room kept below MAX_STORY_BYTES, besides the note, for the end tags a cut closes.
_END_TAGS_ROOM = 4096

# The stories of one feed (UTF-8 bytes, as the feed's XML carries them, escaped). A feed
# reader refuses or times out on a feed far below the 50 MB that max_entries stories at
# MAX_STORY_BYTES make: CommaFeed stops at 5 MiB, goread at 2 MiB, theoldreader refused a
# 7 MB one. Real feeds stay below it: 50 stories drawn from the 130 pages of the Mozilla
# Readability corpus, as feedsvc extracts and renders them, take 1.23 MB (median), 2.69 MB
# (99th percentile) and 3.2 MB (99.9th) of a feed; its 50 longest pages but Wikipedia's take
# 2.1 MB. So a real feed is rendered as before, and one from a bloated or hostile origin
# stays under 5 MiB with its entries' titles, links and excerpts.
MAX_FEED_STORY_BYTES = 4_000_000
# The excerpt an entry carries instead of a story that does not fit (characters): about a
# WordPress excerpt's 55 words.
MAX_EXCERPT = 400
# How much of a story is parsed for that excerpt (characters of its HTML): ample for 400
# characters of text in any real story, and parsing a whole 1 MB one would not be.
_EXCERPT_HTML = 32_768
# Elements whose start and end separate words in the excerpt ("<p>a</p><p>b</p>" is
# "a b", not "ab").
_BREAKS = frozenset({
    "address", "article", "aside", "blockquote", "br", "caption", "dd", "details", "div",
    "dl", "dt", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hr", "img", "li", "main", "ol", "p", "pre", "section", "summary", "table",
    "td", "th", "tr", "ul",
})

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


def bounded_article(article: Article) -> Article:
    """``article`` with its title, author and dateline trimmed, and a lead image URL too
    long to be one dropped. (The story is cut where it is extracted: see
    :func:`cut_story`.)"""
    bounded = replace(
        article,
        title=trim_text(article.title, MAX_TITLE),
        author=trim_text(article.author, MAX_AUTHOR) if article.author else article.author,
        dateline=trim_text(article.dateline, MAX_DATELINE) if article.dateline
        else article.dateline,
        lead_image=None if long_url(article.lead_image) else article.lead_image,
    )
    return article if bounded == article else bounded


_NOTE_START = "<p><em>This story is too long to be carried here in full: "


def story_note(url: str) -> str:
    """The paragraph ending a story cut for its size."""
    return (_NOTE_START +
            f'<a href="{html.escape(url, quote=True)}" rel="noopener noreferrer nofollow">'
            "read all of it on its page</a>."
            "</em></p>")


def relink_note(content_html: str, url: str) -> str:
    """``content_html``, a story ending with :func:`story_note` (cut, or pages joined up
    to the limit), with its note linking ``url`` instead, and at most MAX_STORY_BYTES
    still: a longer note has the story cut again, shorter (a parse of up to 1 MB, as
    :func:`cut_story`: off the event loop)."""
    start = content_html.rfind(_NOTE_START)  # the last: the page's own text may quote it
    story = content_html[:start] if start >= 0 else content_html
    relinked = story + story_note(url)
    if story_bytes(relinked) <= MAX_STORY_BYTES:
        return relinked
    # the story alone is within the limit: cut it to one byte less, which has room for
    # the note as any cut does
    cut = cut_story(story, url, limit=story_bytes(story) - 1)
    assert cut is not None
    return cut


def story_bytes(content_html: str) -> int:
    return len(content_html.encode("utf-8", "surrogatepass"))


def cut_story(content_html: str, url: str, *, limit: int = MAX_STORY_BYTES) -> str | None:
    """``content_html`` (sanitized HTML) cut to at most ``limit`` UTF-8 bytes, or None when
    it is that short already.

    The cut falls between tags (never inside a tag or an entity), at a space when it is in
    text; the sanitizer then parses what is kept as HTML, which closes every element the
    cut left open, so the result is whole, valid, sanitized HTML. It ends with
    :func:`story_note` linking ``url``. Linear in the story's size (one parse of the part
    kept): it runs in the extraction worker, on stories of any size the body cap lets
    through."""
    if story_bytes(content_html) <= limit:
        return None
    note = story_note(url)
    # Room for the note, however long its URL (escaped: "&" takes 5 bytes) makes it: a
    # fixed room under a longer note only ever shrank the limit, never the overflow,
    # and left the note alone.
    budget = max(limit - _END_TAGS_ROOM - story_bytes(note), 0)
    while True:
        cut = _head(content_html, budget) + note
        over = story_bytes(cut) - limit
        if over <= 0 or budget == 0:
            return cut
        budget = max(budget - over - 1, 0)  # end tags of a deeply nested cut: keep less


def _head(content_html: str, budget: int) -> str:
    """The start of ``content_html`` within ``budget`` bytes, cut between elements (or
    on a space), every element it leaves open closed."""
    from feedsvc.extract.clean import sanitize

    head = content_html.encode("utf-8", "surrogatepass")[:budget].decode("utf-8", "ignore")
    tag_start, tag_end = head.rfind("<"), head.rfind(">")
    if tag_start > tag_end:
        head = head[:tag_start]  # inside a tag
    else:
        amp = head.rfind("&")
        if amp > tag_end and head.find(";", amp) < 0:
            head = head[:amp]  # inside an entity
        space = max(head.rfind(" "), head.rfind("\n"))
        if space > tag_end:
            head = head[:space]  # inside a word
    # A cut inside an attribute holding "<" or ">" can leave a broken tag: the sanitizer
    # drops it, so what is kept can only be shorter, never unsafe.
    return sanitize(head)


def xml_text_bytes(text: str) -> int:
    """The UTF-8 bytes ``text`` takes as XML character data, as lxml writes it: ``&``,
    ``<`` and ``>`` escaped as entities, a carriage return as ``&#13;``."""
    return (story_bytes(text) + 4 * text.count("&") + 3 * (text.count("<") + text.count(">"))
            + 4 * text.count("\r"))


def story_excerpt(content_html: str, limit: int = MAX_EXCERPT) -> str:
    """The start of a story's text, at most ``limit`` characters (trimmed as
    :func:`trim_text` does), whitespace collapsed; empty for a story without text."""
    import lxml.html
    from lxml import etree

    head = content_html[:_EXCERPT_HTML]
    if not head.strip():
        return ""
    try:
        root = lxml.html.fragment_fromstring(head, create_parent="div")
    except (etree.LxmlError, ValueError):  # nothing but a broken tag, say
        return ""
    for el in root.iter():
        if el.tag in _BREAKS:
            el.text = " " + (el.text or "")
            el.tail = " " + (el.tail or "")
    return trim_text(" ".join(root.text_content().split()), limit)


def feed_note(url: str) -> str:
    """The paragraph ending the excerpt of a story its feed had no room for."""
    return ('<p><em>This feed has no room for the whole story: '
            f'<a href="{html.escape(url, quote=True)}" rel="noopener noreferrer nofollow">'
            "read it on its page</a>."
            "</em></p>")


def feed_excerpt(content_html: str, url: str, summary: str | None = None) -> str:
    """What an entry whose story does not fit in its feed carries instead, as HTML: the
    start of its text (of ``summary``, when the entry has one) and :func:`feed_note`
    linking ``url``: MAX_EXCERPT characters of text and the note, whatever the story."""
    text = trim_text(" ".join(summary.split()), MAX_EXCERPT) if summary \
        else story_excerpt(content_html)
    lead = f"<p>{html.escape(text, quote=False)}</p>" if text else ""
    return lead + feed_note(url)
