"""Discovery: index pages and partial feeds -> article links (issue #2, item 3)."""

from __future__ import annotations

import concurrent.futures
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feedsvc.discover import discover_feed, discover_index
from feedsvc.errors import DiscoverError
from feedsvc.models import LinkHint

SHARED_PAGE = (
    Path(__file__).resolve().parents[2] / "shared" / "pages" / "spacedaily-superpowers.html"
)

# The selector and regex of issue #2's YAML example.
ISSUE_LINKS = "a[href*='/reports/']"
ISSUE_FOLLOW = r"/reports/.+\.html$"


def index(
    body: str | bytes, url: str = "https://www.example.com/news/", **kw: object
) -> list[LinkHint]:
    data = body.encode() if isinstance(body, str) else body
    args: dict[str, object] = {"links": None, "follow": None}
    args.update(kw)
    ctype = args.pop("content_type", "text/html; charset=utf-8")
    return discover_index(data, url, ctype, **args)  # type: ignore[arg-type]


def urls(hints: list[LinkHint]) -> list[str]:
    return [h.url for h in hints]


# -- a SpaceDaily-style index page, written here ------------------------------------

SECTION_URL = "https://www.spacewar.com/Superpowers.html"
STORIES = [
    ("Navy_tests_new_radar_on_destroyer_999", "Navy tests new radar on destroyer"),
    (
        "Allies_meet_in_Brussels_on_defence_spending_999",
        "Allies meet in Brussels on defence spending",
    ),
    ("Satellite_watchers_spot_new_launch_site_999", "Satellite watchers spot new launch site"),
    ("Treaty_talks_resume_in_Geneva_999", "Treaty talks resume in Geneva"),
    (
        "Missile_test_over_the_Pacific_draws_protest_999",
        "Missile test over the Pacific draws protest",
    ),
]


def spacewar_index() -> str:
    """Table layout, a left nav of sister sites and sections, headline boxes."""
    boxes = []
    for i, (slug, title) in enumerate(STORIES):
        href = f"/reports/{slug}.html" if i != 2 else f"./reports/{slug}.html"  # one relative
        boxes.append(f"""
<table width="100%" class="hlbox">
<tr><td><font face="Arial" size="2"><b>SUPERPOWERS</b></font></td></tr>
<tr><td><a href="{href}"><img src="/images/{slug}.jpg" width="120" alt=""></a>
<a href="{href}"><b>{title}</b></a><br>
<font size="2">Washington (AFP) Feb 1{i}, 2017 - A short blurb about the story.
<a href="{href}#comments">Comments</a></font></td></tr></table>""")
    return f"""<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">
<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">
<title>Superpowers News</title></head>
<body bgcolor="#FFFFFF">
<table width="100%" id="top"><tr>
<td><a href="/"><img src="/images/spacewar-logo.png" alt="SpaceWar"></a></td>
<td align="right"><a href="/rss.html">RSS</a> | <a href="/subscribe.html">Subscribe</a>
| <a href="/advertise.html">Advertise</a></td></tr></table>
<table width="100%"><tr>
<td width="150" valign="top" class="leftnav">
<a href="https://www.spacedaily.com/">SpaceDaily</a><br>
<a href="https://www.terradaily.com/">TerraDaily</a><br>
<a href="https://www.marsdaily.com/">MarsDaily</a><br>
<a href="https://www.spacedaily.com/reports/Sister_site_story_999.html">Sister site story</a><br>
<hr>
<a href="/Superpowers.html">Superpowers</a><br>
<a href="/Military_Space.html">Military Space</a><br>
<a href="/Nuclear_War.html">Nuclear War</a><br>
<a href="mailto:editor@spacewar.example">Email the editor</a>
</td>
<td valign="top">
<font face="Arial" size="2" color="#990000"><b>SUPERPOWERS</b></font><br>
{"".join(boxes)}
<div class="pager"><a href="/reports/">More reports</a>
| <a href="/Superpowers-2.html">Next page</a></div>
<a href="https://ads.example.net/click?u=/reports/Ad_999.html">Advertisement</a>
<a href="javascript:void(0)">Share</a>
</td></tr></table>
<table width="100%" class="footer"><tr><td><font size="1">Copyright 1995-2024 Space Media Network.
<a href="/about.html">About</a> | <a href="/privacy.html">Privacy Statement</a></font>
</td></tr></table>
</body></html>"""


