"""Sanitizing and text (issue #4 items 5 and 6): lazy images resolved, tracking pixels
dropped, URLs absolute, an nh3 allow-list, XML-safe text, and the story fingerprint.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import urljoin

import nh3
from lxml import etree
from lxml import html as lhtml

from ..xmltext import xml_safe

_LAZY_SRC = ("data-src", "data-lazy-src", "data-original", "data-lazy", "data-url",
             "data-hi-res-src", "data-full-src")
_LAZY_SRCSET = ("data-srcset", "data-lazy-srcset")
_PLACEHOLDER = re.compile(r"^(?:data:|about:blank)|(?:blank|spacer|placeholder|pixel|transparent|"
                          r"lazy|loading|grey|gray)[^/]*\.(?:gif|png|svg)$", re.I)
# Tracking images: known collectors' hosts, or a path part that is exactly such a word
# ("/pixel.gif", "/tracking/open.gif"), never the word inside a name
# ("google-pixel-9-review.jpg", "eye-tracking-study.png" are story images).
_TRACKER = re.compile(r"(?:doubleclick\.net|google-analytics\.com|scorecardresearch\.com|"
                      r"quantserve\.com|facebook\.com/tr\b|feedburner|"
                      r"[/.](?:pixel|beacon|tracking|tracker|analytics)(?:[./?_]|$)|"
                      r"/[bt]\.gif|/1x1\.|/count(?:er)?\?|/ping\?)", re.I)
# A srcset candidate (WHATWG HTML, "parse a srcset attribute"): a URL (no whitespace; a
# trailing comma ends it) and descriptors up to the next comma. URLs may hold commas.
_SRCSET_CANDIDATE = re.compile(r"[\s,]*([^\s,][^\s]*?)(,+(?=\s|$)|,*\s+([^,]*)(?:,|$)|,*$)")
_IMAGE_DATA = re.compile(r"^data:image/(?:png|gif|jpe?g|webp|avif);base64,", re.I)
# What a cite or srcset URL may be once made absolute: web URLs only.
_SAFE_URL = re.compile(r"^\s*https?://", re.I)

ALLOWED_TAGS = {
    "a", "abbr", "acronym", "address", "b", "bdi", "bdo", "blockquote", "br", "caption", "cite",
    "code", "col", "colgroup", "dd", "del", "details", "dfn", "div", "dl", "dt", "em",
    "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd",
    "li", "mark", "ol", "p", "picture", "pre", "q", "s", "samp", "section", "small", "source",
    "span", "strike", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th",
    "thead", "time", "tr", "tt", "u", "ul", "var", "wbr", "article", "aside", "header",
    "footer", "main", "audio", "video", "track",
    # MathML presentation elements: formulas are story text (e.g. scientific articles).
    "math", "mi", "mn", "mo", "ms", "mtext", "mrow", "msup", "msub", "msubsup", "mfrac",
    "msqrt", "mroot", "mover", "munder", "munderover", "mtable", "mtr", "mtd", "mspace",
    "semantics", "annotation", "mstyle", "mpadded", "mphantom", "menclose",
}
ALLOWED_ATTRIBUTES = {
    "*": {"title", "lang", "dir"},
    "a": {"href", "hreflang"},
    "img": {"src", "srcset", "alt", "width", "height", "sizes"},
    "source": {"src", "srcset", "type", "media", "sizes"},
    "video": {"src", "poster", "controls", "width", "height"},
    "audio": {"src", "controls"},
    "track": {"src", "kind", "srclang", "label"},
    "td": {"colspan", "rowspan", "headers"},
    "th": {"colspan", "rowspan", "headers", "scope"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "del": {"cite", "datetime"},
    "ins": {"cite", "datetime"},
    "time": {"datetime"},
    "ol": {"start", "reversed", "type"},
    "li": {"value"},
    "abbr": {"title"},
}


# Attributes holding a URL, and what a browser ignores in one (WHATWG URL: tab and
# newline anywhere, C0 controls and space at either end). "java\tscript:" is javascript:.
_URL_ATTRIBUTES = frozenset({"href", "src", "cite", "srcset", "poster"})
_URL_IGNORED = re.compile(r"[\t\n\r]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    if attr in _URL_ATTRIBUTES:
        # Checked as a browser reads it. Any other control character drops the URL: no
        # page links with one, and the XML output must drop it, which could join
        # "java\x01script:" (a relative link to nh3) into "javascript:" (security review).
        value = _URL_IGNORED.sub("", value).strip("\x00- ")
        if _CONTROL.search(value):
            return None
    # nh3's url_schemes apply to href/src but not to cite or srcset, which hold URLs too:
    # no javascript: (or any other active scheme) there either.
    if attr == "cite" and not _SAFE_URL.match(value):
        return None
    if attr == "srcset":
        kept = [c for c in value.split(", ") if _SAFE_URL.match(c)]
        return ", ".join(kept) or None
    # data: is allowed only as an image (issue #4 item 5), and never for links.
    if value.lower().lstrip().startswith("data:"):
        return value if tag == "img" and attr == "src" and _IMAGE_DATA.match(value) else None
    return value


def sanitize(content: str) -> str:
    """The allow-list sanitizer every entry's HTML passes (issue #4 item 5)."""
    return xml_safe(nh3.clean(
        content,
        tags=ALLOWED_TAGS,
        clean_content_tags={"script", "style", "template", "textarea", "select", "noscript",
                            "iframe", "object", "embed", "svg", "title"},
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "data"},
        attribute_filter=_attribute_filter,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    ))


