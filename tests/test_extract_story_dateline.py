"""The dateline and its date are the story's (issue #4 item 3): read once the story is
isolated, from its own lines and the header lines above them, never from a "Previous
Report" teaser, a related box or an inset lower on the page, nor from a block the
extraction then drops as chrome."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from feedsvc.extract import extract_article
from feedsvc.extract.meta import find_story_dateline
from feedsvc.models import LinkHint
from tests.helpers import shared_path
from tests.network_pages import (
    AFTER,
    CHROME,
    COMMENT,
    DATELINE,
    HLBOX,
    INSET,
    INSET_PARAS,
    PARAS,
    PLACE,
    RELATED,
    SUPPORT,
    URL,
    network_page,
    previous,
)

FEB_14 = datetime(2017, 2, 14, tzinfo=UTC)
# What may follow a story that has no dateline: boxes whose teasers have one.
TEASER_BOXES = {
    "previous report": AFTER,
    "teaser opening with its dateline": COMMENT + SUPPORT + RELATED + previous(inline=True),
    "next report": COMMENT + previous("Bonn (AFP) Feb 16, 2017", label="Next Report") + RELATED,
    "headline boxes first": COMMENT + HLBOX + previous() + SUPPORT,
}


def _story_complete(text: str) -> None:
    assert [p[:40] for p in PARAS if p not in text] == []
    assert [c for c in CHROME if c in text] == []


@pytest.mark.parametrize("wrap", [True, False])
@pytest.mark.parametrize("inset", [INSET, ""])
@pytest.mark.parametrize("byline", ["by Staff Writers", None])
@pytest.mark.parametrize("after", list(TEASER_BOXES.values()), ids=list(TEASER_BOXES))
def test_a_story_without_a_dateline_takes_none_from_a_teaser(after: str, byline: str | None,
                                                             inset: str, wrap: bool) -> None:
    page = network_page(byline=byline, dateline=None, inset=inset, wrap=wrap, after=after)
    art = extract_article(page.encode(), URL)
    assert art.dateline is None
    assert art.published is None  # not the teaser's Nov 3, 2025 (nor Feb 16)
    assert "published" not in art.explain
    _story_complete(art.text)


@pytest.mark.parametrize("wrap", [True, False])
@pytest.mark.parametrize("after", list(TEASER_BOXES.values()), ids=list(TEASER_BOXES))
@pytest.mark.parametrize(("header", "first", "published"), [
    ({"dateline": DATELINE}, "", FEB_14),
    ({"byline": f"by Staff Writers {DATELINE}", "dateline": None}, "", FEB_14),
    ({"dateline": None}, f"{PLACE} - ", None),
    ({"dateline": None}, f"<b>{DATELINE}</b> - ", FEB_14),
], ids=["header line", "byline line", "opening the story", "dated, opening the story"])
def test_the_storys_own_dateline_wins_over_a_teasers(header: dict[str, str | None], first: str,
                                                     published: datetime | None, after: str,
                                                     wrap: bool) -> None:
    art = extract_article(network_page(**header, first=first, wrap=wrap,  # type: ignore[arg-type]
                                       after=after).encode(), URL)
    assert art.dateline == PLACE
    assert art.published == published
    assert art.author == "Staff Writers"
    assert "Staff Writers" not in art.text


def test_the_reference_page_without_its_dateline_line_has_none() -> None:
    """The shared SpaceDaily page, its "Brussels (AFP) Feb 16, 2017" line taken out: its
    "Previous Report" teaser's "Bonn (AFP) Feb 16, 2017" and the insets' "Moscow (AFP)"
    are other reports' datelines."""
    page = shared_path("pages/spacedaily-superpowers.html").read_text(encoding="latin-1")
    expected = json.loads(shared_path("pages/spacedaily-superpowers.expected.json").read_text())
    line = '<font face="Arial" size="2"><b>Brussels (AFP) Feb 16, 2017</b></font><br><br>\n'
    assert line in page and "Bonn (AFP) Feb 16, 2017" in page
    art = extract_article(page.replace(line, "").encode("latin-1"), str(expected["url"]))
    assert art.dateline is None and art.published is None
    assert art.author == expected["author"]
    text = " ".join(art.text.split())
    assert all(" ".join(p.split()) in text for p in expected["main_story_paragraphs"])
    assert [c for c in expected["boilerplate_must_not_appear"] if c in art.text] == []