def expected_story_urls() -> list[str]:
    return [f"https://www.spacewar.com/reports/{slug}.html" for slug, _ in STORIES]


def test_spacewar_style_index_with_issue_selector_and_follow_yields_exactly_the_reports() -> None:
    body = spacewar_index().encode("iso-8859-1")
    hints = discover_index(body, SECTION_URL, "text/html", links=ISSUE_LINKS, follow=ISSUE_FOLLOW)
    assert urls(hints) == expected_story_urls()
    # The image link comes first; the headline's text still becomes the title.
    assert [h.title for h in hints] == [title for _, title in STORIES]


def test_spacewar_style_index_default_heuristics_drop_navigation() -> None:
    body = spacewar_index().encode("iso-8859-1")
    hints = discover_index(body, SECTION_URL, None, links=None, follow=None)
    assert urls(hints) == expected_story_urls()


def test_spacewar_style_index_allow_hosts_admits_a_sister_site() -> None:
    body = spacewar_index().encode("iso-8859-1")
    hints = discover_index(
        body,
        SECTION_URL,
        None,
        links=ISSUE_LINKS,
        follow=ISSUE_FOLLOW,
        allow_hosts=("spacedaily.com",),
    )
    assert urls(hints) == [
        "https://www.spacedaily.com/reports/Sister_site_story_999.html",
        *expected_story_urls(),
    ]


def test_shared_spacedaily_page_with_issue_config() -> None:
    if not SHARED_PAGE.exists():
        pytest.skip(f"{SHARED_PAGE} is absent (needs ../shared)")
    raw = SHARED_PAGE.read_bytes()
    page_url = "https://www.spacedaily.com/reports/US_says_not_ready_yet_for_military_collaboration_with_Russia_999.html"
    hints = discover_index(raw, page_url, None, links=ISSUE_LINKS, follow=ISSUE_FOLLOW)
    # Independent oracle: every on-site /reports/*.html href in the raw bytes, in order.
    expected: list[str] = []
    for href in re.findall(rb'href="(/reports/[^"#]+\.html)"', raw):
        url = "https://www.spacedaily.com" + href.decode()
        if url not in expected:
            expected.append(url)
    assert expected  # the page does link reports
    assert urls(hints) == expected
    assert all(h.title for h in hints)


# -- resolution, filtering, de-duplication ------------------------------------------


def test_links_resolved_fragments_stripped_deduplicated_in_order() -> None:
    page = """<html><body><main>
    <a href="/a.html#top">A</a> <a href="b.html">B</a> <a href="/a.html">A again</a>
    <a href="https://www.example.com/news/b.html#x">B again</a>
    <a href="//www.example.com/c.html">C</a>
    </main></body></html>"""
    hints = index(page)
    assert urls(hints) == [
        "https://www.example.com/a.html",
        "https://www.example.com/news/b.html",
        "https://www.example.com/c.html",
    ]
    assert [h.title for h in hints] == ["A", "B", "C"]


def test_base_href_is_honoured() -> None:
    page = (
        '<html><head><base href="https://www.example.com/archive/"></head>'
        '<body><a href="x.html">X</a></body></html>'
    )
    assert urls(index(page)) == ["https://www.example.com/archive/x.html"]


