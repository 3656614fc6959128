"""Extraction (issue #4): the SpaceDaily page, own pages in several layouts, metadata."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import html as lhtml

from feedsvc.errors import ExtractError
from feedsvc.extract import extract_article, join_pages
from feedsvc.models import LinkHint

PAGES = Path(__file__).parent / "pages"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "pages"
SPACEDAILY = SHARED / "spacedaily-superpowers.html"
URL = "https://news.example/section/story.html"


def _page(name: str) -> bytes:
    return (PAGES / name).read_bytes()


def _blocks(content_html: str) -> list[lhtml.HtmlElement]:
    return list(lhtml.fragment_fromstring(content_html, create_parent="div").iter())


@pytest.fixture(scope="module")
def spacedaily() -> tuple[dict[str, object], object]:
    if not SPACEDAILY.is_file():
        pytest.skip("../shared/pages/spacedaily-superpowers.html not present")
    expected = json.loads(SPACEDAILY.with_suffix("").with_suffix(".expected.json").read_text())
    return expected, extract_article(SPACEDAILY.read_bytes(), str(expected["url"]))


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_spacedaily_main_story_complete(spacedaily) -> None:
    expected, art = spacedaily
    text = _flat(art.text)
    missing = [p for p in expected["main_story_paragraphs"] if _flat(p) not in text]
    assert missing == []


def test_spacedaily_insets_kept_as_own_blocks_with_heading(spacedaily) -> None:
    expected, art = spacedaily
    root = lhtml.fragment_fromstring(art.content_html, create_parent="div")
    main_first = _flat(expected["main_story_paragraphs"][0])
    for inset in expected["inset_stories"]:
        # The smallest element holding the inset's heading and its first paragraph...
        holders = [el for el in root.iter() if inset["title"] in _flat(el.text_content())
                   and _flat(inset["paragraphs"][0]) in _flat(el.text_content())]
        assert holders, inset["title"]
        box = min(holders, key=lambda el: len(el.text_content()))
        box_text = _flat(box.text_content())
        kept = [p for p in inset["paragraphs"] if _flat(p) in box_text]
        assert len(kept) >= 0.9 * len(inset["paragraphs"])
        # ...is a block of its own, not mixed with the main story.
        assert main_first not in box_text


def test_spacedaily_no_boilerplate(spacedaily) -> None:
    expected, art = spacedaily
    for phrase in expected["boilerplate_must_not_appear"]:
        assert phrase not in art.text
        assert phrase not in art.content_html


def test_spacedaily_metadata(spacedaily) -> None:
    expected, art = spacedaily
    assert art.title == expected["title"]
    assert art.author == expected["author"]
    assert art.dateline == expected["dateline"]
    assert art.published is not None
    assert art.published.date().isoformat() == expected["published"]
    assert art.published.tzinfo is not None
    assert art.explain["published"] == "dateline"


@pytest.mark.parametrize(("attrs", "shown"), [("", "<article>"),
                                               (' class="story body"', '<article class="story body">')])
def test_explain_names_the_story_element_as_the_page_writes_it(attrs: str, shown: str) -> None:
    """--explain shows <article>, not <article class=None>."""
    paras = "".join(f"<p>{'The council said the new launch schedule would slip again. ' * 5}"
                    f"Paragraph {i}.</p>" for i in range(5))
    page = f"<html><body><nav><a href='/'>Home</a></nav><article{attrs}>{paras}</article></body></html>"
    art = extract_article(page.encode(), URL)
    assert art.explain["content"] == f"readability best {shown}"


def test_table_layout_br_paragraphs_become_blocks_and_nav_cell_dropped() -> None:
    art = extract_article(_page("table-br.html"), URL)
    assert art.title == "Harbour dredging plan approved"
    paragraphs = [_flat(p.text_content()) for p in _blocks(art.content_html) if p.tag == "p"]
    assert any(p.startswith("Supporters said the deeper channel") for p in paragraphs)
    assert any(p.startswith("Work is expected to start") for p in paragraphs)
    lines = art.text.split("\n")
    assert any(line.startswith("Opponents, mostly") for line in lines)
    for chrome in ("Weather", "Classifieds", "Copyright 2024", "Home"):
        assert chrome not in art.text


def test_html5_article_with_json_ld() -> None:
    art = extract_article(_page("article-jsonld.html"), "https://alpine.example/news/x")
    assert art.title == "Glacier retreat speeds up, survey finds"
    assert art.author == "Anna Keller"
    assert art.published == datetime(2023, 8, 14, 7, 30, tzinfo=UTC)
    assert art.published.utcoffset() is not None
    assert art.updated is not None
    assert art.updated.day == 15
    assert art.lead_image == "https://alpine.example/img/glacier-lead.jpg"
    assert art.lang == "en-GB"
    # Canonical link on the same site, tracking parameter dropped.
    assert art.canonical_url == "https://alpine.example/news/glacier-retreat"
    assert "By Anna Keller" not in art.text  # byline is metadata, not story
    assert "Thirty-eight of them retreated" in art.text
    assert art.explain["title"] == "json-ld:headline"


def test_canonical_from_another_site_is_ignored() -> None:
    art = extract_article(_page("article-jsonld.html"), URL)
    assert art.canonical_url is None


@pytest.mark.parametrize("head", [
    '<link rel="canonical" href="javascript://news.example/%0Aalert(document.cookie)">',
    '<meta property="og:url" content="JavaScript://news.example/%0Afetch(1)">',
    '<link rel="canonical" href="data://news.example/x">',
])
def test_canonical_that_is_no_web_page_is_ignored(head: str) -> None:
    """The canonical URL becomes the entry's id and link (security review, session 6):
    one naming the page's host under another scheme would be a script in readers."""
    story = "".join(f"<p>Paragraph {i} of the story, long enough to be content, with commas, "
                    "words, and sentences a reader wants.</p>" for i in range(6))
    page = f"<html><head>{head}</head><body><div>{story}</div></body></html>"
    assert extract_article(page, "https://news.example/news/ab.html").canonical_url is None


