"""Page metadata: title, author, dates, dateline, lead image, language, canonical URL
(issue #4 item 3). Read from the pristine tree, before readability mutates it; the
dateline alone is read once the story is isolated (:func:`read_dateline`), as it is the
story's and not that of any report teased lower on the page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, overload
from urllib.parse import urljoin

from lxml import etree
from lxml import html as lhtml

from .dates import MONTH_RE, day_in_year, month_number, parse_date, text_date, url_date
from .urls import same_site

# "Brussels (AFP) Feb 16, 2017", "WASHINGTON (Reuters) -", "Brussels (AFP)": place, agency
# in brackets, then a date, a dash, the end of the line (the story begins on the next)
# or the story's first sentence. Wire services write their datelines this way.
# A place is capitalised words, with the lowercase particles of place names between
# them ("Rio de Janeiro", "Dar es Salaam", "Frankfurt am Main").
_PARTICLE = r"(?:de|da|das|do|dos|del|della|di|du|des|la|le|el|al|es|am|an|im|upon|on|sur|van|von|der|den)"
# Reuters and UPI put the month and day between the place and the agency: "WASHINGTON,
# Nov 3 (Reuters) -", "WASHINGTON, Nov. 3 (UPI) --" (no year: fallback_date finds it one).
# UPI's stories now open with the month and day alone ("Nov. 3 (UPI) --"), as Reuters'
# company briefs do ("Nov 3 (Reuters) -"): the bare_ groups, a wire's only (match_dateline).
_DATELINE = re.compile(
    rf"(?P<line>(?:(?P<place>[A-Z][\w'.\-]*(?:[ ,]+(?:{_PARTICLE} )*[A-Z][\w'.\-]*){{0,4}})"
    rf"(?:,\s+(?P<month>{MONTH_RE})\.?\s+(?P<day>\d{{1,2}}))?"
    rf"|(?P<bare_month>{MONTH_RE})\.?\s+(?P<bare_day>\d{{1,2}}))"
    r"\s+\((?P<agency>[A-Z][\w.&/ -]{0,24})\))"
    rf"(?:\s+(?P<date>{MONTH_RE}\.?\s+\d{{1,2}},?\s+\d{{4}})|\s*(?P<dash>[-\u2013\u2014])|\s*$"
    r"|\s+(?=[A-Z\"'\u2018\u201c]))"
)
_DASHES = " -\u2013\u2014"
# A bracket ending a line or followed by a sentence is also a language ("Australia
# (English)"), a format ("High (HD)") or a name ("Facebook (Mozilla)"): with neither date
# nor dash, a dateline's agency must be one of the wire services'; with a dash but no
# date, one of theirs or the place in capitals (match_dateline).
WIRE_AGENCIES = frozenset({
    "AFP", "AP", "UPI", "Reuters", "REUTERS", "IANS", "ANI", "PTI", "UNI", "SPX", "dpa", "DPA",
    "Xinhua", "XINHUA", "Kyodo", "KYODO", "Yonhap", "YONHAP", "Bernama", "BERNAMA", "ANSA",
    "EFE", "TASS", "RIA", "Interfax", "AAP", "CP", "PA", "CNA", "NNA", "IRNA", "WAM", "SPA",
    "KUNA", "MENA", "APA", "Anadolu", "Bloomberg", "CNN", "BBC", "Sputnik",
})
_BYLINE = re.compile(r"^\s*(?:by|von|par|por|door|di)\s+(?P<name>\S.{0,80}?)\s*$", re.I | re.S)
_BY = re.compile(r"^(?:by|von|par|por|door|di)\s+", re.I)
# A byline that goes on with the dateline on the same line: "by Staff Writers Brussels
# (AFP) Feb 16, 2017". The agency bracket ends the place; the words before it are the
# name and then the place.
_AGENCY = re.compile(r"\s*\([A-Z][\w.&/ -]{0,24}\)")
# The roles wire bylines give instead of a name ("Staff Writers", "AFP Correspondent")
# end the name; a capital letter follows, after a space or run on ("WritersBrussels"
# when the two lines are <i>by Staff Writers</i><b>Brussels (AFP)...</b>).
_BYLINE_ROLE = re.compile(
    r"\b(?i:writers?|reporters?|correspondents?|editors?|staff)(?=\s+[A-Z]|[A-Z])")
_INITIAL = re.compile(r"[A-Z]\.")
# Without a role word, a name of this many words comes first ("by John Smith New York
# (AP)"); a middle initial adds one ("by John F. Smith Rio de Janeiro (AFP)").
_NAME_WORDS = 2
# Readability.js's separators, en and em dash included (as it has them since 0.5).
_TITLE_SEP = re.compile(r"\s[|\-\u2013\u2014\\/>\u00bb]\s")
# "authority-control" (a reference box) is not an author.
_AUTHOR_CLASS = re.compile(r"\b(?:byline|author(?!ity)|writer)", re.I)


def norm(text: str | None) -> str:
    """Collapse whitespace."""
    # Same result as ``re.sub(r"\s+", " ", text).strip()`` (str.split's blanks are exactly
    # re's ``\s``) at a fraction of the cost; it runs over every block of the story several
    # times (issue #4 item 7).
    return " ".join(text.split()) if text else ""


@dataclass
class PageMeta:
    """What the page says about itself; ``explain`` names each value's source."""

    title: str | None = None
    author: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    dateline: str | None = None
    dateline_date: datetime | None = None
    lead_image: str | None = None
    lang: str | None = None
    canonical_url: str | None = None
    site_name: str | None = None
    description: str | None = None
    raw_title: str = ""
    # The page's text, one block a line, without boxes beside the story (read_dateline);
    # split into lines only when read (most stories' datelines are in their own lines).
    page_lines: Sequence[str] = field(default_factory=list)
    box_lines: set[str] = field(default_factory=set)  # ...and the lines of those boxes
    explain: dict[str, str] = field(default_factory=dict)