def test_find_story_dateline_reads_the_header_and_first_paragraph_only() -> None:
    first = PARAS[0]
    page = ["Home", "SUPERPOWERS", "Moon base plans", "by Staff Writers", DATELINE, first,
            PARAS[1], "Previous Report", "Bonn (AFP) Feb 16, 2017", "A teaser."]
    # the header above the story's block
    assert find_story_dateline([first, PARAS[1]], page, "Moon base plans") == (PLACE, FEB_14)
    # the story's block holds its header
    assert find_story_dateline(page[2:], page, "Moon base plans") == (PLACE, FEB_14)
    # none above the first paragraph: the teaser's below it is not taken
    no_dateline = [line for line in page if line != DATELINE]
    assert find_story_dateline(no_dateline[2:], no_dateline, "Moon base plans") is None
    assert find_story_dateline([first, PARAS[1]], no_dateline, "Moon base plans") is None
    # a line extraction removed is not the story's
    assert find_story_dateline(page[2:], page, "Moon base plans", {DATELINE}) is None
    # nor one above the headline
    above = ["Bonn (AFP) Feb 16, 2017", "Moon base plans", first]
    assert find_story_dateline([first], above, "Moon base plans") is None


@pytest.mark.parametrize("wrap", [True, False])
@pytest.mark.parametrize(("dateline", "place", "published"), [
    (DATELINE, PLACE, FEB_14), (None, None, None)])
def test_an_inset_report_set_in_the_story_lends_it_no_dateline(
        dateline: str | None, place: str | None, published: datetime | None, wrap: bool) -> None:
    """An inset report above the story in a plain table (not floated): readability
    recovers it into the story block, where its "Moscow (AFP) Feb 13, 2017" comes before
    the story's first paragraph. It is a report of its own (a heading over prose)."""
    inset = INSET.replace('align="right" ', "")
    art = extract_article(network_page(inset=inset, dateline=dateline, wrap=wrap).encode(), URL)
    assert art.dateline == place
    assert art.published == published
    _story_complete(art.text)
    assert INSET_PARAS[0] in art.text


@pytest.mark.parametrize("inset", [INSET, ""])
@pytest.mark.parametrize("wrap", [True, False])
def test_a_dateline_line_as_text_before_the_storys_line_breaks_is_dropped(inset: str,
                                                                        wrap: bool) -> None:
    """A table-era story as text and line breaks, its dateline the first line of that
    text ("Houston (AFP) Feb 14, 2017<br><br>Space agencies..."), an inset report above
    it: the dateline is the entry's, not a line of its text."""
    text = "<br><br>\n".join([DATELINE, *PARAS])
    page = network_page(dateline=None, inset=inset, paras=[], wrap=wrap).replace(
        '<font face="Arial" size="3">\n</font>' if wrap else COMMENT,
        f'<font face="Arial" size="3">{text}</font>' if wrap else f"{text}{COMMENT}", 1)
    art = extract_article(page.encode(), URL)
    assert art.dateline == PLACE and art.published == FEB_14
    assert DATELINE not in art.text
    _story_complete(art.text)


CAPTION = ("Officials of the four space agencies sign the lunar base accord in Houston, Texas, "
           "on Tuesday, Feb. 14, 2017. (AFP Photo/Mark Felix)")