def test_canonical_with_control_characters_is_ignored() -> None:
    story = "".join(f"<p>Paragraph {i} of the story, long enough to be content, with commas, "
                    "words, and sentences a reader wants.</p>" for i in range(6))
    page = (f'<html><head><link rel="canonical" href="/news/a&#1;b.html"></head>'
            f"<body><div>{story}</div></body></html>")
    assert extract_article(page, "https://news.example/news/ab.html").canonical_url is None


def test_cookie_banner_not_in_story() -> None:
    art = extract_article(_page("cookie-banner.html"), URL)
    assert "cookies" not in art.text.lower()
    assert "children's section ran out" in art.text


def test_newsletter_box_and_read_more_list_pruned_from_article() -> None:
    art = extract_article(_page("newsletter-readmore.html"), URL)
    for chrome in ("Morning Briefing", "newsletter", "Read more", "Timeline of the dispute",
                   "Subscribe"):
        assert chrome not in art.text
    assert "The dispute had lasted eight months" in art.text
    assert "Union leaders said members would vote" in art.text


def test_story_sentences_opening_like_chrome_labels_are_kept() -> None:
    """"Previous reports had said...", "Popular anger has grown." are story; "Previous
    Report" over a link, or "Most popular", are chrome."""
    from tests.site import article_page

    story = [
        "The top military commanders of the two countries met in Baku on Thursday, officials "
        "said, in the first such talks since the new administration took office in Washington.",
        "Previous reports had said the generals would meet in Ankara.",
        "Popular anger in Russia over the sanctions has grown.",
        "Sponsored by Senator John McCain, the sanctions bill passed 97-2.",
        "Recommended steps include a hotline between the two staffs.",
        "More news is expected after the NATO meeting closes on Friday.",
        "Popular anger has grown.",
        "Both sides described the talks as useful and said they would meet again in the spring, "
        "though neither gave a date for the next round of the military dialogue.",
    ]
    page = article_page("Military chiefs meet in Baku", "Baku (AFP) Feb 16, 2017", story)
    page = page.replace(
        f"<p>{story[-1]}</p>",
        f"<p>{story[-1]}</p>\n<p><b>Previous Report</b><br>"
        '<a href="/reports/tillerson.html">All eyes on Tillerson</a></p>\n<p>Most popular</p>')
    art = extract_article(page.encode(), URL)
    for sentence in story:
        assert sentence in art.text
    for chrome in ("Previous Report", "All eyes on Tillerson", "Most popular"):
        assert chrome not in art.text