def test_off_site_links_dropped_www_ignored_allow_hosts_admitted() -> None:
    page = """<html><body>
    <a href="https://example.com/one.html">bare host</a>
    <a href="https://www.example.com/two.html">www host</a>
    <a href="https://news.other.org/three.html">other</a>
    <a href="https://evil.example.net/four.html">evil</a>
    </body></html>"""
    assert urls(index(page)) == [
        "https://example.com/one.html",
        "https://www.example.com/two.html",
    ]
    assert (
        urls(index(page, allow_hosts=["news.other.org"]))[-1] == "https://news.other.org/three.html"
    )


def test_non_http_links_and_self_link_always_dropped() -> None:
    page = """<html><body>
    <a href="mailto:x@example.com">mail</a><a href="javascript:go()">js</a>
    <a href="tel:+123">tel</a><a href="ftp://www.example.com/f.html">ftp</a>
    <a href="https://www.example.com/news/">this index</a><a href="#top">top</a>
    <a href="http://[::1">broken</a><a>no href</a><a href="">empty</a>
    <a href="/story.html">story</a></body></html>"""
    for kw in ({"links": None}, {"links": "a"}):
        assert urls(index(page, **kw)) == ["https://www.example.com/story.html"]


def test_follow_regex_searches_the_absolute_url() -> None:
    page = """<html><body><a href="/2024/05/story-one">one</a><a href="/video/clip">clip</a>
    <a href="/2023/01/story-two">two</a></body></html>"""
    assert urls(index(page, follow=r"example\.com/\d{4}/\d\d/")) == [
        "https://www.example.com/2024/05/story-one",
        "https://www.example.com/2023/01/story-two",
    ]


def test_selector_on_containers_takes_their_anchors() -> None:
    page = """<html><body>
    <h2 class="headline"><a href="/s1.html">One</a></h2>
    <div class="teaser"><a href="/s2.html">Two</a></div>
    <h2 class="headline"><span><a href="/s3.html">Three</a></span></h2>
    </body></html>"""
    assert urls(index(page, links="h2.headline")) == [
        "https://www.example.com/s1.html",
        "https://www.example.com/s3.html",
    ]


def test_selector_trusts_the_user_over_the_heuristic() -> None:
    page = (
        '<html><body><nav><a href="/tag/space">Space</a></nav>'
        '<a href="/about.html">About</a></body></html>'
    )
    assert urls(index(page)) == []
    assert urls(index(page, links="a")) == [
        "https://www.example.com/tag/space",
        "https://www.example.com/about.html",
    ]


@pytest.mark.parametrize("classes", ["home blog", "home blog no-sidebar", "page has-sidebar",
                                     "js nav-closed"])
def test_layout_classes_on_body_do_not_make_every_link_navigation(classes: str) -> None:
    page = (f'<html><body class="{classes}"><div id="content">'
            '<a href="/2024/one.html">One</a><a href="/2024/two.html">Two</a></div></body></html>')
    assert urls(index(page)) == ["https://www.example.com/2024/one.html",
                                 "https://www.example.com/2024/two.html"]


def test_navigation_landmarks_dropped_but_article_headers_kept() -> None:
    page = """<html><body>
    <header><a href="/world/">World</a><a href="/news/politics/">Politics</a></header>
    <nav><a href="/nav-story.html">in nav</a></nav>
    <div role="navigation"><a href="/role-nav.html">role nav</a></div>
    <div id="topnav"><a href="/topnav.html">topnav</a></div>
    <ul class="main-menu"><li><a href="/menu.html">menu</a></li></ul>
    <main>
      <article><header><h2><a href="/2024/kept-1.html">Kept one</a></h2></header>
        <footer><a href="/2024/kept-2.html">Read more</a></footer></article>
      <div class="navy-fleet"><a href="/2024/navy.html">Navy story</a></div>
      <nav class="pagination"><a href="/2024/page-two.html">2</a></nav>
    </main>
    <aside><a href="/aside.html">popular</a></aside>
    <footer><a href="/footer.html">footer</a></footer>
    </body></html>"""
    assert urls(index(page)) == [
        "https://www.example.com/2024/kept-1.html",
        "https://www.example.com/2024/kept-2.html",
        "https://www.example.com/2024/navy.html",
    ]


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/tag/mars",
        "/category/space/",
        "/author/jane-doe",
        "/about.html",
        "/contact-us",
        "/rss.xml",
        "/feed/",
        "/page/2",
        "/images/photo.jpg",
        "/files/report.pdf",
        "/search?q=x",
    ],
)
def test_non_article_paths_dropped_by_default(path: str) -> None:
    page = (
        f'<html><body><a href="{path}">x</a><a href="/2024/real-story.html">real</a></body></html>'
    )
    assert urls(index(page)) == ["https://www.example.com/2024/real-story.html"]