_CDATA = re.compile(r"^\s*(?://\s*)?<!\[CDATA\[|(?://\s*)?\]\]>\s*$")


def _jsonld_items(root: lhtml.HtmlElement) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for script in root.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        # Many CMSs wrap the JSON in a CDATA section for old XHTML parsers; Readability.js
        # strips that wrapper too.
        try:
            data = json.loads(_CDATA.sub("", script.text or ""))
        except ValueError:
            continue
        stack = [data]
        while stack:
            node = stack.pop()
            if isinstance(node, list):
                stack.extend(node)
            elif isinstance(node, dict):
                if "@graph" in node:
                    stack.append(node["@graph"])
                items.append(node)
    return items


_ARTICLE_TYPES = re.compile(r"Article|Posting|Report|APIReference")


def _names(value: Any) -> str | None:
    if isinstance(value, str):
        return norm(value) or None
    if isinstance(value, dict):
        return _names(value.get("name"))
    if isinstance(value, list):
        names = [n for n in (_names(v) for v in value) if n]
        return ", ".join(names) if names else None
    return None


def _image(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return _image(value.get("url") or value.get("contentUrl"))
    if isinstance(value, list) and value:
        return _image(value[0])
    return None


def _similar(a: str, b: str) -> float:
    ta, tb = set(re.findall(r"\w+", a.lower())), re.findall(r"\w+", b.lower())
    if not tb:
        return 0.0
    return 1 - len([t for t in tb if t not in ta]) / len(tb)


def _jsonld_title(ld: dict[str, Any], raw_title: str) -> tuple[str, str | None]:
    # As Readability.js: when name and headline differ, take the one that matches <title>.
    name, headline = ld.get("name"), ld.get("headline")
    name = name if isinstance(name, str) else None
    headline = headline if isinstance(headline, str) else None
    if name and headline and name != headline:
        if _similar(raw_title, headline) > 0.75 and _similar(raw_title, name) <= 0.75:
            return "json-ld:headline", headline
        return "json-ld:name", name
    if name:
        return "json-ld:name", name
    return "json-ld:headline", headline


def shorten_title(raw: str, root: lhtml.HtmlElement, site_name: str | None) -> str:
    """``<title>`` minus the site's name (the heuristic of Readability.js ``_getArticleTitle``)."""
    title = norm(raw)
    if site_name:
        for sep in (" | ", " - ", " \u2013 ", " \u2014 ", " :: ", " · "):
            if title.endswith(sep + site_name):
                return title[: -len(sep + site_name)].strip()
            if title.startswith(site_name + sep):
                return title[len(site_name + sep):].strip()
    if title in _heading_texts(root):
        # The page's own headline says it whole: "Chiefs meet - first talks since..."
        # is one title, not a story and a site name.
        return title
    cur = title
    words = len(title.split())
    seps = list(_TITLE_SEP.finditer(title))
    if seps:
        cur = title[: seps[-1].start()]
        if len(cur.split()) < 3:
            cur = title[seps[0].end():]
    elif ": " in title:
        headings = {norm(h.text_content()) for h in root.iter("h1", "h2")}
        if title not in headings:
            cur = title[title.rfind(":") + 1:].strip()
            if len(cur.split()) < 3:
                cur = title[title.find(":") + 1:].strip()
            elif len(title[: title.find(":")].split()) > 5:
                cur = title
    elif len(title) > 150 or len(title) < 15:
        h1s = list(root.iter("h1"))
        if len(h1s) == 1:
            cur = norm(h1s[0].text_content())
    cur = norm(cur)
    cur_words = len(cur.split())
    hierarchical = any(m.group(0).strip() in "\\/>\u00bb" for m in seps)
    if cur_words <= 4 and (not hierarchical or cur_words != words - 1) and not (
            seps and cur in _heading_texts(root)):  # unless the page's headline confirms it
        cur = title
    return cur


def _heading_texts(root: lhtml.HtmlElement) -> set[str]:
    body = root.find("body")
    if body is None:
        return set()
    return {norm(el.text_content()) for el in body.iter("h1", "h2", "h3", "b", "strong")}


def split_byline(line: str) -> tuple[str, re.Match[str]] | None:
    """A "by X" line that goes on with a dateline, as the name and the dateline's match:
    "by Staff Writers Brussels (AFP) Feb 16, 2017" gives "Staff Writers" and the match
    of "Brussels (AFP) Feb 16, 2017". None for any other line."""
    by = _BY.match(line)
    agency = _AGENCY.search(line, by.end()) if by else None
    if by is None or agency is None:
        return None
    words = line[by.end():agency.start()]
    role = next(reversed(list(_BYLINE_ROLE.finditer(words))), None)  # "Staff Writers": the last
    if role is not None:
        name, place = words[:role.end()], words[role.end():]
    else:
        parts = words.split()
        size = _NAME_WORDS + 1 if len(parts) > _NAME_WORDS + 1 and _INITIAL.fullmatch(
            parts[1]) else _NAME_WORDS
        size = min(size, len(parts) - 1)
        if size < 1:
            return None
        name, place = " ".join(parts[:size]), " ".join(parts[size:])
    m = match_dateline(place.strip() + line[agency.start():])
    return (norm(name), m) if m and norm(name) else None


def match_dateline(text: str) -> re.Match[str] | None:
    """A wire dateline opening ``text``."""
    m = _DATELINE.match(text)
    if m is not None and m["bare_day"]:
        # No place: only a wire service's name makes a date in brackets a dateline
        # ("March 3 (Video)" is a caption's)
        return m if m["agency"] in WIRE_AGENCIES else None
    if m is None or m["agency"] in WIRE_AGENCIES or m["date"] or m["day"]:
        return m
    # Neither a wire service nor a date: a company and its ticker open a market report
    # the same way ("Northrop Grumman (NOC) - The company said"). With a dash, the place
    # in capitals still says a dateline, as AP's style writes it and local newsrooms
    # follow it ("LOS ANGELES (KABC) --"); a company's name is not written so.
    city = m["place"].split(",", 1)[0]  # "CAPE CANAVERAL, Fla.": the city in capitals
    if _ticker_of(city, m["agency"]):
        return None  # a company that writes its name in capitals: "NVIDIA (NVDA) -"
    return m if m["dash"] and len(city) > 1 and city.isupper() else None


def _ticker_of(name: str, bracket: str) -> bool:
    """Whether ``bracket`` reads as the stock ticker of ``name``: capital letters found in
    order in the name, from its first ("NVIDIA (NVDA)", "IBM (IBM)"). A newsroom's call
    sign or network is not so made of its city's name ("BOSTON (WBZ)", "NEW YORK (WABC)",
    "LOS ANGELES (CNS)")."""
    if not (bracket.isascii() and bracket.isalpha() and bracket.isupper()) \
            or name[:1] != bracket[0]:
        return False
    letters = iter(name.upper())
    return all(c in letters for c in bracket)  # a subsequence: `in` consumes the iterator


def dateline_only(text: str) -> str | None:
    """The dateline ``text`` is and nothing more ("Brussels (AFP) Feb 16, 2017 -"), or None:
    a line holding the story's first words besides is story text."""
    m = match_dateline(text)
    return norm(m["line"]) if m and not text[m.end():].strip(_DASHES) else None


def find_dateline(text: str) -> tuple[str, datetime | None] | None:
    """The first wire dateline in ``text``: ("Brussels (AFP)", 2017-02-16) or None."""
    # Anchored at each line's start: a dateline opens a block, and an anchored match
    # cannot backtrack through the whole page. A byline may open the dateline's line.
    for line in text.split("\n"):
        line = line.strip()
        split = split_byline(line) if _BY.match(line) else None
        m = split[1] if split else match_dateline(line) if line[:1].isupper() else None
        if m:
            return norm(m["line"]), (text_date(m["date"]) if m["date"] else None)
    return None


def text_lines(text: str) -> list[str]:
    """The non-empty lines of ``text``, whitespace collapsed."""
    return [" ".join(line.split()) for line in text.split("\n") if line and not line.isspace()]


class LazyLines(Sequence[str]):
    """:func:`text_lines` of a text, split on first use: the page's lines are read only
    when the story's own lines hold no dateline (a tenth of a millisecond a page)."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._lines: list[str] | None = None

    def _get(self) -> list[str]:
        if self._lines is None:
            self._lines = text_lines(self._text)
        return self._lines

    def __len__(self) -> int:
        return len(self._get())

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        return self._get()[i]


def opening_text(node: lhtml.HtmlElement, limit: int = 5000) -> str:
    """The opening text of the isolated story ``node`` (up to ``limit`` characters), a
    block a line, without the boxes set beside it."""
    return _block_text(node, limit, skip_boxes=True)


def story_lines(node: lhtml.HtmlElement, limit: int = 5000) -> list[str]:
    """The opening lines of the isolated story ``node`` (up to ``limit`` characters),
    without the boxes set beside it: what :func:`read_dateline` reads."""
    return text_lines(opening_text(node, limit))


# The boxes beside the story whose lines are kept (a dateline of theirs opens them).
_BOXES_READ = 30
_BOX_TEXT = 3000
# The story's header (kicker, headline, byline, dateline, a photo's caption) is at most
# this many lines above its first paragraph.
_HEADER_LINES = 8
_SENTENCE_END = re.compile(r"[.!?][\"'\u201d\u2019)]?(?:\s|$)")


def _is_prose(line: str, title: str | None) -> bool:
    """A paragraph of the story, not a header line (kicker, headline, byline, dateline)."""
    return line != title and (len(line) >= 150 or (
        len(line) >= 60 and _SENTENCE_END.search(line) is not None))


def find_story_dateline(story: Sequence[str], page: Sequence[str], title: str | None,
                        removed: Collection[str] = (),
                        alike: Callable[[str, str], bool] | None = None,
                        ) -> tuple[str, datetime | None] | None:
    """The story's dateline: in its own lines (``story``) up to its second paragraph, or
    else in the header lines just above that paragraph in the ``page``'s lines (a table
    layout's byline and dateline lines sit outside the block readability keeps), from the
    headline down. A dateline further down is another report's ("Previous Report" teasers,
    related boxes), and the ``removed`` lines (chrome extraction dropped) are never the
    story's; nor is one opening the second paragraph when ``alike`` says the first is a
    paragraph like it, one after the other (:func:`alike_paragraphs`)."""
    story = [line for line in story if line not in removed]
    if not story:
        return None
    prose = [i for i, line in enumerate(story) if _is_prose(line, title)][:2]
    first = prose[0] if prose else len(story) - 1
    found = find_dateline("\n".join(story[:first + 1]))
    if found is None and len(prose) > 1:
        # Up to the second paragraph: the first may be a standfirst (a deck of one summary
        # sentence) above the paragraph that opens with the dateline. A deck is set apart
        # from the story's paragraphs (a class, another tag or block, emphasis); the same
        # plain paragraph as the next is the story's own, and a dateline opening the next
        # is another report's, one the story goes on to quote.
        found = find_dateline("\n".join(story[first + 1:prose[1] + 1]))
        if found and prose[1] == first + 1 and alike is not None \
                and alike(story[first], story[prose[1]]):
            found = None
    if found or not page:
        return found
    anchor = story[first][:40]
    at = next((i for i, line in enumerate(page) if anchor in line), None)
    if at is None:
        return None
    start = max(0, at - _HEADER_LINES)
    for i in range(at - 1, start - 1, -1):
        if title and page[i] == title:
            start = i + 1
            break
    return find_dateline("\n".join(line for line in page[start:at + 1] if line not in removed))


def read_dateline(meta: PageMeta, story: Sequence[str], removed: Collection[str] = (),
                  title: str | None = None,
                  alike: Callable[[str, str], bool] | None = None) -> None:
    """Set ``meta``'s dateline from the isolated story (:func:`find_story_dateline`)."""
    found = find_story_dateline(story, meta.page_lines, title or meta.title,
                                {*removed, *meta.box_lines}, alike)
    if found:
        meta.dateline, meta.dateline_date = found
        meta.explain["dateline"] = "dateline text atop the story"