@pytest.mark.parametrize(("title", "h1", "expected"), [
    # the headline repeats the whole <title>: a dash inside a title is not a site name
    ("US and Russia military chiefs meet - first talks since Trump took office",
     "US and Russia military chiefs meet - first talks since Trump took office",
     "US and Russia military chiefs meet - first talks since Trump took office"),
    # an en or em dash before a site name is a separator like " - " (Readability.js)
    ("Military chiefs meet in Baku for first talks \u2013 My website",
     "Military chiefs meet in Baku for first talks",
     "Military chiefs meet in Baku for first talks"),
    ("Military chiefs meet in Baku for first talks \u2014 SpaceWar",
     "Chiefs meet", "Military chiefs meet in Baku for first talks"),
])
def test_title_separators_and_a_title_the_headline_confirms(title: str, h1: str, expected: str) -> None:
    from tests.site import STORIES, article_page

    _, dateline, paras = next(iter(STORIES.values()))
    page = article_page(h1, dateline, paras).replace(f"<title>{h1}</title>", f"<title>{title}</title>")
    assert extract_article(page.encode(), URL).title == expected


def test_a_photo_alone_in_its_div_stays_in_the_story() -> None:
    """readability-lxml drops a <div> holding only an image as "no content" unless told
    to keep images: a story's photo must reach the feed."""
    from tests.site import STORIES, article_page

    title, dateline, paras = next(iter(STORIES.values()))
    photo = '<div><img src="/images/mattis-nato.jpg" width="600" height="400" alt="Mattis"></div>'
    page = article_page(title, dateline, paras).replace(
        f"<p>{paras[1]}</p>", f"<p>{paras[1]}</p>\n{photo}", 1)
    assert photo in page
    art = extract_article(page.encode(), URL)
    assert 'src="https://news.example/images/mattis-nato.jpg"' in art.content_html


def test_appeal_related_links_and_previous_report_in_the_story_cell_are_dropped() -> None:
    """A table layout whose story paragraphs sit right in the content cell, beside the
    site's donation appeal (a price cell, its form gone), "Related Links" and a
    "Previous Report" teaser: the cell is the story block, and the boxes in it must go
    whole, however long their text, while every story paragraph stays."""
    from tests.site import STORIES

    title, dateline, paras = next(iter(STORIES.values()))
    story = "".join(f"<p>{p}</p>\n" for p in paras)
    appeal = (
        '<table border="1"><tr><td><p><b>Thanks for being here;</b><br>We need your help. Our '
        "network continues to grow but revenues have never been harder to maintain.</p>"
        "<p>With the rise of Ad Blockers, and Facebook - our traditional revenue sources via "
        "quality network advertising continue to decline. And unlike so many other news sites, "
        "we don't have a paywall.</p><p>Our news coverage takes time and effort to publish 365 "
        "days a year.</p><p>If you find our news sites informative and useful then please "
        "consider becoming a regular supporter or for now make a one off contribution.</p>"
        "<table><tr><td><b>Contributor</b><br>$5 Billed Once</td>"
        "<td><b>Monthly Supporter</b><br>$5 Billed Monthly</td></tr></table></td></tr></table>")
    related = ('<p><b>Related Links</b><br><a href="/Superpowers.html">Learn about the '
               'Superpowers of the 21st Century at SpaceWar.com</a></p>')
    previous = ('<table><tr><td><b>Previous Report</b><br>SUPERPOWERS<br>'
                '<a href="/reports/tillerson.html"><b>All eyes on Tillerson</b></a><br>'
                "Bonn (AFP) Feb 16, 2017<br>US Secretary of State Rex Tillerson makes his "
                "diplomatic debut at a G20 gathering in Germany Thursday, where his counterparts "
                "hope to find out what the new policy means for the rest of the world.</td></tr>"
                "</table>")
    page = (f"<html><head><title>{title}</title></head><body><table><tr>"
            '<td width="150"><a href="/">Home</a><br><a href="/Navy.html">Navy</a></td>'
            f"<td><h1>{title}</h1><b>{dateline}</b><br><br>{story}{appeal}{related}{previous}"
            "</td></tr></table></body></html>")
    art = extract_article(page.encode(), URL)
    for para in paras:
        assert para in art.text
    for chrome in ("Ad Blockers", "one off contribution", "Billed", "Related Links",
                   "Learn about the Superpowers", "Previous Report", "Tillerson"):
        assert chrome not in art.text, chrome