def test_limit_counts_unique_links() -> None:
    page = (
        "<html><body>"
        + "".join(
            f'<a href="/s{i}.html">s{i}</a><a href="/s{i}.html#c">again</a>' for i in range(10)
        )
        + "</body></html>"
    )
    assert urls(index(page, limit=3)) == [f"https://www.example.com/s{i}.html" for i in range(3)]


def test_title_falls_back_to_title_attribute_and_whitespace_is_collapsed() -> None:
    page = """<html><body><a href="/a.html" title="From  attribute"><img src="a.jpg"></a>
    <a href="/b.html">  Two
      lines </a></body></html>"""
    assert [h.title for h in index(page)] == ["From attribute", "Two lines"]


# -- charsets and bad input ---------------------------------------------------------------


def test_charset_from_content_type_header() -> None:
    body = '<html><body><a href="/c.html">Café müde</a></body></html>'.encode("iso-8859-1")
    hints = index(body, content_type="text/html; charset=iso-8859-1")
    assert hints[0].title == "Café müde"


def test_charset_from_meta_when_header_has_none() -> None:
    body = (
        '<html><head><meta charset="windows-1251"></head><body>'
        '<a href="/r.html">Новости</a></body></html>'
    ).encode("windows-1251")
    assert index(body, content_type="text/html")[0].title == "Новости"


def test_invalid_bytes_for_declared_charset_do_not_fail() -> None:
    body = b'<html><body><a href="/ok.html">ok \xff\xfe bytes</a></body></html>'
    hints = index(body, content_type="text/html; charset=utf-8")
    assert urls(hints) == ["https://www.example.com/ok.html"]
    assert hints[0].title is not None
    assert hints[0].title.startswith("ok ")


def test_xhtml_with_xml_declaration() -> None:
    body = (
        b'<?xml version="1.0" encoding="utf-8"?>\n'
        b'<html xmlns="http://www.w3.org/1999/xhtml"><body><a href="/x.html">X</a></body></html>'
    )
    assert urls(index(body, content_type="application/xhtml+xml")) == [
        "https://www.example.com/x.html"
    ]


@pytest.mark.parametrize("body", [b"", b"   \n\t"])
def test_empty_index_is_a_discover_error(body: bytes) -> None:
    with pytest.raises(DiscoverError, match="empty"):
        index(body)


def test_binary_garbage_yields_no_links_and_no_crash() -> None:
    assert index(bytes(range(256)) * 20, content_type=None) == []


# -- feeds -------------------------------------------------------------------------------

FEED_URL = "https://www.example.com/feeds/space.xml"

RSS2 = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>
<title>Space</title><link>https://www.example.com/</link><description>d</description>
<item><title>First &amp; foremost</title><link>https://www.example.com/reports/one_999.html</link>
  <pubDate>Thu, 16 Feb 2017 14:30:00 +0200</pubDate>
  <author>desk@example.com (Jane Desk)</author></item>
<item><title>Second</title><link>/reports/two_999.html#frag</link>
  <pubDate>Wed, 15 Feb 2017 08:00:00 GMT</pubDate><dc:creator>Staff Writers</dc:creator></item>