def fallback_date(meta: PageMeta, url: str, hinted: datetime | None = None,
                  fetched: datetime | None = None) -> tuple[datetime, str, str | None] | None:
    """The date when the page's metadata gives none: the story's dateline's, else a
    /YYYY/MM/DD/ date in the URL; with its source for --explain, and for a dateline that
    names no year, what its year was taken from.

    That year is the one putting the dateline's day nearest the first of: the URL's
    date, the feed's date of the item (``hinted``), the time the page was fetched
    (``fetched``; for a stored page, when it was first); never after that time. Not the
    latest day not after the URL's or feed's date: a story updated after it takes the
    update's day in its dateline, and would be dated a year back, below every entry of
    its feed and the first pruned by max_entries. None of them: no date."""
    if meta.dateline_date is not None:
        return meta.dateline_date, "dateline", None
    from_url = url_date(url)
    # The month and day a Reuters or UPI dateline names without a year ("WASHINGTON, Nov
    # 3 (Reuters)", or "Nov. 3 (UPI)" with no place): its own groups, as it was found
    m = _DATELINE.match(meta.dateline) if meta.dateline else None
    yearless = (m["day"] or m["bare_day"]) if m else None
    month = month_number(m["month"] or m["bare_month"]) if m and yearless else None
    if yearless and month:
        for ref, source in ((from_url, "the URL's date"), (hinted, "the feed's date"),
                            (fetched, "the fetch time")):
            if ref is not None:
                day = day_in_year(month, int(yearless), ref, until=fetched)
                if day is not None:
                    return day, "dateline", source
                break  # the best evidence found no such day: a later one is no better
    return (from_url, "url", None) if from_url else None


