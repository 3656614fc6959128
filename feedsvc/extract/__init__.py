"""Extraction: one entry point that turns a fetched page into the clean story (issue #4).

``extract_article(html, url)`` parses the page once, reads its metadata, isolates the story
with readability-lxml's scoring plus inset recovery and boilerplate pruning (or a site
rule's ``body:``), sanitizes it with nh3 and returns an :class:`ExtractedArticle`.
It is a plain synchronous function so the pipeline can run it in a process pool.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from functools import cache
from typing import Any
from urllib.parse import urljoin

from lxml import etree
from lxml import html as lhtml

from ..budget import OverBudget, within
from ..errors import ExtractError
from ..models import ExtractedArticle, LinkHint
from ..xmltext import xml_safe
from .charset import decode_html
from .clean import fingerprint, finish_tree, resolve_lazy_images, sanitize, visible_text
from .dates import parse_date
from .meta import (
    alike_paragraphs,
    extract_meta,
    fallback_date,
    norm,
    opening_text,
    read_dateline,
    story_lines,
    text_lines,
)
from .readable import (
    Readable,
    drop_bylines,
    drop_story_header,
    is_report,
    prune_boilerplate,
    text_len,
)
from .rules import SiteRule, SiteRules, load_site_rules, parse_rule
from .urls import canonical_url

__all__ = [
    "ExtractedArticle", "LinkHint", "SiteRule", "SiteRules", "canonical_url", "extract_article",
    "fingerprint", "join_pages", "load_site_rules", "parse_rule",
]


# Sources of a date without a time of day (midnight UTC of the day they name).
_DAY_ONLY = {"dateline": "dateline", "url": "URL"}


def _on_day(when: datetime, day: datetime) -> bool:
    """Whether the instant ``when`` falls on the calendar ``day`` (midnight UTC) in some
    time zone, UTC-12 to UTC+14: the day a dateline names is the place's own."""
    return day - timedelta(hours=14) <= when < day + timedelta(hours=36)


def extract_article(
    html: bytes | str,
    url: str,
    headers: Mapping[str, str] | None = None,
    *,
    hint: LinkHint | None = None,
    rules: SiteRules | None = None,
    time_budget: float | None = 10.0,
    fetched: datetime | None = None,
) -> ExtractedArticle:
    """Extract the story of one page.

    ``headers`` (the HTTP response headers) give the charset; ``hint`` is what the feed or
    index said of the link (fallback title/author/date); ``rules`` are the site rules.
    ``fetched`` is when the page was fetched (a stored page's: when it was first), the
    last evidence of the year a dateline leaves out ("WASHINGTON, Nov 3 (Reuters) -"),
    after the URL's date and the hint's, and the latest that day may be: given, never
    read from the clock here, so that the same page extracts the same way again.
    Raises :class:`ExtractError` when no story is found or the time budget is exceeded.
    """
    try:
        with within(time_budget):
            return _extract(html, url, headers, hint, rules, fetched)
    except OverBudget:
        raise ExtractError(f"{url}: extraction took longer than {time_budget} s") from None
    except ExtractError:
        raise
    except Exception as exc:  # lxml/readability errors must not leak past this stage
        raise ExtractError(f"{url}: {type(exc).__name__}: {exc}") from exc


def _xpath_first_text(root: lhtml.HtmlElement, exprs: Sequence[str]) -> tuple[str, str] | None:
    for expr in exprs:
        try:
            found = root.xpath(expr)
        except etree.XPathError:
            continue
        values = found if isinstance(found, list) else [found]
        for item in values:
            text = norm(item.text_content() if isinstance(item, lhtml.HtmlElement) else str(item))
            if text:
                return text, expr
    return None


def _xpath_link(root: lhtml.HtmlElement, exprs: Sequence[str], url: str) -> str | None:
    for expr in exprs:
        try:
            found = root.xpath(expr)
        except etree.XPathError:
            continue
        for item in found if isinstance(found, list) else [found]:
            href = str(item.get("href") or "") if isinstance(item, lhtml.HtmlElement) \
                else str(item)
            if href and href.strip():
                return urljoin(url, href.strip())
    return None


def _apply_strip(root: lhtml.HtmlElement, rule: SiteRule) -> None:
    doomed: list[Any] = []
    for expr in rule.strip:
        try:
            doomed.extend(x for x in root.xpath(expr) if isinstance(x, lhtml.HtmlElement))
        except etree.XPathError:
            continue
    for token in rule.strip_id_or_class:
        token = token.strip("'\"")
        doomed.extend(root.xpath(
            "//*[contains(@class, $t) or contains(@id, $t)]", t=token))
    for token in rule.strip_image_src:
        token = token.strip("'\"")
        doomed.extend(root.xpath("//img[contains(@src, $t)]", t=token))
    for el in doomed:
        if el.getparent() is not None:
            el.drop_tree()