<item><title>No link, permalink guid</title>
  <guid isPermaLink="true">https://www.example.com/reports/three_999.html</guid></item>
<item><title>Duplicate</title><link>https://www.example.com/reports/one_999.html</link></item>
<item><title>Video</title><link>https://www.example.com/video/clip_1</link></item>
<item><title>Mail</title><link>mailto:x@example.com</link></item>
</channel></rss>"""


def test_rss2_items_with_hints() -> None:
    hints = discover_feed(RSS2.encode(), FEED_URL, "application/rss+xml", follow=None)
    assert urls(hints) == [
        "https://www.example.com/reports/one_999.html",
        "https://www.example.com/reports/two_999.html",
        "https://www.example.com/reports/three_999.html",
        "https://www.example.com/video/clip_1",
    ]
    first, second, third = hints[:3]
    assert first.title == "First & foremost"
    assert first.published == datetime(2017, 2, 16, 12, 30, tzinfo=UTC)
    assert first.published.tzinfo is not None
    assert first.author == "Jane Desk"
    assert second.author == "Staff Writers"
    assert second.published == datetime(2017, 2, 15, 8, 0, tzinfo=UTC)
    assert third.title == "No link, permalink guid"
    assert third.published is None


def test_feed_follow_and_limit() -> None:
    hints = discover_feed(RSS2.encode(), FEED_URL, None, follow=r"/reports/.+\.html$", limit=2)
    assert urls(hints) == [
        "https://www.example.com/reports/one_999.html",
        "https://www.example.com/reports/two_999.html",
    ]


def test_atom_feed() -> None:
    atom = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://www.example.com/blog/">
<title>Blog</title><id>urn:x</id><updated>2024-05-01T10:00:00Z</updated>
<author><name>Feed Author</name></author>
<entry><title type="html">&lt;b&gt;Bold&lt;/b&gt; move</title><id>urn:1</id>
  <link rel="alternate" href="posts/1.html"/><link rel="enclosure" href="/a.mp3"/>
  <updated>2024-05-01T10:00:00+02:00</updated><published>2024-04-30T09:00:00Z</published>
  <author><name>Ann Writer</name></author></entry>
<entry><title>Only updated</title><id>urn:2</id><link href="https://www.example.com/blog/posts/2.html"/>
  <updated>2024-05-02T00:00:00Z</updated></entry>
</feed>"""
    hints = discover_feed(atom.encode(), FEED_URL, "application/atom+xml", follow=None)
    assert urls(hints) == [
        "https://www.example.com/blog/posts/1.html",
        "https://www.example.com/blog/posts/2.html",
    ]
    assert hints[0].title == "Bold move"
    assert hints[0].author == "Ann Writer"
    assert hints[0].published == datetime(2024, 4, 30, 9, 0, tzinfo=UTC)
    assert hints[1].published == datetime(2024, 5, 2, tzinfo=UTC)  # updated as fallback


def test_rss_1_0_rdf_feed() -> None:
    rdf = """<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://www.example.com/"><title>T</title><link>https://www.example.com/</link>
<description>d</description></channel>
<item rdf:about="https://www.example.com/r/1.html"><title>RDF one</title>
<link>https://www.example.com/r/1.html</link><dc:date>2017-02-16T10:00:00-05:00</dc:date>
<dc:creator>Rdf Author</dc:creator></item>
</rdf:RDF>"""
    [hint] = discover_feed(rdf.encode(), FEED_URL, "application/rdf+xml", follow=None)
    assert hint == LinkHint(
        url="https://www.example.com/r/1.html",
        title="RDF one",
        published=datetime(2017, 2, 16, 15, 0, tzinfo=UTC),
        author="Rdf Author",
        # feedparser files RSS 1.0's dc:date as the item's update date too
        updated=datetime(2017, 2, 16, 15, 0, tzinfo=UTC),
    )