# A <time> the page marks as the story's publication date: schema.org's itemprop, hAtom's
# "published", WordPress's "entry-date", HTML5's pubdate attribute (from its drafts).
_PUBLISHED_TIME = re.compile(
    r"(?:^|[\s_-])(?:published|entry-date|post-date|pub-?date|date-?published)(?:$|[\s_-])", re.I)


def _story_time(root: lhtml.HtmlElement) -> tuple[datetime, str] | None:
    """The story's ``<time datetime>``: of the times nearest the headline (``<h1>``), in
    the smallest block holding it and any, one marked as the publication date, else the
    first after the headline, else the last before it. A page's other times (a "breaking
    news" ticker above the story, "related" and "recent" teasers below it) date other
    stories, and sit further from its headline than its own date line (above the headline
    or under it)."""
    body = root.find("body")
    headline = body.find(".//h1") if body is not None else None
    # How far out from the headline each of its blocks is (0: its parent). Keyed by the
    # elements, which the dict keeps alive: lxml gives a node one proxy while it lives.
    levels: dict[lhtml.HtmlElement, int] = {} if headline is None else {
        el: level for level, el in enumerate(headline.iterancestors())}
    best: list[tuple[int, bool, datetime, bool]] = []  # level, marked, date, after h1
    after_h1 = headline is None
    for el in root.iter("time", "h1"):
        if el is headline:
            after_h1 = True
            continue
        if el.tag != "time":
            continue
        parsed = parse_date(el.get("datetime")) or parse_date(el.get("pubdate"))
        if parsed is None:
            continue
        level = next((levels[a] for a in el.iterancestors() if a in levels), 0)
        marked = (el.get("itemprop") == "datePublished" or el.get("pubdate") is not None
                  or _PUBLISHED_TIME.search(el.get("class") or "") is not None)
        best.append((level, marked, parsed, after_h1))
    if not best:
        return None
    nearest = min(level for level, *_ in best)
    times = [t for t in best if t[0] == nearest]
    for _, marked, parsed, _after in times:
        if marked:
            return parsed, "<time datetime> marked published"
    for _, _marked, parsed, after in times:
        if after:
            return parsed, "<time datetime> after the headline"
    return times[-1][2], "<time datetime> before the headline"


