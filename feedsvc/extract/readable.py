"""Story isolation: readability-lxml's candidate scoring, plus two general repairs
(issue #4 item 1): blocks beside the best candidate that readability drops although they
read like story text (inset reports, fact boxes) are recovered, and boilerplate that
readability keeps (comment prompts, share/related/donation blocks, copyright) is pruned.

The document is parsed once by the caller; readability works on that tree
(``Document._parse`` accepts an element, and its cleaner works on a deep copy).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from lxml import etree
from lxml import html as lhtml
from lxml.html import tostring
from readability import Document
from readability.readability import REGEXES

from .meta import BOX_TAGS, dateline_only, first_line, is_box, match_dateline, norm, split_byline

# Opening words of blocks that are site chrome, not story (issue #4: donation appeal,
# comment prompt, related links, "Previous Report" teaser, copyright line, share links).
BOILERPLATE_START = re.compile(
    r"^(?:comments?\s*(?:\(\d+\)\s*)?:?$|\d+ comments?$|comment on this|leave a (?:comment|reply)"
    r"|join the (?:conversation|discussion)"
    r"|share (?:this|on|via)|share\b.{0,20}$|related(?:\s+(?:links|articles|stories|posts|news|"
    r"content|coverage|reading|topics))?\s*:?$"
    r"|you (?:may|might) (?:also )?like|get (?:our|the) newsletter|follow us|thanks for (?:being "
    r"here|reading)|we need your help|become a (?:member|supporter)"
    r"|advertisement$|(?:copyright|\u00a9|\(c\))\s*(?:\d{4}|by\b)|all rights reserved"
    r"|this (?:site|website) uses cookies|we use cookies|by (?:using|continuing)[^.]{0,40}cookies"
    r"|accept (?:all )?cookies|privacy (?:policy|statement)|terms of (?:use|service)"
    r"|tags?\s*:|filed under|click here to)",
    re.I,
)
# Words that open chrome labels ("Previous Report", "Most popular", "Sponsored") but also
# story sentences ("Previous reports had said...", "Popular anger has grown."): chrome
# only when the block reads as a label, not as a sentence (see _reads_as_label).
BOILERPLATE_LABEL = re.compile(
    r"^(?:previous (?:report|article|story|post)|next (?:report|article|story|post)"
    r"|read more\b|more (?:stories|news|from|on this)|recommended\b|popular\b|trending\b"
    r"|most (?:read|popular)|sign up\b|subscribe\b|newsletter|support (?:us|our)|donate\b"
    r"|sponsored\b)",
    re.I,
)
BOILERPLATE_ANY = re.compile(
    r"all rights reserved|copyright \d{4}|copyright 19\d\d|\bcookies?\b.{0,60}\b(?:accept|consent|"
    r"agree)|\b(?:subscribe|sign up)\b.{0,40}\bnewsletter|newsletter\b.{0,40}\b(?:subscribe|sign "
    r"up)\b|billed (?:once|monthly)",
    re.I,
)
BOILERPLATE_CLASS = re.compile(
    r"(?:^|[\s_-])(?:share\w*|sharing|social|newsletter|related\w*|cookie|consent|gdpr|"
    r"subscribe|subscription|donat\w*|support|promo|comments?|disqus|outbrain|taboola|"
    r"read-?more|recirc|most-?read|signup|paywall|advert|ad-slot)(?:$|[\s_-])",
    re.I,
)
# A box whose heading line is one of these ("Related Links", "Previous Report") is chrome
# however long its teasers run.
BOX_HEADING = re.compile(
    r"^(?:related(?:\s+\w+)?|(?:previous|next|more|other|latest|top)\s+(?:reports?|articles?|"
    r"stor(?:y|ies)|posts?|news|headlines)|(?:most\s+)?(?:popular|read)|recommended(?:\s+\w+)?"
    r"|you (?:may|might) (?:also )?like|more from \w+(?:\s+\w+)?|see also)\s*:?$",
    re.I,
)
# The first word of every BOX_HEADING: a cheap test before reading a block's first line
# (no word boundary: in "<h3>Related</h3><ul>..." the text reads "RelatedMoon probe...").
_HEADING_WORD = re.compile(
    r"(?:related|previous|next|more|other|latest|top|most|popular|read|recommended|you|see)",
    re.I,
)
# Links, forms and buttons that take money mark a donation or subscription appeal.
PAYMENT_HREF = re.compile(
    r"paypal\.com|patreon\.com|ko-fi\.com|buymeacoffee\.com|liberapay\.com", re.I)
# A site's own /donate or /subscribe page marks an appeal only when the link says so: a
# story may well link "/2024/donations-to-flood-victims".
PAYMENT_PATH = re.compile(r"/(?:donat|subscri|support-us|contribute\b)", re.I)
# ...said so by words like these (not "Contributors", a list of writers).
APPEAL_LINK_WORDS = re.compile(
    r"donat|subscri|contribute\b|support (?:us|our)|become a (?:member|supporter)|paypal", re.I)
PAYMENT_WORDS = re.compile(r"paypal|credit card|donat|contribut|billed (?:once|monthly)|subscri", re.I)
# ...and, in a short cell of text, these (the price line of a form a sanitizer removed).
PAYMENT_TEXT = re.compile(r"\bbilled (?:once|monthly|yearly|annually)\b", re.I)
# An appeal box is at most this long; a container of a story and its appeal is longer.
APPEAL_MAX = 1200
_SENTENCE_END = re.compile(r"[.!?][\"'\u201d\u2019)]?(?:\s|$)")
_BLOCK_TAGS = ("p", "div", "table", "ul", "ol", "section", "aside", "blockquote", "h2", "h3",
               "h4", "h5", "h6", "li", "dl", "figure", "footer", "header", "form", "center",
               "font", "nav")


# readability-lxml measures text with ``len(clean(text))``: three regex passes over the
# whole text, about 2 ms for the 45 KB of a news page's <body>, run for every candidate
# and its links (a third of extraction time on bench/site.py pages, issue #4 item 7).
# ``clean_len`` gives the same number from ``str.split`` plus a look at the few
# whitespace runs whose cleaned length is not 1 (see its docstring).
# Every character str.isspace() (and so re's \s) accepts, written out: computing it over
# all code points at import took a third of a second in every process.
_WHITESPACE = tuple(
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
    "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_ODD_SPACE = tuple(c for c in _WHITESPACE if c not in " \n")
_ODD_SPACE_ASCII = tuple(c for c in _ODD_SPACE if c.isascii())
_SPACE_RUN = re.compile(r"\s+")
_TABS = re.compile(r"\t|[ \t]{2,}")  # readability's third pass


def clean_len(text: str) -> int:
    """``len(readability.readability.clean(text))``, computed without its regex passes.

    ``clean`` only rewrites whitespace runs and strips the ends. A run inside the text
    becomes one character when it is a single character, holds a newline, is 255 long or
    more, or is only spaces; so ``" ".join(text.split())`` has the right length except
    for runs of 2-254 characters with a tab or another non-space blank and no newline,
    which are found with ``str.find`` and cleaned one by one.
    """
    words = text.split()
    if not words:
        return 0
    n = len(" ".join(words))
    end = len(text)
    counted: set[int] = set()
    for c in _ODD_SPACE_ASCII if text.isascii() else _ODD_SPACE:
        i = text.find(c)
        while i != -1:
            match = _SPACE_RUN.match(text, i)
            stop = match.end() if match else i + 1
            if "\n" not in text[i:stop]:
                start = i
                while start > 0 and text[start - 1].isspace():
                    start -= 1
                run = text[start:stop]
                if (start > 0 and stop < end and 2 <= len(run) < 255 and "\n" not in run
                        and start not in counted):
                    counted.add(start)
                    n += len(_TABS.sub(" ", run)) - 1
            i = text.find(c, stop)
    return n


def text_len(el: lhtml.HtmlElement) -> int:
    return len(norm(el.text_content()))


def link_density(el: lhtml.HtmlElement, total: int | None = None) -> float:
    links = sum(len(norm(a.text_content())) for a in el.iter("a"))
    total = text_len(el) if total is None else total
    return links / max(total, 1)


def _img_size(img: lhtml.HtmlElement) -> tuple[int, int] | None:
    """The (width, height) an <img> declares, 0 for one it leaves out; None when unreadable."""
    try:
        return int(img.get("width") or 0), int(img.get("height") or 0)
    except ValueError:
        return None


def _photo_size_ok(img: lhtml.HtmlElement) -> bool:
    """A photo, not an icon, a spacer or a tracking pixel: at least 200x150 when the
    page says its size."""
    size = _img_size(img)
    return size is not None and (size[0] == 0 or size[0] >= 200) and (
        size[1] == 0 or size[1] >= 150)


def looks_like_story_photo(el: lhtml.HtmlElement) -> bool:
    """A sibling of the story holding one photo and at most a caption (a photo table
    between the dateline and the first paragraph): not linked (ads are), not a chrome
    block."""
    if not isinstance(el.tag, str) or el.tag not in ("img", "table", "div", "figure", "p",
                                                     "center"):
        return False
    imgs = [el] if el.tag == "img" else list(el.iter("img"))
    if len(imgs) != 1 or not imgs[0].get("src") or not _photo_size_ok(imgs[0]):
        return False
    if next(imgs[0].iterancestors("a"), None) is not None or next(el.iter("a"), None) is not None:
        return False
    feature = f"{el.get('class') or ''} {el.get('id') or ''}"
    if REGEXES["negativeRe"].search(feature) or BOILERPLATE_CLASS.search(feature):
        return False
    return text_len(el) <= 300


def looks_like_caption(el: lhtml.HtmlElement) -> bool:
    """A short line of text, no links, right after a story photo."""
    return (el.tag in ("font", "span", "small", "i", "em", "p", "div")
            and 0 < text_len(el) <= 300 and next(el.iter("a", "img"), None) is None)


# A story box is this long and has this many sentences; shorter, it must be a report:
# a heading of its own, then prose (a one-paragraph inset report runs 250-400 characters).
STORY_BOX_MIN = 400
STORY_BOX_SENTENCES = 4
REPORT_PROSE_MIN = 150
REPORT_HEADING_MAX = 120
_REPORT_HEADING_TAGS = ("b", "strong", "h2", "h3", "h4", "h5", "h6")


def _report_prose(el: lhtml.HtmlElement, text: str) -> str | None:
    """The prose under a box's heading: its first line, set in bold or as a heading, not a
    sentence and not a chrome heading ("Related Links"); None when it has none."""
    heading = first_line(el)
    if not heading or len(heading) > REPORT_HEADING_MAX or heading[-1] in ".!?:" \
            or not text.startswith(heading) or BOX_HEADING.match(heading):
        return None
    if not any(norm(h.text_content()) == heading for h in el.iter(*_REPORT_HEADING_TAGS)):
        return None
    return text[len(heading):].strip()


def is_report(el: lhtml.HtmlElement, title: str | None, most: Callable[[], int]) -> bool:
    """A box in or beside the story that is a report of its own: a heading line other
    than the story's headline, then prose opening with a wire dateline (an inset wire
    report), at most ``most()`` characters long (less than the story; asked only of a
    box with an agency's bracket)."""
    if not isinstance(el.tag, str) or el.tag not in _REPORT_BOX_TAGS:
        return False
    text = norm(el.text_content())
    if not text or "(" not in text or len(text) > most():
        return False
    prose = _report_prose(el, text)
    return prose is not None and not text.startswith(title or "\0") \
        and match_dateline(prose) is not None


_REPORT_BOX_TAGS = frozenset({"table", "div", "aside", "section", "blockquote", "center"})


def _chrome_class(el: lhtml.HtmlElement) -> bool:
    feature = f"{el.get('class') or ''} {el.get('id') or ''}"
    return bool(REGEXES["negativeRe"].search(feature) or BOILERPLATE_CLASS.search(feature) or (
        REGEXES["unlikelyCandidatesRe"].search(feature)
        and not REGEXES["okMaybeItsACandidateRe"].search(feature)))


# A box with a chrome class is measured only up to this long: a wire report inset in a
# story is a few paragraphs, a page's sidebar may hold most of its text.
REPORT_BOX_MAX = 6000


def looks_like_story_box(el: lhtml.HtmlElement, chrome: bool | None = None) -> bool:
    """A sibling block that reads like story text: long and sentence-rich, or a heading
    over a paragraph of prose; nearly link-free, no form, no chrome heading (e.g.
    SpaceDaily's inset wire reports). A chrome class ("sidebar", "related-report") says
    chrome, unless the box's prose opens with a wire dateline: then it is a report.
    ``chrome``: whether the class reads as chrome, when the caller knows."""
    if not isinstance(el.tag, str) or el.tag in ("p", "script", "style", "h1", "h2", "h3",
                                                 "nav", "footer", "header", "form"):
        return False
    if chrome is None:
        chrome = _chrome_class(el)
    raw = el.text_content()
    # No agency bracket, no dateline: a chrome box is not measured any further.
    if chrome and "(" not in raw:
        return False
    text = norm(raw)
    if len(text) < REPORT_PROSE_MIN or (chrome and len(text) > REPORT_BOX_MAX):
        return False
    prose: str | None = text
    if len(text) < STORY_BOX_MIN or len(_SENTENCE_END.findall(text)) < STORY_BOX_SENTENCES:
        prose = _report_prose(el, text)
        if prose is None or len(prose) < REPORT_PROSE_MIN or not _SENTENCE_END.search(prose):
            return False
    elif chrome:
        prose = _report_prose(el, text) or text
    if chrome and (prose is None or match_dateline(prose) is None):
        return False
    # A chrome phrase opening or closing the box; in the middle of long prose (a quote
    # on "all rights reserved" in a related report) it is the story's.
    if BOILERPLATE_START.match(text) or BOILERPLATE_ANY.search(text[:200] + " " + text[-200:]):
        return False
    if next(el.iter("form", "input", "button", "select", "textarea", "iframe"), None) is not None:
        return False
    return link_density(el, len(text)) <= 0.05


def is_boilerplate(el: lhtml.HtmlElement) -> bool:
    """A block inside the extracted story that is site chrome."""
    text = norm(el.text_content())
    if not text:
        return False
    feature = f"{el.get('class') or ''} {el.get('id') or ''}"
    if BOILERPLATE_CLASS.search(feature) and (len(text) < 400 or link_density(el, len(text)) > 0.3):
        return True
    # A chrome prompt is short; a story paragraph that happens to open with the same
    # words ("Comments and reply features: ...") is not.
    if len(text) <= 150 and BOILERPLATE_START.match(text):
        return True
    if len(text) <= 150 and BOILERPLATE_LABEL.match(text) and _reads_as_label(el, text):
        return True
    if len(text) <= 1500 and _HEADING_WORD.match(text) and BOX_HEADING.match(first_line(el)):
        return True
    return (len(text) <= 300 and bool(BOILERPLATE_ANY.search(text))) or _legal_footer(text)


# A site's legal footer: a copyright line and at least one more legal phrase.
_COPYRIGHT = re.compile(r"copyright\s+(?:\u00a9\s*)?\d{4}|all rights reserved", re.I)
_LEGAL = re.compile(
    r"copyright\s+(?:\u00a9\s*)?\d{4}|all rights reserved|privacy (?:policy|statement)"
    r"|terms of (?:use|service)|fair use|(?:are|is) copyright(?:ed)?\b"
    r"|reproduction\b.{0,40}\bprohibited|without (?:the )?(?:prior )?written permission",
    re.I,
)


def _legal_footer(text: str) -> bool:
    """Longer than the 300 characters BOILERPLATE_ANY looks at ("The content herein
    ... are Copyright 1995-2024 ... governed by Fair Use principals ...")."""
    if len(text) > 1000 or not _COPYRIGHT.search(text):
        return False
    return len({m.group(0).lower() for m in _LEGAL.finditer(text)}) >= 2


def _reads_as_label(el: lhtml.HtmlElement, text: str) -> bool:
    """A heading or a list of links ("Previous Report: <a>...</a>"), not a sentence of
    the story, however short ("Popular anger has grown."): no sentence end, or mostly
    links."""
    return not _SENTENCE_END.search(text) or link_density(el, len(text)) > 0.3


_BYLINE_CLASS = re.compile(r"byline|author|dateline|writer", re.I)


def drop_bylines(node: lhtml.HtmlElement) -> int:
    """Drop short byline blocks from the story: they are metadata, shown as the entry's
    author (the rule of Readability.js ``_checkByline``)."""
    doomed = []
    for el in node.iter():
        if not isinstance(el.tag, str) or el is node or el.tag in ("a", "img"):
            continue
        feature = f"{el.get('class') or ''} {el.get('id') or ''}"
        if (el.get("itemprop") == "author" or "author" in (el.get("rel") or "").split()
                or _BYLINE_CLASS.search(feature)) and 0 < text_len(el) < 100:
            doomed.append(el)
    for el in doomed:
        if el.getparent() is not None:
            el.drop_tree()
    return len(doomed)


_HEADER_TAGS = ("b", "i", "em", "strong", "font", "span", "small", "div", "p")
_KICKER = re.compile(r"[A-Z][A-Z0-9&' -]{2,40}")  # "SUPERPOWERS", "SPACE TRAVEL"


def _is_header_line(el: lhtml.HtmlElement, text: str, author: str | None, byline: set[str],
                    dateline: str | None) -> bool:
    if text.lower() in byline:
        return True
    # A section kicker is a line of its own: a word in capitals opening the first
    # paragraph ("<b>NEW YORK</b> - Stocks fell...") is the story's.
    if _KICKER.fullmatch(text):
        return _ends_its_line(el)
    # The dateline and nothing more, on a line of its own: "Brussels (AFP) - The United
    # States..." or "<b>Brussels (AFP)</b> The United States..." opens the story's first
    # paragraph, and a short one ("Brussels (AFP) - Talks failed.") is all story.
    return _is_header_text(text, author, byline, dateline) and _ends_its_line(el)


def _header_text(line: str, author: str | None, byline: set[str],
                 dateline: str | None) -> bool:
    """A short ``line`` of text before a line break that is a header line."""
    return 0 < len(line) < 60 and _is_header_text(line, author, byline, dateline)


def _is_header_text(text: str, author: str | None, byline: set[str],
                    dateline: str | None) -> bool:
    """``text``, a line of its own, is the story's byline or dateline and nothing more."""
    if text.lower() in byline:
        return True
    if not dateline:
        return False
    # "by Staff Writers Brussels (AFP) Feb 16, 2017": the byline and the dateline on one line.
    split = split_byline(text) if author else None
    if split and author and split[0].lower() == author.lower():
        text = split[1].string
    return dateline_only(text) == dateline


_INLINE = frozenset({"a", "b", "i", "em", "strong", "font", "span", "small", "u", "sup", "sub"})


def _ends_its_line(el: lhtml.HtmlElement) -> bool:
    """No text follows ``el`` before the next line break or block."""
    while True:
        if norm(el.tail):
            return False
        following = el.getnext()
        if following is not None:
            return following.tag not in _INLINE or not norm(following.text_content())
        el = el.getparent()
        if el is None or el.tag not in _INLINE:
            return True


def drop_story_header(
    node: lhtml.HtmlElement, author: str | None, dateline: str | None
) -> list[str]:
    """Drop the lines at the top of the story that repeat its metadata: a section
    kicker in capitals, the "by X" byline, the dateline on a line of its own. They are
    in the story only when readability took the whole content cell of a table layout;
    the entry carries them as author and dateline. Only the first 200 characters of
    text are looked at: below that, the story has begun."""
    byline = {f"by {author}".lower(), author.lower()} if author else set()
    doomed: list[lhtml.HtmlElement] = []
    # Header lines as text of their own before a line break, opening a table-era story's
    # text ("Houston (AFP) Feb 14, 2017<br><br>Space agencies..."): the element whose text
    # (False) or tail (True) the line is.
    texts: list[tuple[lhtml.HtmlElement, bool]] = []
    seen = 0
    inside: lhtml.HtmlElement | None = None  # a doomed element being walked through
    for event, el in etree.iterwalk(node, events=("start", "end")):
        if not isinstance(el.tag, str):
            continue
        if event == "start":
            if inside is not None:
                continue
            if el is not node and el.tag in BOX_TAGS and is_box(el):
                inside = el  # an inset beside the story: its text is not the story's opening
                continue
            text = norm(el.text_content()) if el is not node and el.tag in _HEADER_TAGS else ""
            if 0 < len(text) < 60 and _is_header_line(el, text, author, byline, dateline):
                doomed.append(el)
                inside = el
                continue
            line = norm(el.text)
            if len(el) and el[0].tag == "br" and _header_text(line, author, byline, dateline):
                texts.append((el, False))
            else:
                seen += len(line)
        else:
            if el is inside:
                inside = None
            elif inside is not None:
                continue
            if el is not node:
                line = norm(el.tail)
                following = el.getnext()
                if following is not None and following.tag == "br" and _header_text(
                        line, author, byline, dateline):
                    texts.append((el, True))
                else:
                    seen += len(line)
        if seen >= 200:
            break
    gone = [norm(el.tail if tail else el.text) for el, tail in texts]
    for el, tail in texts:
        br = el.getnext() if tail else el[0]
        if tail:
            el.tail = br.tail
        else:
            el.text = br.tail
        br.getparent().remove(br)
    for el in doomed:
        el.drop_tree()
    return [norm(el.text_content()) for el in doomed] + gone


def _takes_money(el: lhtml.HtmlElement) -> bool:
    if el.tag == "a":
        href = el.get("href") or ""
        return bool(PAYMENT_HREF.search(href)) or bool(
            PAYMENT_PATH.search(href) and APPEAL_LINK_WORDS.search(el.text_content()))
    if el.tag == "form":
        return bool(PAYMENT_HREF.search(el.get("action") or ""))
    return bool(PAYMENT_WORDS.search(f"{el.get('value') or ''} {el.text_content()}"))


def _price_lines(node: lhtml.HtmlElement) -> list[lhtml.HtmlElement]:
    """Short blocks holding a price line ("$5 Billed Once"), looked for only when the
    story has the word: measuring every block's text took a tenth of the extraction time
    of an ordinary page."""
    text = node.text_content()
    if "illed" not in text and "ILLED" not in text:
        return []
    return [el for el in node.iter("td", "div", "p")
            if text_len(el) <= 200 and PAYMENT_TEXT.search(el.text_content())]


def _inside(el: lhtml.HtmlElement, node: lhtml.HtmlElement) -> bool:
    return any(parent is node for parent in el.iterancestors())


def drop_appeals(node: lhtml.HtmlElement) -> list[str]:
    """Drop donation and subscription appeals whole: the largest block around a payment
    link, form or button that is no longer than an appeal. Pruning block by block took
    its "Thanks for being here" and "Billed once" lines and left the paragraphs between."""
    dropped: list[str] = []
    marks = [e for e in node.iter("a", "form", "input", "button") if _takes_money(e)]
    marks += _price_lines(node)
    # Never a box holding half the story: on a short story, the largest block under
    # APPEAL_MAX around a mark would be the story's own wrapper.
    most = min(APPEAL_MAX, text_len(node) // 2) if marks else 0
    for mark in marks:
        if not _inside(mark, node):
            continue  # gone with an earlier appeal
        box = None
        for parent in mark.iterancestors():
            if parent is node or text_len(parent) > most:
                break
            if parent.tag in _BLOCK_TAGS:
                box = parent
        if box is not None:
            dropped.append(norm(box.text_content())[:40])
            box.drop_tree()
    return dropped


# The IAB's standard ad sizes (width, height): a linked image of one of them is a banner.
AD_SIZES = frozenset({(468, 60), (728, 90), (300, 250), (336, 280), (160, 600), (120, 600),
                      (300, 600), (320, 50), (320, 100), (970, 90), (970, 250), (234, 60),
                      (125, 125), (250, 250), (200, 200), (180, 150), (88, 31)})


def drop_banners(node: lhtml.HtmlElement) -> list[str]:
    """Drop linked images of an ad's standard size. Story photos are kept even alone in
    their block (readability's keep_all_images), which keeps banners too."""
    dropped = []
    for img in list(node.iter("img")):
        link = next(img.iterancestors("a"), None)
        size = _img_size(img)
        if link is not None and size in AD_SIZES and _inside(link, node):
            dropped.append(f"banner {size[0]}x{size[1]}")
            link.drop_tree()
    return dropped


def prune_boilerplate(node: lhtml.HtmlElement,
                      keep: Sequence[lhtml.HtmlElement] = ()) -> list[str]:
    """Drop chrome blocks from the extracted story; return what was dropped (for --explain).
    The ``keep`` boxes were recovered as story boxes, whatever their class says."""
    dropped = drop_appeals(node) + drop_banners(node)
    for el in reversed(list(node.iter(*_BLOCK_TAGS))):
        if el.getparent() is None or el is node or el in keep:
            continue
        if is_boilerplate(el):
            dropped.append(norm(el.text_content())[:40])
            el.drop_tree()
    return dropped


_TOP_CANDIDATES = 5
_MIN_SHARED = 3
_TABLE_ROWS = frozenset({"tr", "tbody", "thead", "tfoot", "table"})


def _below_body(el: lhtml.HtmlElement) -> bool:
    return el is not None and isinstance(el.tag, str) and el.tag not in ("body", "html")


def is_data_table(table: lhtml.HtmlElement) -> bool:
    """A table of data (kept whole as story content), not a layout table; the tests of
    Readability.js ``_isDataTable``, with nested tables checked first because layout
    tables of the table era nest and may hold a ``<th>`` somewhere inside."""
    if table.get("role") == "presentation" or table.get("datatable") == "0":
        return False
    if next(table.iterdescendants("table"), None) is not None:
        return False
    if table.get("summary"):
        return True
    caption = next(table.iter("caption"), None)
    if caption is not None and (len(caption) or norm(caption.text_content())):
        return True
    if next(table.iterdescendants("col", "colgroup", "tfoot", "thead", "th"), None) is not None:
        return True
    rows = list(table.iter("tr"))
    columns = max((sum(int(c.get("colspan") or 1) if (c.get("colspan") or "1").isdigit() else 1
                       for c in row if c.tag in ("td", "th")) for row in rows), default=0)
    if len(rows) <= 1 or columns <= 1:
        return False
    return len(rows) >= 10 or columns > 4 or len(rows) * columns > 10


def refine_candidate(candidates: dict[Any, Any], best: dict[str, Any]) -> dict[str, Any]:
    """Move readability's best candidate up the tree the way Readability.js does
    (``_grabArticle``), for stories split over several blocks that readability-lxml
    would cut down to one of them (issue #4 item 2: candidate selection):

    1. when at least three of the other top-5 candidates score >= 75% of the best and
       share an ancestor with it, that ancestor holds the story;
    2. walking up, a parent scoring higher than its child (while above a third of the
       best) gathers more story than the child;

    Readability.js also climbs from an only child to its parent; that step is left out
    because readability-lxml's own segment merging keys on the best node's class and
    loses split stories when the node changes (corpus F1 0.9672 -> 0.9631). The climb
    stops at table rows: in table layouts every cell is scored as a paragraph, so a row
    outscores the story cell while holding the navigation cells too.
    """
    elem = best["elem"]
    top_score = best["content_score"]
    if top_score <= 0:
        return best
    if elem.tag in _TABLE_ROWS:
        # Rows of a data table score high (every cell counts as a paragraph), but the
        # table is one block of the story, not the story: start from its container.
        table = elem if elem.tag == "table" else next(elem.iterancestors("table"), None)
        if table is not None and is_data_table(table) and _below_body(table.getparent()):
            elem = table.getparent()
    ranked = sorted(candidates.values(), key=lambda c: c["content_score"], reverse=True)
    close = [set(c["elem"].iterancestors()) for c in ranked[:_TOP_CANDIDATES]
             if c["elem"] is not elem and c["content_score"] >= 0.75 * top_score]
    if len(close) >= _MIN_SHARED:
        parent = elem.getparent()
        while _below_body(parent):
            if sum(parent in ancestors for ancestors in close) >= _MIN_SHARED:
                elem = parent
                break
            parent = parent.getparent()
    parent = elem.getparent()
    last = candidates[elem]["content_score"] if elem in candidates else top_score
    floor = last / 3
    while _below_body(parent) and parent.tag not in _TABLE_ROWS:
        if parent not in candidates:
            parent = parent.getparent()
            continue
        score = candidates[parent]["content_score"]
        if score < floor:
            break
        if score > last:
            elem = parent
            break
        last = score
        parent = parent.getparent()
    if elem is best["elem"]:
        return best
    if elem not in candidates:
        candidates[elem] = {"content_score": top_score, "elem": elem}
    return {"content_score": max(candidates[elem]["content_score"], top_score), "elem": elem}


class Readable(Document):  # type: ignore[misc]
    """readability-lxml on an already parsed tree, with inset recovery."""

    def __init__(self, root: lhtml.HtmlElement, url: str | None) -> None:
        super().__init__(root, url=url)
        self.recovered: list[lhtml.HtmlElement] = []
        self.reports: list[lhtml.HtmlElement] = []  # report boxes of chrome class in the story
        self.best_elem: lhtml.HtmlElement | None = None
        self.result: lhtml.HtmlElement | None = None

    def remove_unlikely_candidates(self) -> None:
        # readability-lxml's own, sparing a report box whose class reads as chrome (an
        # inset wire report classed "sidebar"): it is dropped before any scoring.
        for elem in self.html.findall(".//*"):
            s = f"{elem.get('class', '')} {elem.get('id', '')}"
            if len(s) < 2 or elem.tag in ("html", "body"):
                continue
            if (REGEXES["unlikelyCandidatesRe"].search(s)
                    and not REGEXES["okMaybeItsACandidateRe"].search(s)
                    and not elem.xpath("ancestor-or-self::pre | ancestor-or-self::code")
                    and not elem.xpath("descendant-or-self::main | descendant-or-self::article"
                                       " | descendant-or-self::math")
                    and not looks_like_story_box(elem, chrome=True)):
                elem.drop_tree()

    def get_link_density(self, elem: lhtml.HtmlElement) -> float:
        # readability-lxml's own, with ``clean_len`` for its ``text_length``: same value.
        links = sum(clean_len(a.text_content() or "") for a in elem.iter("a") if a is not elem)
        return float(links) / max(clean_len(elem.text_content() or ""), 1)

    def score_paragraphs(self) -> dict[Any, Any]:
        # readability-lxml's own, same scores, minus two costs (issue #3: cold-crawl CPU):
        # each paragraph's length was ``len(clean(text))`` (three regex passes; here
        # ``clean_len``) and its commas were counted on the cleaned copy (``clean`` only
        # rewrites whitespace, so the raw text has the same commas); and every candidate
        # was described for a ``log.debug`` line formatted whether logged or not.
        min_len = self.min_text_length
        candidates: dict[Any, Any] = {}
        ordered = []
        for elem in self.tags(self._html(), "p", "pre", "td", "blockquote"):
            parent_node = elem.getparent()
            if parent_node is None:
                continue
            grand_parent_node = parent_node.getparent()
            raw = elem.text_content() or ""
            inner_text_len = clean_len(raw)
            if inner_text_len < min_len:
                continue
            if parent_node not in candidates:
                candidates[parent_node] = self.score_node(parent_node)
                ordered.append(parent_node)
            if grand_parent_node is not None and grand_parent_node not in candidates:
                candidates[grand_parent_node] = self.score_node(grand_parent_node)
                ordered.append(grand_parent_node)
            content_score = 1 + raw.count(",") + 1 + min(inner_text_len / 100, 3)
            candidates[parent_node]["content_score"] += content_score
            if grand_parent_node is not None:
                candidates[grand_parent_node]["content_score"] += content_score / 2.0
        for elem in ordered:
            candidates[elem]["content_score"] *= 1 - self.get_link_density(elem)
        return candidates

    def select_best_candidate(self, candidates: dict[Any, Any]) -> dict[str, Any] | None:
        best: dict[str, Any] | None = super().select_best_candidate(candidates)
        if best is None:
            return None
        return refine_candidate(candidates, best)

    def get_article(self, candidates: dict[Any, Any], best_candidate: dict[str, Any],
                    html_partial: bool = False) -> Any:
        best = best_candidate["elem"]
        if best.tag in ("tr", "tbody", "table"):
            # Table layouts: readability scores the row, which drags the navigation cell
            # along; the story is the cell that holds most of the row's plain text.
            cells = [c for c in best.iter("td", "th") if c.getparent() is best
                     or (c.getparent() is not None and c.getparent().getparent() is best)]
            weights = [(text_len(c) * (1 - link_density(c)), c) for c in cells]
            total = sum(w for w, _ in weights)
            if weights and total:
                weight, cell = max(weights, key=lambda wc: wc[0])
                if weight >= 0.6 * total:
                    best_candidate = {"content_score": best_candidate["content_score"],
                                      "elem": cell}
                    candidates[cell] = best_candidate
                    best = cell
        self.best_elem = best
        parent = best.getparent()
        threshold = max(10.0, best_candidate["content_score"] * 0.2)
        self.recovered = []
        if parent is not None:
            photo_before = False  # the last element sibling was a story photo
            for sib in parent:
                if sib is best or not isinstance(sib.tag, str):
                    photo_before = photo_before and sib is not best
                    continue
                if sib.tag == "br":
                    continue
                score = candidates.get(sib, {}).get("content_score", 0)
                photo = looks_like_story_photo(sib)
                caption = photo_before and looks_like_caption(sib)
                if score < threshold and (looks_like_story_box(sib) or photo or caption):
                    candidates[sib] = {"content_score": threshold + 1, "elem": sib}
                    self.recovered.append(sib)
                photo_before = photo
        return super().get_article(candidates, best_candidate, html_partial)

    def get_preserved_elements(self, node: Any) -> dict[Any, bool]:
        allowed: dict[Any, bool] = super().get_preserved_elements(node)
        # A report box inside the story block whose class reads as chrome: its class
        # weight would drop it.
        self.reports = [el for el in node.iter("table", "div", "aside", "section")
                        if (el.get("class") or el.get("id")) and _chrome_class(el)
                        and looks_like_story_box(el, chrome=True)]
        for box in self.recovered + self.reports:
            for el in box.iter("table", "ul", "div", "aside", "section"):
                allowed[el] = True
        # Data tables are story content however many links or few commas they have
        # (Readability.js skips them in ``_cleanConditionally``).
        for table in node.iter("table"):
            if is_data_table(table):
                for el in table.iter("table", "ul", "div", "aside", "section"):
                    allowed[el] = True
        return allowed

    def get_clean_html(self) -> str:
        # Keep the tree: post-processing works on it rather than on a re-parse.
        self.result = self.html
        return str(tostring(self.html, encoding="unicode", method="html"))