def test_rss_0_91_feed() -> None:
    rss = """<?xml version="1.0" encoding="ISO-8859-1"?>
<rss version="0.91"><channel><title>Old</title><link>https://www.example.com/</link>
<description>d</description><language>en</language>
<item><title>Caf\xe9 news</title><link>https://www.example.com/old/1.html</link></item>
</channel></rss>"""
    [hint] = discover_feed(rss.encode("iso-8859-1"), FEED_URL, "text/xml", follow=None)
    assert hint.url == "https://www.example.com/old/1.html"
    assert hint.title == "Café news"


def test_bozo_feed_with_entries_is_accepted() -> None:
    broken = """<rss version="2.0"><channel><title>Broken & unescaped</title>
<item><title>Still here</title><link>https://www.example.com/s/1.html</link></item>
<item><title>Me too &nbsp;</title><link>https://www.example.com/s/2.html</link>
</channel>"""  # bare &, undefined entity, unclosed elements
    hints = discover_feed(broken.encode(), FEED_URL, "application/rss+xml", follow=None)
    assert urls(hints) == ["https://www.example.com/s/1.html", "https://www.example.com/s/2.html"]


def test_valid_feed_without_items_is_empty_not_an_error() -> None:
    empty = '<rss version="2.0"><channel><title>Quiet</title><link>https://www.example.com/</link></channel></rss>'
    assert discover_feed(empty.encode(), FEED_URL, "application/rss+xml", follow=None) == []


@pytest.mark.parametrize(
    "body",
    [
        b"<html><head><title>Not a feed</title></head><body><p>hello</p></body></html>",
        b"just some text",
        b"",
        b"\x00\x01\x02\xff",
    ],
)
def test_non_feed_is_a_discover_error(body: bytes) -> None:
    with pytest.raises(DiscoverError):
        discover_feed(body, FEED_URL, "text/html", follow=None)


def test_feed_body_naming_a_local_file_is_not_read_from_disk(tmp_path: Path) -> None:
    local = tmp_path / "feed.xml"
    local.write_text(RSS2)
    with pytest.raises(DiscoverError):
        discover_feed(str(local).encode(), FEED_URL, None, follow=None)


def test_discover_functions_run_in_a_process_pool() -> None:
    with concurrent.futures.ProcessPoolExecutor(max_workers=1) as pool:
        from_feed = pool.submit(discover_feed, RSS2.encode(), FEED_URL, None, follow=None, limit=1)
        from_index = pool.submit(
            discover_index,
            spacewar_index().encode("iso-8859-1"),
            SECTION_URL,
            None,
            links=ISSUE_LINKS,
            follow=ISSUE_FOLLOW,
        )
        failing = pool.submit(discover_feed, b"<html></html>", FEED_URL, None, follow=None)
        assert urls(from_feed.result()) == ["https://www.example.com/reports/one_999.html"]
        assert urls(from_index.result()) == expected_story_urls()
        with pytest.raises(DiscoverError):
            failing.result()


def test_a_feed_that_parses_too_long_is_a_discover_error() -> None:
    """Discovery had no time budget: a feed whose title holds tens of thousands of
    unclosed tags kept a pool worker busy for a minute on every poll (security review,
    session 6). The budget (``extract_timeout``, here 0.2 s) makes it the source's error."""
    body = ('<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><item><title>'
            + "<b>" * 60_000 + "</title><link>https://news.example/a.html</link></item>"
            "</channel></rss>").encode()
    with pytest.raises(DiscoverError, match=r"took longer than 0\.2 s"):
        discover_feed(body, "https://news.example/feed.xml", "application/rss+xml",
                      follow=None, time_budget=0.2)


def test_an_index_within_its_budget_is_read() -> None:
    page = b'<html><body><a href="/news/a-story-about-things.html">A story about things</a></body></html>'
    got = discover_index(page, "https://news.example/", "text/html", links=None, follow=None,
                         time_budget=5.0)
    assert [h.url for h in got] == ["https://news.example/news/a-story-about-things.html"]