def extract_meta(root: lhtml.HtmlElement, url: str) -> PageMeta:
    """Read every metadata source once and pick, per field, the most trusted one."""
    meta = PageMeta()
    ex = meta.explain
    props: dict[str, str] = {}
    # As Readability.js: ``property`` may hold several space-separated names, ``name`` is
    # normalized ("DC.title" -> "dc:title"), and a later tag overrides an earlier one.
    for el in root.iter("meta"):
        content = (el.get("content") or "").strip()
        if not content:
            continue
        prop = el.get("property")
        if prop:
            for key in prop.lower().split():
                props[key] = content
        name = el.get("name") or el.get("itemprop")
        if name:
            props["".join(name.lower().split()).replace(".", ":")] = content
        if (el.get("http-equiv") or "").lower() == "content-language":
            props.setdefault("content-language", content)
    ld: dict[str, Any] = {}
    for item in _jsonld_items(root):
        types = item.get("@type")
        tname = " ".join(types) if isinstance(types, list) else str(types or "")
        if _ARTICLE_TYPES.search(tname) and not ld:
            ld = item
    meta.site_name = props.get("og:site_name")
    meta.description = props.get("og:description") or props.get("description")

    # Title: JSON-LD headline, then title metas, then <title> minus the site name.
    title_tag = root.find(".//title")
    raw_title = norm(title_tag.text_content()) if title_tag is not None else ""
    meta.raw_title = raw_title
    for source, value in (
        _jsonld_title(ld, raw_title),
        ("meta:dc:title", props.get("dc:title") or props.get("dcterm:title")),
        ("meta:og:title", props.get("og:title")),
        ("meta:title", props.get("title")),
        ("meta:twitter:title", props.get("twitter:title")),
        ("meta:parsely-title", props.get("parsely-title")),
    ):
        if value and norm(value):
            meta.title, ex["title"] = norm(value), source
            break
    if not meta.title and raw_title:
        meta.title, ex["title"] = shorten_title(raw_title, root, meta.site_name), "<title>"
    if not meta.title:
        h1 = root.find(".//h1")
        if h1 is not None and norm(h1.text_content()):
            meta.title, ex["title"] = norm(h1.text_content()), "<h1>"

    # Author: JSON-LD, metas, rel=author, byline elements, "by X" text.
    for source, value in (
        ("json-ld:author", _names(ld.get("author"))),
        ("meta:dc:creator", props.get("dc:creator") or props.get("dcterm:creator")),
        ("meta:author", props.get("author")),
        ("meta:article:author", props.get("article:author")),
        ("meta:parsely-author", props.get("parsely-author")),
    ):
        if value and not value.startswith(("http://", "https://")):
            meta.author, ex["author"] = norm(value), source
            break
    if not meta.author:
        meta.author, src = _byline(root)
        if meta.author:
            ex["author"] = src

    # Dates.
    for source, value in (
        ("json-ld:datePublished", ld.get("datePublished")),
        ("meta:article:published_time", props.get("article:published_time")),
        ("meta:datePublished", props.get("datepublished")),
        ("meta:og:published_time", props.get("og:published_time")),
        ("meta:dc:date", props.get("dc:date:issued") or props.get("dc:date")
         or props.get("dcterms:created")),
        ("meta:parsely-pub-date", props.get("parsely-pub-date")),
        ("meta:pubdate", props.get("pubdate") or props.get("publish-date")
         or props.get("sailthru:date") or props.get("date")),
    ):
        parsed = parse_date(value) if isinstance(value, str) else None
        if parsed:
            meta.published, ex["published"] = parsed, source
            break
    for source, value in (
        ("json-ld:dateModified", ld.get("dateModified")),
        ("meta:article:modified_time", props.get("article:modified_time")),
        ("meta:og:updated_time", props.get("og:updated_time")),
    ):
        parsed = parse_date(value) if isinstance(value, str) else None
        if parsed:
            meta.updated, ex["updated"] = parsed, source
            break
    if meta.published is None:
        found_time = _story_time(root)
        if found_time:
            meta.published, ex["published"] = found_time

    # The dateline is the story's: it is read once the story is isolated (read_dateline),
    # from the story's lines and the header lines above them, which are looked up in the
    # page's text as it is here, before the page is taken apart.
    body = root.find("body")
    if body is not None:
        boxes: list[lhtml.HtmlElement] = []
        meta.page_lines = LazyLines(_block_text(body, 20000, skip_boxes=True, boxes=boxes))
        # Readability's copy of the page has lost the style attributes that float some
        # boxes: their lines are known by their text.
        meta.box_lines = {line for box in boxes[:_BOXES_READ]
                          for line in text_lines(_block_text(box, _BOX_TEXT))}

    # Lead image, language, canonical URL.
    image = _image(ld.get("image")) or props.get("og:image") or props.get("og:image:url") \
        or props.get("twitter:image") or props.get("twitter:image:src")
    if image:
        meta.lead_image = urljoin(url, image.strip())
        ex["lead_image"] = "metadata"
    lang = root.get("lang") or root.get("xml:lang") or props.get("content-language") \
        or props.get("og:locale") or (ld.get("inLanguage") if isinstance(ld.get("inLanguage"), str)
                                      else None)
    if lang:
        meta.lang = lang.strip().replace("_", "-")[:35] or None
    canon = None
    for link in root.iter("link"):
        if "canonical" in (link.get("rel") or "").lower().split() and link.get("href"):
            canon = link.get("href")
            break
    canon = canon or props.get("og:url")
    if canon:
        absolute = urljoin(url, canon.strip())
        # A control character (e.g. from "&#1;") makes no usable URL, and the canonical
        # URL becomes the entry's id and link: the page's own URL stands instead.
        if same_site(absolute, url) and not _CONTROL.search(absolute):
            meta.canonical_url = absolute
    return meta


