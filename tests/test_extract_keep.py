"""What is kept of a page for re-extraction (feedsvc.extract.keep)."""

from __future__ import annotations

from feedsvc.extract import extract_article
from feedsvc.extract.keep import slim_page
from tests.helpers import shared_path

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


def test_extraction_of_the_slim_page_is_the_same() -> None:
    page = shared_path("pages/spacedaily-superpowers.html").read_bytes()
    url = "https://www.spacedaily.com/reports/x_999.html"
    a, b = extract_article(page, url), extract_article(slim_page(page), url)
    assert (a.title, a.author, a.published, a.text) == (b.title, b.author, b.published, b.text)
    assert len(slim_page(page)) < len(page)