@pytest.mark.parametrize(("header", "first"), [
    ({"dateline": DATELINE}, ""),
    ({"dateline": None}, f"{PLACE} - "),
    ({"dateline": None}, f"<b>{DATELINE}</b> - "),
], ids=["header line", "opening the story", "dated, opening the story"])
def test_a_photo_caption_above_the_story_is_not_its_first_paragraph(
        header: dict[str, str | None], first: str) -> None:
    """A lead photo's caption (a sentence as long as a paragraph) between the header and
    the story: the dateline below it, opening the story or on a line of its own, is still
    the story's."""
    figure = f'<figure><img src="/images/accord.jpg" alt=""><figcaption>{CAPTION}</figcaption></figure>\n'
    page = network_page(**header, first=first, inset=figure, after=AFTER)  # type: ignore[arg-type]
    art = extract_article(page.encode(), URL)
    assert art.dateline == PLACE
    _story_complete(art.text)


def test_an_ap_story_under_its_lead_photo_keeps_its_dateline() -> None:
    """An AP story as news sites carry it: the lead photo and its caption, then the first
    paragraph opening with "WASHINGTON (AP) —"; a related box below has another dateline."""
    paras = "".join(f"<p>{'WASHINGTON (AP) — ' if i == 0 else ''}{p}</p>" for i, p in enumerate(PARAS))
    page = ("<html><head><title>Moon base plans advance</title></head><body><main><article>"
            "<h1>Moon base plans advance</h1><div class='byline'>By JANE DOE</div>"
            f"<figure><img src='/p.jpg'><figcaption>{CAPTION}</figcaption></figure>{paras}"
            "</article><aside class='related'><h2>More news</h2><p>NEW YORK (AP) — Stocks fell "
            "on Monday as investors weighed the latest news on inflation and rates.</p></aside>"
            "</main></body></html>")
    art = extract_article(page.encode(), "https://news.test/2017/02/14/moon-base")
    assert art.dateline == "WASHINGTON (AP)"


STANDFIRST = ("Four space agencies agreed on Tuesday to build a shared base near the Moon's south "
              "pole, the first step of a plan that will take more than a decade to complete.")


@pytest.mark.parametrize("related", [True, False])
@pytest.mark.parametrize("deck", [
    f"<p class='standfirst'>{STANDFIRST}</p>",
    f"<p><strong>{STANDFIRST}</strong></p>",
    f"<div class='article-header'><p>{STANDFIRST}</p></div>",
    f"<h2>{STANDFIRST}</h2>",
    f"<p><img src='/accord.jpg'><br>{STANDFIRST}</p>",  # a photo and its caption
], ids=["classed", "bold", "in a header block", "heading", "photo caption"])
def test_a_standfirst_above_the_first_paragraph_does_not_hide_its_dateline(
        deck: str, related: bool) -> None:
    """A news site's standfirst (a deck: one summary sentence as long as a paragraph) set
    between the headline and the story, set apart from its paragraphs: the dateline
    opening the paragraph under it is still the story's, and a related box's dateline
    below is still not."""
    paras = "".join(f"<p>{'WASHINGTON (AP) — ' if i == 0 else ''}{p}</p>" for i, p in enumerate(PARAS))
    aside = ("<aside class='related'><h2>More news</h2><p>NEW YORK (AP) — Stocks fell on Monday "
             "as investors weighed the latest news on inflation and rates.</p></aside>") if related else ""
    page = ("<html><head><title>Moon base plans advance</title></head><body><main><article>"
            "<h1>Moon base plans advance</h1><div class='byline'>By JANE DOE</div>"
            f"{deck}{paras}</article>{aside}</main></body></html>")
    art = extract_article(page.encode(), "https://news.test/2017/02/14/moon-base")
    assert art.dateline == "WASHINGTON (AP)"


OTHER_REPORT = [
    "Bonn (AFP) Feb 16, 2017 - Germany's space agency said on Thursday it would fund two of "
    "the base's modules, the largest share of any partner after the United States.",
    "The agency said the money would come from its existing budget for crewed flight.",
]


