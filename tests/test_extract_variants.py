"""Pages of common news CMS layouts as a reader of those sites sees them, beyond the
SpaceDaily network's table layout: the story's metadata and text, never the chrome's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from feedsvc.extract import extract_article
from feedsvc.models import LinkHint
from tests.network_pages import PARAS, TEASER_TITLE, TITLE

STORY = "".join(f"<p>{p}</p>" for p in PARAS)


def wordpress_page(article_time: str, *, ticker: bool = True) -> str:
    """A WordPress theme's single post with no date metadata in <head> (no SEO plugin):
    a "Breaking" ticker of other posts with their times above the post, the post's own
    ``<time>`` under its title, Jetpack's share and related-posts blocks (dated), comments
    and the recent-posts widget."""
    ticker_html = (
        '<div class="ticker"><span>Breaking:</span><ul>'
        '<li><a href="/2025/11/02/a/">Launch scrubbed again</a> '
        '<time datetime="2025-11-02T08:00:00+00:00">2 hours ago</time></li>'
        '<li><a href="/2025/11/01/b/">New crew named</a> '
        '<time datetime="2025-11-01T08:00:00+00:00">Yesterday</time></li></ul></div>'
    ) if ticker else ""
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>{TITLE} &#8211; Orbital Watch</title></head><body class="single">
<header id="masthead"><div class="site-title"><a href="/">Orbital Watch</a></div>{ticker_html}
<nav><ul><li><a href="/news/">News</a></li><li><a href="/launches/">Launches</a></li></ul></nav>
</header>
<main id="main"><article class="post type-post">
<header class="entry-header"><h1 class="entry-title">{TITLE}</h1>
<div class="entry-meta"><span class="posted-on">{article_time}</span>
<span class="byline"> by <span class="author vcard"><a class="url fn n" href="/author/jane/">Jane
 Doe</a></span></span></div></header>
<div class="entry-content">{STORY}
<div class="sharedaddy sd-sharing-enabled"><h3 class="sd-title">Share this:</h3><ul>
<li><a href="#">Twitter</a></li><li><a href="#">Facebook</a></li></ul></div>
<div id="jp-relatedposts" class="jp-relatedposts"><h3 class="jp-relatedposts-headline">
<em>Related</em></h3><div class="jp-relatedposts-post"><a href="/2025/10/30/c/">{TEASER_TITLE}</a>
<time datetime="2025-10-30">October 30, 2025</time></div></div></div>
<footer class="entry-footer"><span class="cat-links">Posted in <a href="/news/">News</a></span>
</footer></article>
<div id="comments" class="comments-area"><div id="respond"><h3>Leave a Reply</h3>
<form action="/wp-comments-post.php"><textarea name="comment"></textarea></form></div></div>
</main>
<aside id="secondary" class="widget-area"><section class="widget widget_recent_entries">
<h2>Recent Posts</h2><ul><li><a href="/x/">Art and space enter a new dimension</a>
<time datetime="2025-10-29">October 29, 2025</time></li></ul></section></aside>
<footer id="colophon"><p>&copy; 2025 Orbital Watch. Proudly powered by WordPress</p></footer>
</body></html>"""


POST_TIME = "2017-02-14T09:30:00+00:00"


@pytest.mark.parametrize("ticker", [True, False])
@pytest.mark.parametrize("article_time", [
    f'<time class="entry-date published" datetime="{POST_TIME}">February 14, 2017</time>',
    f'<time datetime="{POST_TIME}">February 14, 2017</time>',
    f'<time itemprop="datePublished" datetime="{POST_TIME}">February 14, 2017</time>',
], ids=["entry-date class", "plain", "itemprop"])
def test_the_posts_time_not_a_tickers_or_a_related_posts(article_time: str, ticker: bool) -> None:
    art = extract_article(wordpress_page(article_time, ticker=ticker).encode(),
                          "https://orbitalwatch.example/moon-base/")
    assert art.published == datetime(2017, 2, 14, 9, 30, tzinfo=UTC)
    assert art.title == TITLE and art.author == "Jane Doe"
    assert [p[:40] for p in PARAS if p not in art.text] == []
    for chrome in ("Breaking", "Share this", "Related", TEASER_TITLE, "Leave a Reply",
                   "Recent Posts", "Proudly powered"):
        assert chrome not in art.text


def test_a_time_above_the_headline_is_the_nearest_one_before_it() -> None:
    """No <time> after the headline: the last one before it (the post's date line above
    its title), not the ticker's first."""
    page = wordpress_page("").replace(
        '<h1 class="entry-title">',
        f'<div class="date"><time datetime="{POST_TIME}">Feb 14</time></div>'
        '<h1 class="entry-title">').replace(
        '<time datetime="2025-10-30">October 30, 2025</time>', "").replace(
        '<time datetime="2025-10-29">October 29, 2025</time>', "")
    art = extract_article(page.encode(), "https://orbitalwatch.example/moon-base/")
    assert art.published == datetime(2017, 2, 14, 9, 30, tzinfo=UTC)