def test_kicker_byline_and_dateline_lines_atop_the_story_cell_are_dropped() -> None:
    """When readability takes a table layout's whole content cell, the lines above the
    story (section kicker, "by X", dateline) came with it; the entry carries author and
    dateline already. A dateline opening the first paragraph stays: it is the story's."""
    from tests.site import STORIES

    title, dateline, paras = next(iter(STORIES.values()))
    story = "".join(f"<p>{p}</p>\n" for p in paras)
    page = (f"<html><head><title>{title}</title></head><body><table><tr>"
            '<td width="150"><a href="/">Home</a><br><a href="/Navy.html">Navy</a></td>'
            f"<td><b>SUPERPOWERS</b><br><i>by Staff Writers</i><br><b>{dateline}</b><br><br>"
            f"<p>{dateline} - {paras[0]}</p>\n{story}</td></tr></table></body></html>")
    art = extract_article(page.encode(), URL)
    assert art.author == "Staff Writers"
    assert art.text.startswith(f"{dateline} - {paras[0][:20]}"), art.text[:120]
    assert "SUPERPOWERS" not in art.text and "by Staff Writers" not in art.text


def test_a_legal_footer_in_the_story_cell_is_dropped_a_story_on_copyright_is_not() -> None:
    from feedsvc.extract.readable import is_boilerplate

    footer = lhtml.fragment_fromstring(
        "<p>The content herein, unless otherwise known to be public domain, are Copyright "
        "1995-2024 - Space Media Network. All websites are published in Australia and are "
        "solely subject to Australian law and governed by Fair Use principals for news "
        "reporting and research purposes. AFP, UPI and IANS news wire stories are copyright "
        "Agence France-Presse, United Press International and Indo-Asia News Service. "
        "Privacy Statement. All images and articles appearing on Space Media Network have "
        "been edited or digitally altered in some way.</p>")
    assert len(footer.text_content()) > 300 and is_boilerplate(footer)
    story = lhtml.fragment_fromstring(
        "<p>The court ruled that quoting the 1998 novel, under copyright since 1998, was not "
        "fair use, and sent the case back to the lower court for a new hearing on damages, "
        "which lawyers for both sides said could take many months to reach a conclusion "
        "in what has become one of the most watched publishing disputes of the decade.</p>")
    assert not is_boilerplate(story)


def test_a_related_report_quoting_a_chrome_phrase_is_still_recovered() -> None:
    from feedsvc.extract.readable import looks_like_story_box

    sentences = ["Moscow (AFP) Feb 16, 2017 - The top military commanders of the two countries "
                 "met in Baku on Thursday for their first talks in more than a year.",
                 "Officials said the talks covered air safety over Syria and the exchange of "
                 "notice before large exercises near the borders of either side.",
                 'A lawyer said the leaked memo was marked "all rights reserved" by its author.',
                 "Both sides agreed to meet again in the spring, though neither gave a date for "
                 "the next round of what both called a useful dialogue between the staffs.",
                 "Analysts said the meeting was a first step toward a regular channel that had "
                 "been missing for years, and that more would depend on the politicians."]
    inset = "<table><tr><td>" + "".join(f"<p>{t}</p>\n" for t in sentences) + "</td></tr></table>"
    assert looks_like_story_box(lhtml.fragment_fromstring(inset))
    footer = inset.replace("</td>", "<p>Copyright 2024 Example News. All rights reserved.</p></td>")
    assert not looks_like_story_box(lhtml.fragment_fromstring(footer))