@pytest.mark.parametrize("wrap", ["", "span"])
def test_a_one_paragraph_story_lends_itself_no_dateline_from_the_report_after_it(
        wrap: str) -> None:
    """A story of one paragraph, then a report it quotes in paragraphs like its own (no
    <blockquote>), that report's dateline opening the first: the story's first paragraph
    is set as the next one is, so it is no standfirst, and that dateline is not the
    story's."""
    def para(text: str) -> str:
        return f"<p><{wrap}>{text}</{wrap}></p>" if wrap else f"<p>{text}</p>"

    page = ("<html><head><title>Moon base plans advance</title></head><body><main><article>"
            "<h1>Moon base plans advance</h1><div class='byline'>By JANE DOE</div>"
            + "".join(para(p) for p in [f"{PARAS[0]} {PARAS[1]}", *OTHER_REPORT])
            + "</article></main></body></html>")
    art = extract_article(page.encode(), "https://news.test/reports/moon-base")
    assert art.dateline is None and art.published is None
    assert OTHER_REPORT[0] in art.text


def test_a_dateline_is_not_read_past_the_second_paragraph() -> None:
    """Only a standfirst may stand above the dateline's paragraph: a dateline opening the
    story's third paragraph or later is another report's (one the story quotes in full)."""
    story = [PARAS[0], PARAS[1], f"Bonn (AFP) Feb 16, 2017 - {PARAS[2]}"]
    assert find_story_dateline(story, [], "Moon base plans") is None


@pytest.mark.parametrize(("given", "published", "source"), [
    # the dateline's day (Houston, Feb 14) as the feed times it: the feed's time is kept
    (datetime(2017, 2, 14, 8, 30, tzinfo=UTC), datetime(2017, 2, 14, 8, 30, tzinfo=UTC),
     "feed hint (the dateline's day, with its time)"),
    # late on the 14th in Houston is already the 15th in UTC
    (datetime(2017, 2, 15, 3, 0, tzinfo=UTC), datetime(2017, 2, 15, 3, 0, tzinfo=UTC),
     "feed hint (the dateline's day, with its time)"),
    # another day: the feed dates its item, not the story; the dateline stands
    (datetime(2017, 2, 20, 8, 30, tzinfo=UTC), FEB_14, "dateline"),
])
def test_a_feed_time_on_the_datelines_day_gives_the_time_of_day(
        given: datetime, published: datetime, source: str) -> None:
    """A dateline gives a day, not a time: the story would sort at midnight, below the
    stories its feed says came out before it that day (user review, session 7)."""
    art = extract_article(network_page().encode(), URL, hint=LinkHint(url=URL, published=given))
    assert art.dateline == PLACE
    assert (art.published, art.explain["published"]) == (published, source)


def test_a_feed_time_on_the_urls_day_gives_the_time_of_day() -> None:
    page = network_page(dateline=None)
    url = "https://www.spacewar.com/2017/02/14/moon-base.html"
    when = datetime(2017, 2, 14, 16, 5, tzinfo=UTC)
    art = extract_article(page.encode(), url, hint=LinkHint(url=url, published=when))
    assert (art.published, art.explain["published"]) == (
        when, "feed hint (the URL's day, with its time)")


def test_a_quoted_report_under_the_first_paragraph_lends_no_dateline() -> None:
    """The dateline is read up to the second paragraph (a standfirst may come first): a
    report the story quotes whole in a <blockquote> under its first paragraph has a
    dateline of its own, not the story's."""
    quote = ("<blockquote><p>Moscow (AFP) Feb 13, 2017 - Russia's space agency said on Monday "
             "it would not join the lunar accord for now, though it would keep talking to the "
             "partners about it.</p></blockquote>")
    page = network_page(dateline=None, inset="", paras=PARAS[:1],
                        after=quote + "".join(f"<p>{p}</p>" for p in PARAS[1:4]))
    art = extract_article(page.encode(), URL)
    assert art.dateline is None and art.published is None
    assert "Russia's space agency" in art.content_html