def newspaper_page(opening: str) -> str:
    """A newspaper CMS's wire story: the dateline opens the first paragraph, a "Related
    Coverage" box sits among the paragraphs, the wire's copyright line closes the story."""
    return f"""<html><head><title>{TITLE} | The Daily Courier</title>
<meta property="og:title" content="{TITLE}">
<meta property="article:published_time" content="2025-11-03T14:00:00Z"></head><body>
<div class="site-header"><a href="/">The Daily Courier</a></div>
<div class="article"><h1>{TITLE}</h1><div class="byline">By Marcia Dunn</div>
<div class="article-body"><p>{opening}{PARAS[0]}</p>{"".join(f"<p>{p}</p>" for p in PARAS[1:4])}
<div class="related-coverage"><h4>Related Coverage</h4><ul><li><a href="/x">{TEASER_TITLE}</a>
</li></ul></div>{"".join(f"<p>{p}</p>" for p in PARAS[4:])}
<p>Copyright 2025 The Associated Press. All rights reserved. This material may not be
 published, broadcast, rewritten or redistributed without permission.</p></div></div>
<div class="footer">Copyright 2025 The Daily Courier</div></body></html>"""


@pytest.mark.parametrize(("opening", "dateline"), [
    ("CAPE CANAVERAL, Fla. (AP) \u2014 ", "CAPE CANAVERAL, Fla. (AP)"),
    ("WASHINGTON, Nov 3 (Reuters) - ", "WASHINGTON, Nov 3 (Reuters)"),
    ("SAN FRANCISCO, March 3 (Reuters) - ", "SAN FRANCISCO, March 3 (Reuters)"),
    ("WASHINGTON, Nov. 3 (UPI) -- ", "WASHINGTON, Nov. 3 (UPI)"),
    ("Nov. 3 (UPI) -- ", "Nov. 3 (UPI)"),
])
def test_wire_datelines_of_newspaper_pages(opening: str, dateline: str) -> None:
    """AP's "PLACE (AP) —", and Reuters' and UPI's month and day before the agency."""
    art = extract_article(newspaper_page(opening).encode(), "https://courier.example/news/moon")
    assert art.dateline == dateline
    assert art.published == datetime(2025, 11, 3, 14, 0, tzinfo=UTC)  # the page's, not a day
    assert art.text.startswith(f"{opening}{PARAS[0]}")
    assert all(p in art.text for p in PARAS[1:])
    for chrome in ("Related Coverage", TEASER_TITLE, "may not be", "Daily Courier"):
        assert chrome not in art.text


def undated_newspaper_page(opening: str) -> str:
    """:func:`newspaper_page` without its metadata date: the dateline's is the story's."""
    page = newspaper_page(opening)
    meta = '<meta property="article:published_time" content="2025-11-03T14:00:00Z">'
    assert meta in page
    return page.replace(meta, "")


NOV_3 = datetime(2025, 11, 3, tzinfo=UTC)
PLAIN_URL = "https://courier.example/news/moon"