_CONTROL = re.compile(r"[\x00-\x20\x7f]")


_BLOCKS = frozenset({
    "p", "div", "br", "td", "th", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table",
    "section", "article", "header", "footer", "blockquote", "dd", "dt", "ul", "ol", "hr",
    "aside", "nav", "main", "pre", "figure", "figcaption", "form", "address",
})


# Boxes set beside the story's text: an inset report, a sidebar, a related box. A dateline
# in one is its own report's ("Moscow (AFP) Feb 15, 2017 - ..." in an inset above a story
# whose dateline opens its first paragraph), never the story's.
BOX_TAGS = frozenset({"table", "div", "aside", "section"})
_BOX_CLASS = re.compile(r"(?:^|[\s_-])(?:side-?bar|related\w*|inset\w*)(?:$|[\s_-])", re.I)
_FLOAT = re.compile(r"float\s*:\s*(?:left|right)", re.I)


def is_box(el: lhtml.HtmlElement) -> bool:
    return el.tag == "aside" or (el.get("align") or "").lower() in ("left", "right") or bool(
        _FLOAT.search(el.get("style") or "")
        or _BOX_CLASS.search(f"{el.get('class') or ''} {el.get('id') or ''}"))


def _block_text(root: lhtml.HtmlElement, limit: int, *, skip_boxes: bool = False,
                boxes: list[lhtml.HtmlElement] | None = None) -> str:
    """Text with a newline at every block boundary, stopping after ``limit`` characters;
    without the text of boxes beside the story (``skip_boxes``), which are added to
    ``boxes`` when given, nor that of photo captions."""
    parts: list[str] = []
    size = 0
    walk = etree.iterwalk(root, events=("start", "end"))
    for event, el in walk:
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag in ("script", "style", "noscript", "template"):
            if event == "start":
                # Skip its text but keep its tail.
                pass
            else:
                if el.tail:
                    parts.append(el.tail)
            continue
        if event == "start":
            if tag in _BLOCKS:
                parts.append("\n")
            if skip_boxes and tag in BOX_TAGS and el is not root and is_box(el):
                if boxes is not None:
                    boxes.append(el)
                walk.skip_subtree()
                continue
            if skip_boxes and tag == "figcaption":
                # A photo's caption is set beside the story's text too: as long as a
                # paragraph, it would be taken for the story's first one, above the
                # paragraph its dateline opens (find_story_dateline).
                walk.skip_subtree()
                continue
            if el.text:  # (a script's or style's text was skipped above)
                parts.append(el.text)
                size += len(el.text)
        else:
            if tag in _BLOCKS:
                parts.append("\n")
            if el.tail and el is not root:  # the root's tail is not its text
                parts.append(el.tail)
                size += len(el.tail)
        if size > limit:
            break
    return "".join(parts)


