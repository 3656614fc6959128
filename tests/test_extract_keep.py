"""What is kept of a page for re-extraction (feedsvc.extract.keep)."""

from __future__ import annotations

import pytest

from feedsvc.extract import extract_article
from feedsvc.extract.keep import slim_page
from tests.helpers import SHARED, shared_path

PAGE = b"""<html><head><title>T</title>
<script>var big = "</p>" + 1;</script>
<script type="application/ld+json">{"@type":"NewsArticle","datePublished":"2017-02-16T10:00:00Z"}</script>
<style>p { color: red }</style><!-- tracking --><!--[if IE]><p>old</p><![endif]-->
</head><body><SCRIPT SRC="/x.js"></SCRIPT><p>Story.</p></body></html>"""


def test_scripts_styles_comments_dropped_jsonld_kept() -> None:
    slim = slim_page(PAGE)
    assert b"var big" not in slim and b"/x.js" not in slim
    assert b"color: red" not in slim and b"tracking" not in slim
    assert b"application/ld+json" in slim and b"datePublished" in slim
    assert b"<!--[if IE]>" in slim
    assert b"<p>Story.</p>" in slim


def test_downlevel_revealed_conditional_comment_keeps_what_follows() -> None:
    # "<!-->" closes the comment it opens (an empty comment in HTML), so the page between
    # it and "<!--<![endif]-->" is markup, not a comment to drop.
    page = (b"<!DOCTYPE html><!--[if lt IE 9]><html class='ie'><![endif]-->"
            b"<!--[if !IE]><!--><html><!--<![endif]--><head><title>T</title></head>"
            b"<body><p>Story.</p><!-->x<!--->y</body></html>")
    slim = slim_page(page)
    assert b"<html><" in slim and b"<p>Story.</p>" in slim and b"x" in slim and b"y" in slim


def test_a_script_tag_inside_a_comment_is_only_comment() -> None:
    page = b"<body><!-- <script src=x> --><p>Story one.</p><script>var a;</script><p>Two.</p>"
    assert slim_page(page) == b"<body><p>Story one.</p><p>Two.</p>"


def test_extraction_of_the_slim_page_is_the_same() -> None:
    page = shared_path("pages/spacedaily-superpowers.html").read_bytes()
    url = "https://www.spacedaily.com/reports/x_999.html"
    a, b = extract_article(page, url), extract_article(slim_page(page), url)
    assert (a.title, a.author, a.published, a.text) == (b.title, b.author, b.published, b.text)
    assert len(slim_page(page)) < len(page)


CORPUS = SHARED / "corpus" / "mozilla-readability" / "test-pages"


@pytest.mark.parametrize("name", ["royal-road", "seattletimes-1", "wapo-1", "buzzfeed-1", "mozilla-1"])
def test_corpus_pages_extract_from_their_slim_copy(name: str) -> None:
    """Pages using conditional comments around <html>: their stored copy must still
    extract (re-extraction after a rule change reads only that copy)."""
    page = shared_path(f"corpus/mozilla-readability/test-pages/{name}/source.html").read_bytes()
    url = f"https://example.com/{name}"
    original = extract_article(page, url, time_budget=None).text
    assert extract_article(slim_page(page), url, time_budget=None).text == original