def test_a_photo_and_caption_above_the_story_come_with_it() -> None:
    """On the SpaceDaily page, a photo table between the dateline and the story is a
    sibling of the story block, which readability leaves out: it is the story's,
    caption and all."""
    from tests.helpers import shared_path

    page = shared_path("pages/spacedaily-superpowers.html").read_text(encoding="latin-1")
    dateline = '<font face="Arial" size="2"><b>Brussels (AFP) Feb 16, 2017</b></font><br><br>'
    assert dateline in page
    photo = ('<table><tr><td><img src="/images/mattis.jpg" width="600" height="400"></td></tr>'
             "<tr><td><font size=\"1\">US Defense Secretary James Mattis at NATO headquarters."
             "</font></td></tr></table>\n")
    art = extract_article(page.replace(dateline, dateline + photo).encode("latin-1"), URL)
    assert 'src="https://news.example/images/mattis.jpg"' in art.content_html
    assert "James Mattis at NATO headquarters" in art.text


def test_a_linked_banner_of_an_ad_size_is_dropped() -> None:
    """Images alone in their block are kept (keep_all_images), so a banner beside the
    story would be too: a linked image of a standard ad size is dropped."""
    from tests.site import STORIES, article_page

    title, dateline, paras = next(iter(STORIES.values()))
    ad = ('<div><a href="https://ads.example/click"><img src="https://ads.example/b.gif" '
          'width="468" height="60"></a></div>\n')
    page = article_page(title, dateline, paras).replace(
        '<font face="Arial" size="3">', ad + '<font face="Arial" size="3">', 1)
    art = extract_article(page.encode(), URL)
    assert "ads.example" not in art.content_html and paras[0] in art.text


def test_a_story_linking_to_donation_or_subscription_pages_is_kept() -> None:
    """Links in the story to a site's /subscribe page or to an article about donations
    mark no appeal: the short story around them (the appeal-sized block there) stays
    whole, and so does the paragraph."""
    paras = [
        "Aid groups said donations passed one million dollars on the first day, officials "
        "said on Monday, as the flood waters began to recede across the region.",
        'Readers can <a href="https://news.example/subscribe">follow the recovery</a> '
        "in our daily coverage, the paper said.",
        'An earlier report <a href="https://news.example/2024/donations-to-flood-victims.html">'
        "on the appeal</a> described the first week of the effort in detail.",
        "The government said it would match every private gift with public money until the "
        "end of the month, and more help was promised.",
        'Our <a href="https://news.example/section/opinion/contributors">op-ed Contributors</a> '
        "will debate the plan on Sunday.",
    ]
    page = ("<html><head><title>Flood aid passes a million</title></head><body><div>"
            "<h1>Flood aid passes a million</h1>"
            + "".join(f"<p>{p}</p>" for p in paras) + "</div></body></html>")
    art = extract_article(page.encode(), URL)
    for text in ("Aid groups said", "follow the recovery", "on the appeal", "match every",
                 "op-ed Contributors"):
        assert text in art.text


def test_a_related_box_heading_without_a_space_after_it_is_chrome() -> None:
    """Minified markup: "<h3>Related</h3><ul>..." reads "RelatedMoon probe..." as text;
    its heading line is still "Related"."""
    from feedsvc.extract.readable import is_boilerplate

    box = lhtml.fragment_fromstring(
        '<div><h3>Related</h3><ul><li><a href="/reports/moon.html">Moon probe lands on the '
        'far side after a long cruise</a></li><li><a href="/reports/navy.html">Navy tests '
        "a new radar on its latest destroyer</a></li></ul><p>Both reports were filed "
        "this week by our staff in Houston and in Norfolk, with more to come.</p></div>")
    assert is_boilerplate(box)