def _extract(html: bytes | str, url: str, headers: Mapping[str, str] | None,
             hint: LinkHint | None, rules: SiteRules | None,
             fetched: datetime | None) -> ExtractedArticle:
    text, charset_source = decode_html(html, headers)
    rule = rules.for_host(url) if rules else None
    explain: dict[str, str] = {"charset": charset_source}
    if rule:
        for find, repl in rule.replacements:
            text = text.replace(find, repl)
        explain["rule"] = rule.name
    text = xml_safe(text)
    if not text.strip():
        raise ExtractError(f"{url}: empty page")
    try:
        # huge_tree: libxml2 otherwise stops building the tree 256 levels down, and a
        # table-era page of unclosed <font> tags loses the rest of its story there. The
        # depth stays bounded (2048), as do the body (max_page_bytes) and the time spent.
        root = lhtml.document_fromstring(text, parser=lhtml.HTMLParser(huge_tree=True))
    except (etree.ParserError, ValueError) as exc:
        raise ExtractError(f"{url}: unparseable HTML: {exc}") from exc
    resolve_lazy_images(root)
    # Every relative URL of the story resolves against the page's <base href>, if any
    # (HTML's "document base URL"), else the page's own URL.
    base = _document_base(root, url)
    meta = extract_meta(root, url)
    explain.update(meta.explain)

    title, author, published = meta.title, meta.author, meta.published
    single_page_url = next_page_url = None
    node: lhtml.HtmlElement | None = None
    doc: Readable | None = None
    if rule:
        _apply_strip(root, rule)
        found = _xpath_first_text(root, rule.title)
        if found:
            title, explain["title"] = found[0], f"rule title: {found[1]}"
        found = _xpath_first_text(root, rule.author)
        if found:
            author, explain["author"] = found[0], f"rule author: {found[1]}"
        found = _xpath_first_text(root, rule.date)
        if found and parse_date(found[0]):
            published, explain["published"] = parse_date(found[0]), f"rule date: {found[1]}"
        single_page_url = _xpath_link(root, rule.single_page_link, url)
        next_page_url = _xpath_link(root, rule.next_page_link, url)
        node = _rule_body(root, rule, base, explain)
    if node is None:
        # No URL for readability: given one it rewrites every link of the whole page
        # absolute (a sixth of its time on news pages); only the story's links need it,
        # done below. Without a URL it still resolves ``<base href>`` first.
        doc = Readable(root, None)
        # keep_all_images: readability drops a <div> holding only an image (a story's
        # photo) as "no content"; trackers and icons are removed by our own cleaning.
        # Measured on the Mozilla corpus: 663 of 698 expected images kept, against 508,
        # with text recall and precision unchanged.
        doc.summary(keep_all_images=True)
        result = doc.result
        if result is None:
            raise ExtractError(f"{url}: no content found")
        node = result.find(".//body/div") if result.tag == "html" else result
        if node is None:
            node = result
        _make_links_absolute(node, base)
        best = doc.best_elem
        # the element as the page writes it: <article>, <div class="story">
        cls = f' class="{best.get("class")}"' if best is not None and best.get("class") else ""
        explain["content"] = "readability" + (
            f" best <{best.tag}{cls}>" if best is not None else " (no candidate: whole body)")
        if doc.recovered:
            explain["content"] += f"; recovered {len(doc.recovered)} story box(es) beside it"
    # "prune: no" in a site rule: its body is the story as the rule's author chose it.
    prune = rule is None or rule.prune or not explain.get("content", "").startswith("rule body")
    # Lines that are not the story's own: chrome pruned from it, reports recovered beside it.
    others: set[str] = set()
    boxes = doc.recovered + doc.reports if doc is not None else []
    lines: list[str] | None = None  # the story's lines, once pruned
    if prune:
        before = opening_text(node)
        dropped = prune_boilerplate(node, boxes)
        if dropped:
            explain["pruned"] = "; ".join(dropped[:10])
            lines = story_lines(node)
            others = set(text_lines(before)).difference(lines)
        else:
            lines = text_lines(before)  # nothing pruned: the same text
    if lines is None:
        lines = story_lines(node)
    # Inset reports beside the story or among its blocks, each with a dateline of its own;
    # the story's length is measured only when a box may be one.
    most = cache(lambda: text_len(node) // 2)
    inner = list(node) + (list(doc.best_elem) if doc is not None and doc.best_elem is not None
                          and doc.best_elem is not node else [])
    for box in boxes + inner:
        if is_report(box, title, most):
            others.update(story_lines(box))
    # A quotation in the story (another report quoted whole, its dateline and all) is
    # not the story's own opening: the dateline is read up to its second paragraph.
    for quote in node.iter("blockquote"):
        if text_len(quote) < most():
            others.update(story_lines(quote))
    # The dateline is read from the story now isolated and pruned (and the header lines
    # above it): never from a teaser or box lower on the page, nor one pruned as chrome.
    read_dateline(meta, lines, others, title, alike_paragraphs(node))
    day_only: str | None = None  # what gave the date, when it is a day without its time
    if published is None:
        fallback = fallback_date(meta, url, hint.published if hint is not None else None,
                                 fetched)
        if fallback:
            published, source, year = fallback
            day_only = _DAY_ONLY[source]
            explain["published"] = f"{source} (its year from {year})" if year else source
    if meta.dateline:
        explain["dateline"] = meta.explain["dateline"]
    if prune:
        if drop_bylines(node):
            explain["byline"] = "byline block dropped from story"
        header = drop_story_header(node, author, meta.dateline)
        if header:
            explain["header"] = "; ".join(header)
    if title:
        # The title is shown as the entry title; a heading repeating it is dropped.
        for heading in node.iter("h1", "h2"):
            text = norm(heading.text_content())
            if text and (text == title or title in text or text in meta.raw_title):
                heading.drop_tree()
            break
    finish_tree(node, base)
    content_html = sanitize(lhtml.tostring(node, encoding="unicode", method="html"))
    story_text = visible_text(content_html)
    if not story_text:
        raise ExtractError(f"{url}: no content found")

    if published is None and hint is not None and hint.published is not None:
        published, explain["published"] = hint.published, "feed hint"
    elif published is not None and hint is not None and hint.published is not None \
            and day_only and _on_day(hint.published, published):
        # A dateline or URL gives a day, not a time: the story would sort at midnight,
        # below the stories its feed says came out before it that day.
        published, explain["published"] = hint.published, (
            f"feed hint (the {day_only}'s day, with its time)")
    if not title and hint is not None and hint.title:
        title, explain["title"] = hint.title, "feed hint"
    if not author and hint is not None and hint.author:
        author, explain["author"] = hint.author, "feed hint"
    lead_image = meta.lead_image
    if lead_image is None:
        img = next(node.iter("img"), None)
        if img is not None and img.get("src"):
            lead_image, explain["lead_image"] = img.get("src"), "first image in story"
    return ExtractedArticle(
        title=xml_safe(title or ""),
        content_html=content_html,
        text=story_text,
        author=xml_safe(author) if author else None,
        published=published,
        updated=meta.updated,
        dateline=meta.dateline,
        lead_image=lead_image,
        lang=meta.lang,
        canonical_url=canonical_url(meta.canonical_url) if meta.canonical_url else None,
        explain=explain,
        single_page_url=single_page_url,
        next_page_url=next_page_url,
    )


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _make_links_absolute(node: lhtml.HtmlElement, base: str) -> None:
    """lxml's ``make_links_absolute``, except that a link it cannot resolve, or one
    holding a control character (from an entity such as ``&#x1A;``, which the HTML
    parser keeps but lxml refuses to write back), is dropped: such a link had failed the
    whole article (security review, session 6)."""

    def absolute(link: str) -> str | None:
        if _CONTROL.search(link):
            return None
        try:
            return urljoin(base, link)
        except ValueError:
            return None

    node.rewrite_links(absolute, resolve_base_href=False)


def _document_base(root: lhtml.HtmlElement, url: str) -> str:
    """The page's first ``<base href>`` resolved against ``url`` (web URLs only)."""
    for base in root.iter("base"):
        href = (base.get("href") or "").strip()
        if href:
            resolved = urljoin(url, href)
            return resolved if resolved.startswith(("http://", "https://")) else url
    return url


def _rule_body(root: lhtml.HtmlElement, rule: SiteRule, url: str,
               explain: dict[str, str]) -> lhtml.HtmlElement | None:
    for expr in rule.body:
        try:
            found = [x for x in root.xpath(expr) if isinstance(x, lhtml.HtmlElement)]
        except etree.XPathError:
            continue
        if not found:
            continue
        container = lhtml.Element("div")
        for el in found:
            container.append(el)  # moves it; later matches of nested nodes are fine
        for junk in list(container.iter("script", "style", "noscript", "form", "iframe")):
            junk.drop_tree()
        _make_links_absolute(container, url)
        explain["content"] = f"rule body: {expr}"
        if not rule.prune:
            explain["content"] += " (prune: no)"
        if norm(container.text_content()) or next(container.iter("img"), None) is not None:
            return container
    # A body rule that matches nothing falls back to the generic extractor (issue #4 item 4).
    if rule.body:
        explain["content_rule"] = "rule body matched nothing; generic extractor used"
    return None


def join_pages(first: ExtractedArticle, more: Sequence[ExtractedArticle]) -> ExtractedArticle:
    """Join the pages of a multi-page article (``next_page_link``): the first page's
    metadata, every page's story in order; a page repeating an earlier one is skipped."""
    seen = {fingerprint(first.text)}
    html_parts, text_parts = [first.content_html], [first.text]
    for page in more:
        fp = fingerprint(page.text)
        if fp in seen:
            continue
        seen.add(fp)
        html_parts.append(page.content_html)
        text_parts.append(page.text)
    explain = dict(first.explain)
    explain["pages"] = str(len(html_parts))
    return replace(
        first,
        content_html="\n".join(html_parts),
        text="\n".join(text_parts),
        explain=explain,
        next_page_url=None,
        single_page_url=None,
    )