def resolve_lazy_images(root: lhtml.HtmlElement) -> int:
    """Give lazy images their real ``src``/``srcset`` (data-src, noscript fallbacks)."""
    count = 0
    for noscript in list(root.iter("noscript")):
        imgs = list(noscript.iter("img"))
        if not imgs:
            continue
        if len(imgs) == 1 and noscript.getparent() is not None:
            prev = noscript.getprevious()
            if prev is not None and prev.tag != "img":
                inner = list(prev.iter("img"))
                prev = inner[-1] if len(inner) == 1 else None
            if prev is not None and prev.tag == "img":
                fallback = imgs[0]
                fallback.tail = prev.tail  # the text after the image is story text
                prev.getparent().replace(prev, fallback)
                noscript.drop_tree()
                count += 1
                continue
        # A fallback with no scripted twin: show its content.
        noscript.drop_tag()
        count += 1
    for img in root.iter("img"):
        src = (img.get("src") or "").strip()
        for attr in _LAZY_SRC:
            lazy = (img.get(attr) or "").strip()
            if lazy and (not src or _PLACEHOLDER.search(src)):
                img.set("src", lazy)
                count += 1
                break
        for attr in _LAZY_SRCSET:
            lazy = (img.get(attr) or "").strip()
            if lazy and not img.get("srcset"):
                img.set("srcset", lazy)
                break
    return count


def _dimension(value: str | None) -> int | None:
    m = re.match(r"\s*(\d+)", value or "")
    return int(m.group(1)) if m else None


def absolute_srcset(srcset: str, base_url: str) -> str:
    """``srcset`` with every candidate URL made absolute (descriptors kept)."""
    out = []
    for m in _SRCSET_CANDIDATE.finditer(srcset):
        url = m.group(1).rstrip(",")
        if not url:
            continue
        descriptors = " ".join((m.group(3) or "").split())
        out.append(" ".join(filter(None, [urljoin(base_url, url), descriptors])))
    return ", ".join(out)


def finish_tree(node: lhtml.HtmlElement, base_url: str) -> None:
    """Drop tracking pixels, make ``srcset`` absolute, split ``<br><br>`` runs into paragraphs."""
    for img in list(node.iter("img")):
        src = (img.get("src") or "").strip()
        w, h = _dimension(img.get("width")), _dimension(img.get("height"))
        sized = w is not None and h is not None and w > 1 and h > 1  # declared, visible
        if not src or (w is not None and w <= 1) or (h is not None and h <= 1) or \
                (not sized and _TRACKER.search(src)):
            img.drop_tree()
            continue
        img.set("src", urljoin(base_url, src))
    for el in node.iter("img", "source"):
        if el.get("srcset"):
            el.set("srcset", absolute_srcset(el.get("srcset"), base_url))
    for video in node.iter("video"):  # lxml's make_links_absolute does not know poster
        if video.get("poster"):
            video.set("poster", urljoin(base_url, video.get("poster").strip()))
    _split_br_paragraphs(node)
    for p in list(node.iter("p")):
        if not (p.text or "").strip() and len(p) == 0:
            p.drop_tag()


_INLINE = frozenset({"a", "b", "i", "em", "strong", "span", "font", "u", "small", "sub", "sup",
                     "code", "cite", "abbr", "q", "s", "strike", "tt", "mark", "time", "img"})