@pytest.mark.parametrize("cls", ["jp-relatedposts", "sharedaddy sd-sharing-enabled", "support"])
def test_chrome_classes_written_as_one_word(cls: str) -> None:
    """WordPress's "jp-relatedposts" and "sharedaddy", a "support" box: chrome although
    no delimiter follows the word."""
    from tests.site import STORIES, article_page

    title, dateline, paras = next(iter(STORIES.values()))
    box = (f'<div class="{cls}"><p>Like this: a related post about the Moon base, and another '
           "one about the Navy, with a line of each of them as a teaser for readers.</p></div>")
    page = article_page(title, dateline, paras).replace(
        f"<p>{paras[-1]}</p>", f"<p>{paras[-1]}</p>\n{box}", 1)
    art = extract_article(page.encode(), URL)
    assert "Like this" not in art.text and paras[-1] in art.text


def test_lazy_images_relative_urls_and_tracking_pixel() -> None:
    art = extract_article(_page("lazy-images.html"), URL)
    imgs = [el for el in _blocks(art.content_html) if el.tag == "img"]
    srcs = [img.get("src") for img in imgs]
    assert srcs == ["https://news.example/photos/leopard-1.jpg",
                    "https://news.example/photos/leopard-2.jpg"]
    assert "https://news.example/photos/leopard-1-small.jpg 480w" in imgs[0].get("srcset")
    assert "pixel.gif" not in art.content_html
    assert 'href="https://news.example/section/report.html"' in art.content_html
    assert "data:image/gif" not in art.content_html


def test_sidebar_longer_than_story_is_not_chosen() -> None:
    page = _page("long-sidebar.html")
    art = extract_article(page, URL)
    assert "Headline number" not in art.text
    assert "Shop owners in the old town welcomed" in art.text
    # The page is built so that the sidebar really is longer than the story.
    root = lhtml.document_fromstring(page)
    assert len(root.get_element_by_id("sidebar").text_content()) > 3 * len(art.text)


def test_charset_from_http_header_only() -> None:
    body = _page("cp1252-header-only.html")
    assert b"charset" not in body.lower()
    art = extract_article(body, URL, {"Content-Type": "text/html; charset=windows-1252"})
    assert art.title == "Caf\u00e9 owners protest new rules"
    assert "\u201cWe were not consulted,\u201d" in art.text
    assert art.explain["charset"] == "http-header:cp1252"


def test_undeclared_non_utf8_is_detected() -> None:
    body = _page("cp1252-header-only.html")
    art = extract_article(body, URL)
    assert "caf\u00e9 near the cathedral" in art.text


def test_wire_dateline_and_never_copyright_year() -> None:
    art = extract_article(_page("wire-dateline.html"), URL)
    assert art.dateline == "FRANKFURT (Reuters)"
    assert art.published is None  # "Copyright 2024" is not a publication date
    assert "All rights reserved" not in art.text


@pytest.mark.parametrize(("line", "dateline"), [
    ("Rio de Janeiro (AFP) Feb 17, 2017 - Brazil's...", "Rio de Janeiro (AFP)"),
    ("Dar es Salaam (AFP) Feb 1, 2017 - Tanzania's...", "Dar es Salaam (AFP)"),
    ("Cape Canaveral FL (SPX) Mar 3, 2017", "Cape Canaveral FL (SPX)"),
])
def test_datelines_of_places_with_lowercase_particles(line: str, dateline: str) -> None:
    """Otherwise the story's own dateline is missed, and an inset report's is taken."""
    from feedsvc.extract.meta import find_dateline

    found = find_dateline(f"Some headline\n{line}\nMoscow (AFP) Feb 15, 2017 - inset")
    assert found is not None and found[0] == dateline