# Inline markup that may wrap a whole paragraph (a bold deck, a CMS's span in each one).
_WRAPPERS = frozenset({"b", "strong", "i", "em", "small", "big", "span", "font"})


def _paragraph_look(p: lhtml.HtmlElement) -> tuple[dict[str, str], str | None] | None:
    """How paragraph ``p`` is set: its attributes and the inline element wrapping it whole,
    if any; None for one holding an image (a photo and its caption)."""
    if next(p.iter("img"), None) is not None:
        return None
    children = [c for c in p if isinstance(c.tag, str)]
    wrapper = children[0].tag if len(children) == 1 and children[0].tag in _WRAPPERS \
        and not (p.text or "").strip() and not (children[0].tail or "").strip() else None
    return dict(p.attrib), wrapper


def alike_paragraphs(node: lhtml.HtmlElement) -> Callable[[str, str], bool]:
    """For :func:`find_story_dateline`: whether in ``node`` the line ``a`` is the text of a
    ``<p>`` and ``b`` that of the ``<p>`` right after it, set alike (the same attributes,
    the same inline element wrapping each whole or none, no image). Read only when asked
    (rarely)."""

    def alike(a: str, b: str) -> bool:
        for p in node.iter("p"):
            if norm(p.text_content()) != a:
                continue
            after = p.getnext()
            while after is not None and not isinstance(after.tag, str):  # a comment
                after = after.getnext()
            look = _paragraph_look(p)
            return (after is not None and after.tag == "p" and not (p.tail or "").strip()
                    and look is not None and look == _paragraph_look(after)
                    and norm(after.text_content()) == b)
        return False

    return alike