def _split_br_paragraphs(node: lhtml.HtmlElement) -> None:
    """Turn text separated by ``<br><br>`` (table-era layouts) into ``<p>`` blocks, so each
    paragraph is its own block in the feed entry and in the visible text."""
    for el in list(node.iter("td", "div", "font", "blockquote", "section", "article")):
        children = list(el)
        brs = [c for c in children if c.tag == "br"]
        if len(brs) < 2 or any(c.tag not in _INLINE and c.tag != "br" for c in children
                               if isinstance(c.tag, str)):
            continue
        # Only when there is a double break somewhere.
        double = any(c.tag == "br" and not (c.tail or "").strip() and c.getnext() is not None
                     and c.getnext().tag == "br" for c in children)
        if not double:
            continue
        groups: list[list[lhtml.HtmlElement | str]] = [[]]
        if el.text and el.text.strip():
            groups[-1].append(el.text)
        for c in children:
            tail = c.tail
            c.tail = None
            if c.tag == "br":
                groups.append([])
            else:
                groups[-1].append(c)
            # A space between two inline elements ("<b>prime</b> <i>minister</i>") is
            # text; only whitespace opening a paragraph is dropped.
            if tail and (tail.strip() or groups[-1]):
                groups[-1].append(tail)
        el.text = None
        for c in children:
            el.remove(c)
        for group in groups:
            if not group:
                continue
            p = lhtml.Element("p")
            last: lhtml.HtmlElement | None = None
            for item in group:
                if isinstance(item, str):
                    if last is None:
                        p.text = (p.text or "") + item
                    else:
                        last.tail = (last.tail or "") + item
                else:
                    p.append(item)
                    last = item
            el.append(p)


_BLOCKS = frozenset({
    "p", "div", "br", "td", "th", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table",
    "section", "article", "header", "footer", "blockquote", "dd", "dt", "ul", "ol", "hr",
    "aside", "main", "pre", "figure", "figcaption", "address", "caption", "details", "summary",
    "mi", "mn", "mo", "mtext", "mtd",
})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
# A line without these has only single plain spaces for ``_SPACES`` to rewrite.
_ODD_SPACING = ("\t", "\r", "\f", "\v", "\u00a0", "  ")


def visible_text(content_html: str) -> str:
    """The text a reader sees in ``content_html``: one line per block."""
    if not content_html.strip():
        return ""
    try:
        frag = lhtml.fragment_fromstring(content_html, create_parent="div")
    except (etree.ParserError, ValueError):
        return ""
    parts: list[str] = []
    for event, el in etree.iterwalk(frag, events=("start", "end")):
        tag = el.tag if isinstance(el.tag, str) else ""
        if event == "start":
            if tag in _BLOCKS:
                parts.append("\n")
            if el.text and tag:
                parts.append(el.text)
        else:
            if tag in _BLOCKS:
                parts.append("\n")
            if el.tail:
                parts.append(el.tail)
    # Same result as ``_NEWLINES.sub("\n", _SPACES.sub(" ", text)).strip()``, ten times
    # faster (issue #3: cold-crawl CPU): ``_SPACES`` runs never cross a newline, so it can
    # work line by line and skip the lines where every run is one plain space; a blank run
    # holding a newline becomes one newline, which is stripping each line and dropping
    # the empty ones.
    lines = []
    for line in "".join(parts).split("\n"):
        if any(c in line for c in _ODD_SPACING):
            line = _SPACES.sub(" ", line)
        line = line.strip()
        if line:
            lines.append(line)
    return xml_safe("\n".join(lines))


_WORDS = re.compile(r"\w+")
# Non-word characters (for ``_WORDS``) that become spaces before ``str.split``: all of
# ASCII but letters, digits, ``_`` and the line breaks ``str.splitlines`` splits on, and
# the punctuation of news text (curly quotes, dashes, ellipsis, guillemets, bullets).
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_NON_WORD = {
    ord(c): " " for c in [*map(chr, range(128)), *"\u2018\u2019\u201a\u201c\u201d\u201e"
                          "\u2010\u2011\u2013\u2014\u2015\u2026\u2032\u2033\u00ab\u00bb"
                          "\u2022\u00b7\u00a0\u00b0\u20ac\u00a3\u00a9\u00ae\u2122"]
    if c not in _LINE_BREAKS and not _WORDS.fullmatch(c)
}


def fingerprint(text: str) -> str:
    """Fingerprint of the normalized story text: case, punctuation and whitespace do not
    count, so the same wire story on two sites gives the same value (issue #4 item 6).

    Only sentence-length lines count: each site of a network frames the same story with
    its own short lines (section label, byline, dateline, "Previous report" teasers).
    """
    normalized = unicodedata.normalize("NFKC", text).casefold()
    # The tokens are ``_WORDS.findall(line)``; ``str.split`` finds them 5x faster once the
    # non-word characters are spaces (issue #3: cold-crawl CPU), which ``_NON_WORD`` does
    # for ASCII and common punctuation; a line with other non-ASCII characters (letters
    # or not) keeps the regex.
    lines = [line.split() if line.isascii() else _WORDS.findall(line)
             for line in normalized.translate(_NON_WORD).splitlines()]
    body = [tokens for tokens in lines if len(tokens) >= _FINGERPRINT_MIN_WORDS]
    tokens = [t for line in (body or lines) for t in line]
    return hashlib.blake2b(" ".join(tokens).encode("utf-8"), digest_size=16).hexdigest()


# Lines shorter than this (labels, bylines, datelines) are left out of the fingerprint.
_FINGERPRINT_MIN_WORDS = 8