def test_published_falls_back_to_feed_hint() -> None:
    when = datetime(2022, 5, 1, 8, 0, tzinfo=UTC)
    hint = LinkHint(url=URL, title="Hint title", published=when, author="Hint Author")
    art = extract_article(_page("wire-dateline.html"), URL, hint=hint)
    assert art.published == when
    assert art.author == "Hint Author"
    assert art.title == "Central bank holds rates steady"  # the page's own title wins
    assert art.explain["published"] == "feed hint"


def test_published_from_url_path() -> None:
    art = extract_article(_page("cookie-banner.html"), "https://x.example/2019/07/04/library")
    assert art.published == datetime(2019, 7, 4, tzinfo=UTC)


def test_empty_and_contentless_pages_raise_extract_error() -> None:
    with pytest.raises(ExtractError):
        extract_article(b"", URL)
    with pytest.raises(ExtractError):
        extract_article(b"<html><body><script>x()</script></body></html>", URL)


def test_time_budget_abandons_slow_extraction(monkeypatch: pytest.MonkeyPatch) -> None:
    from feedsvc.extract import readable

    def slow(self: object, *args: object, **kwargs: object) -> str:
        time.sleep(5)
        return ""

    monkeypatch.setattr(readable.Readable, "summary", slow)
    start = time.monotonic()
    with pytest.raises(ExtractError, match=r"longer than 0\.2"):
        extract_article(_page("cookie-banner.html"), URL, time_budget=0.2)
    assert time.monotonic() - start < 2


def test_join_pages_concatenates_and_skips_repeats() -> None:
    first = extract_article(_page("cookie-banner.html"), URL)
    second = extract_article(_page("wire-dateline.html"), URL)
    joined = join_pages(first, [second, first])
    assert joined.title == first.title
    assert joined.text == first.text + "\n" + second.text
    assert joined.explain["pages"] == "2"
    assert joined.next_page_url is None


def test_text_is_xml_safe() -> None:
    page = ("<html><body><div class='content'><p>Bad \x01 control \x0b chars in a long paragraph "
            "of story text that goes on, and on, and on, with commas, to score.</p>"
            "<p>Second paragraph of text that is long enough to count as content here.</p>"
            "</div></body></html>")
    art = extract_article(page, URL)
    assert "\x01" not in art.text
    assert "\x0b" not in art.content_html
    assert "Bad  control  chars" in art.text or "Bad control chars" in art.text


def test_story_split_over_step_blocks_is_kept_whole() -> None:
    # Each step sits in its own wrapper and scores about as high as the others; readability
    # keeps only the best one. The shared ancestor of the top candidates holds the story.
    art = extract_article(_page("split-steps.html"), URL)
    root = lhtml.document_fromstring(_page("split-steps.html"))
    for p in root.find_class("step-words"):
        for para in p.iter("p"):
            assert _flat(para.text_content()) in _flat(art.text)
    assert "How to make thing number" not in art.text
    assert "Garden" not in art.text


def test_lead_paragraphs_above_the_best_block_are_kept() -> None:
    # The best-scoring block holds only the rest of the story; its parent scores higher
    # than the block between them, so the lead paragraphs around it belong to the story.
    art = extract_article(_page("lead-then-more.html"), URL)
    root = lhtml.document_fromstring(_page("lead-then-more.html"))
    for para in root.find_class("story-body")[0].iter("p"):
        assert _flat(para.text_content()) in _flat(art.text)
    assert "since 1887" not in art.text


def test_data_table_is_one_block_of_the_story_not_the_story() -> None:
    # Every cell of a big data table scores like a paragraph, so readability picks the
    # table body and loses the introduction; the table's container is the story.
    art = extract_article(_page("data-table-list.html"), URL)
    text = _flat(art.text)
    assert "This list covers films in which the characters live through" in text
    assert "Films about time travel in general" in text
    root = lhtml.document_fromstring(_page("data-table-list.html"))
    for row in root.iter("tr"):
        for cell in row:
            assert _flat(cell.text_content()) in text
    assert "Random article" not in text