def first_line(el: lhtml.HtmlElement, limit: int = 300) -> str:
    """``el``'s first line of text (up to a line break or a block), whitespace
    collapsed: a byline's name, a box's heading."""
    return next((norm(line) for line in _block_text(el, limit).split("\n") if line.strip()), "")


# A byline element's own name part (``<a class="author__name">``, ``itemprop=name``, hCard
# ``fn``): the rest of the element is a job title, a date or a "time ago".
_NAME_PART = re.compile(r"(?:author|byline|writer)[\w-]*name|\bfn\b|author-link", re.I)
# Text after a separator in a byline is a date, a reading time or a role ("X • 8h").
_BYLINE_SEP = re.compile(r"\s+[\u2022|\u00b7]\s+.*$", re.S)
# Not names: labels ("About the author") and dates/times shown in author-classed spans.
_NOT_A_NAME = re.compile(r"\bauthor|\b(?:1[89]|20)\d\d\b|\d{1,2}:\d\d", re.I)


def _byline_name(el: lhtml.HtmlElement) -> str | None:
    part = el.find('.//*[@itemprop="name"]')
    if part is None:
        part = next((d for d in el.iterdescendants() if isinstance(d.tag, str)
                     and _NAME_PART.search(f"{d.get('class') or ''} {d.get('id') or ''}")
                     and norm(d.text_content())), None)
    text = norm((part if part is not None else el).text_content())
    text = _BYLINE_SEP.sub("", text)
    split = split_byline(text)
    m = _BYLINE.match(text)
    text = split[0] if split else m["name"] if m else text
    if not 2 < len(text) < 80 or text.lower().startswith("http") or _NOT_A_NAME.search(text):
        return None
    return text


def _byline(root: lhtml.HtmlElement) -> tuple[str | None, str]:
    """The byline nearest the headline: rel=author links, ``itemprop=author`` and
    byline/author/writer classes (the signals of Readability.js ``_checkByline``), the
    first one after the ``<h1>`` or else the last one before it, because author lists in
    navigation, teasers and "more by" boxes use the same classes."""
    body = root.find("body")
    start = body.find(".//h1") if body is not None else None
    before: tuple[str, str] | None = None
    after_h1 = start is None
    for el in root.iter():
        if el is start:
            after_h1 = True
            continue
        if not isinstance(el.tag, str):
            continue
        if "author" in (el.get("rel") or "").lower().split():
            source = "rel=author"
        elif el.get("itemprop") == "author" or _AUTHOR_CLASS.search(
                f"{el.get('class') or ''} {el.get('id') or ''}"):
            source = "byline element"
        else:
            continue
        name = _byline_name(el)
        if not name:
            continue
        if after_h1:
            return name, source
        before = (name, source)
    if before is not None:
        return before
    body = root.find("body")
    if body is None:
        return None, ""
    for el in body.iter("i", "em", "span", "p", "div", "font", "b", "strong", "address"):
        text = el.text_content()
        if len(text) > 90:
            continue
        # its first line: "by Staff Writers<br>Brussels (AFP)..." would otherwise read
        # as one name, text_content() joining the lines without a space; and of that
        # line, the name only when the dateline follows on it.
        line = first_line(el, 90)
        split = split_byline(line)
        m = _BYLINE.match(line)
        name = split[0] if split else m["name"] if m else ""
        if name[:1].isupper() and len(name.split()) <= 6:
            return name, '"by X" text'
    return None, ""