@pytest.mark.parametrize(("opening", "url", "hint", "fetched", "published", "source"), [
    # the fetch time's year; Tokyo's Nov 4 begins at 15:00 UTC on the 3rd
    ("WASHINGTON, Nov 3 (Reuters) - ", PLAIN_URL, None, datetime(2025, 11, 3, 18, tzinfo=UTC),
     NOV_3, "dateline (its year from the fetch time)"),
    ("TOKYO, Nov 4 (Reuters) - ", PLAIN_URL, None, datetime(2025, 11, 3, 16, tzinfo=UTC),
     NOV_3 + timedelta(days=1), "dateline (its year from the fetch time)"),
    # fetched on New Year's Day: last year's Dec 31, not the coming one
    ("LONDON, Dec. 31 (UPI) -- ", PLAIN_URL, None, datetime(2026, 1, 1, 2, tzinfo=UTC),
     datetime(2025, 12, 31, tzinfo=UTC), "dateline (its year from the fetch time)"),
    # a day days before the fetch is still this year's
    ("WASHINGTON, Nov. 3 (UPI) -- ", PLAIN_URL, None, datetime(2025, 11, 20, tzinfo=UTC),
     NOV_3, "dateline (its year from the fetch time)"),
    # UPI's dateline without a place: its day, in the same year
    ("Nov. 3 (UPI) -- ", PLAIN_URL, None, datetime(2025, 11, 20, tzinfo=UTC),
     NOV_3, "dateline (its year from the fetch time)"),
    ("Dec. 31 (UPI) -- ", PLAIN_URL, None, datetime(2026, 1, 1, 2, tzinfo=UTC),
     datetime(2025, 12, 31, tzinfo=UTC), "dateline (its year from the fetch time)"),
    ("Nov 3 (Reuters) - ", "https://courier.example/2024/11/03/moon", None,
     datetime(2025, 11, 20, tzinfo=UTC), datetime(2024, 11, 3, tzinfo=UTC),
     "dateline (its year from the URL's date)"),
    # the URL's date first, then the feed's: better evidence than a later fetch
    ("WASHINGTON, Nov 3 (Reuters) - ", "https://courier.example/2024/11/03/moon", None,
     datetime(2025, 11, 20, tzinfo=UTC), datetime(2024, 11, 3, tzinfo=UTC),
     "dateline (its year from the URL's date)"),
    ("LONDON, Jan 1 (Reuters) - ", "https://courier.example/2024/12/31/moon", None, None,
     datetime(2025, 1, 1, tzinfo=UTC), "dateline (its year from the URL's date)"),
    ("WASHINGTON, Nov 3 (Reuters) - ", PLAIN_URL, datetime(2024, 11, 5, 9, tzinfo=UTC),
     datetime(2025, 11, 20, tzinfo=UTC), datetime(2024, 11, 3, tzinfo=UTC),
     "dateline (its year from the feed's date)"),
    # a story updated two days after its URL's or feed's date: the update's day in its
    # dateline is that year's, not the year before's
    ("WASHINGTON, Nov. 5 (UPI) -- ", "https://courier.example/2025/11/03/moon", None,
     datetime(2025, 11, 5, 15, tzinfo=UTC), NOV_3 + timedelta(days=2),
     "dateline (its year from the URL's date)"),
    ("WASHINGTON, Nov 5 (Reuters) - ", PLAIN_URL, datetime(2025, 11, 3, 12, tzinfo=UTC),
     datetime(2025, 11, 5, 15, tzinfo=UTC), NOV_3 + timedelta(days=2),
     "dateline (its year from the feed's date)"),
    ("LONDON, Jan 2 (Reuters) - ", "https://courier.example/2025/12/31/moon", None,
     datetime(2026, 1, 2, 18, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC),
     "dateline (its year from the URL's date)"),
    # the feed's time on the dateline's day gives the time of day, as for a dated one
    ("WASHINGTON, Nov 3 (Reuters) - ", PLAIN_URL, datetime(2024, 11, 3, 9, tzinfo=UTC),
     datetime(2025, 11, 20, tzinfo=UTC), datetime(2024, 11, 3, 9, tzinfo=UTC),
     "feed hint (the dateline's day, with its time)"),
    # no evidence of the year: no date, as before
    ("WASHINGTON, Nov 3 (Reuters) - ", PLAIN_URL, None, None, None, None),
])
def test_a_wire_dateline_without_a_year_takes_one(
        opening: str, url: str, hint: datetime | None, fetched: datetime | None,
        published: datetime | None, source: str | None) -> None:
    """Reuters and UPI name the month and day, not the year ("WASHINGTON, Nov 3 (Reuters)
    -"): the year is the one putting that day nearest the URL's date, else the feed's
    date, else the fetch time; never a day not begun anywhere on Earth when fetched."""
    art = extract_article(undated_newspaper_page(opening).encode(), url, fetched=fetched,
                          hint=LinkHint(url=url, published=hint) if hint else None)
    assert art.dateline == opening.rstrip(" -")
    assert (art.published, art.explain.get("published")) == (published, source)


def test_a_dated_dateline_owes_nothing_to_the_fetch_time() -> None:
    art = extract_article(undated_newspaper_page("Houston (AFP) Feb 14, 2017 - ").encode(),
                          PLAIN_URL, fetched=datetime(2025, 11, 20, tzinfo=UTC))
    assert art.dateline == "Houston (AFP)"
    assert (art.published, art.explain["published"]) == (
        datetime(2017, 2, 14, tzinfo=UTC), "dateline")


@pytest.mark.parametrize("ticker", [True, False])
def test_a_date_line_above_the_headline_wins_over_teasers_below_the_post(ticker: bool) -> None:
    """The post's date line above its title, the related-posts and recent-posts teasers
    below it dated too (as they are on most themes): the post's time is the one beside
    its headline, not the first teaser's after it."""
    page = wordpress_page("", ticker=ticker).replace(
        '<h1 class="entry-title">',
        f'<div class="date"><time datetime="{POST_TIME}">Feb 14</time></div>'
        '<h1 class="entry-title">')
    art = extract_article(page.encode(), "https://orbitalwatch.example/moon-base/")
    assert art.published == datetime(2017, 2, 14, 9, 30, tzinfo=UTC)
    assert art.explain["published"] == "<time datetime> before the headline"