def test_data_table_with_linked_cells_is_kept() -> None:
    # A table of linked station names is data (caption, <th>), not a link farm.
    art = extract_article(_page("data-table-links.html"), URL)
    text = _flat(art.text)
    for value in ("First and last trains from December", "Harbourside", "Ashford Green",
                  "21:25", "The new timetable starts on the second Sunday"):
        assert value in text
    assert "<table" in art.content_html


def test_json_ld_wrapped_in_cdata_is_read() -> None:
    # The JSON sits in a //<![CDATA[ ... //]]> wrapper, as many CMSs write it.
    art = extract_article(_page("jsonld-cdata.html"), URL)
    assert art.author == "Mairi Campbell"
    assert art.published == datetime(2022, 3, 8, 9, 15, tzinfo=UTC)
    assert art.explain["published"] == "json-ld:datePublished"
    assert art.explain["title"] == "json-ld:headline"


def test_byline_nearest_the_headline_and_only_its_name() -> None:
    # Columnist lists before the headline carry rel=author too; the byline after the
    # <h1> is the story's, and its name part leaves out the "3h" beside it.
    art = extract_article(_page("byline-near-headline.html"), URL)
    assert art.author == "Tomas Berg"
    assert art.explain["author"] == "byline element"


def test_a_by_line_ends_at_its_line_break() -> None:
    """"by Staff Writers<br>Brussels (AFP) Feb 16, 2017" in one element: the author is
    the first line, not both run together."""
    from tests.site import STORIES, article_page

    title, dateline, paras = next(iter(STORIES.values()))
    page = article_page(title, dateline, paras).replace(
        f'<font face="Arial" size="2"><i>by Staff Writers</i></font><br>\n'
        f'<font face="Arial" size="2"><b>{dateline}</b></font>',
        f'<font face="Arial" size="2">by Staff Writers<br>{dateline}</font>')
    assert "by Staff Writers<br>" in page
    art = extract_article(page.encode(), URL)
    assert art.author == "Staff Writers"


def test_byline_label_and_reference_box_are_not_names() -> None:
    page = _page("byline-near-headline.html").replace(
        b'<div class="byline"><span class="avatar"></span><a class="author-name" '
        b'href="/staff/tomas-berg">Tomas Berg</a> &bull; 3h</div>', b"").replace(
        b'<div id="masthead">', b'<div class="authority-control">Authority control</div>'
        b'<div id="masthead">').replace(b'rel="author" ', b"")
    art = extract_article(page, URL)
    assert art.author is None or "author" not in art.author.lower()


def test_parsely_pub_date_meta() -> None:
    # Parse.ly's metadata tags are what some sites carry instead of Open Graph.
    page = _page("byline-near-headline.html").replace(
        b"<title>", b'<meta name="parsely-pub-date" content="2024-04-20T04:20:00.000Z"><title>')
    art = extract_article(page, URL)
    assert art.published == datetime(2024, 4, 20, 4, 20, tzinfo=UTC)
    assert art.explain["published"] == "meta:parsely-pub-date"


def test_story_links_resolved_against_base_href_then_page_url() -> None:
    # Only the story's links are made absolute (not the whole page's, issue #4 item 7);
    # a <base href> still comes first, and a relative base is itself relative to the page.
    story = "".join(
        f"<p>Paragraph {i} of the story, long enough to score, with commas, and more words "
        f"so that readability takes it for content; see <a href='notes/{i}.html'>note</a>.</p>"
        for i in range(6))
    page = (f"<html><head><base href='/archive/2024/'></head><body><nav><a href='/'>Home</a>"
            f"</nav><div class='content'>{story}<img src='photo.jpg' alt='x'></div></body></html>")
    art = extract_article(page, URL)
    assert 'href="https://news.example/archive/2024/notes/3.html"' in art.content_html
    assert 'src="https://news.example/archive/2024/photo.jpg"' in art.content_html
    without_base = extract_article(page.replace("<base href='/archive/2024/'>", ""), URL)
    assert 'href="https://news.example/section/notes/3.html"' in without_base.content_html
