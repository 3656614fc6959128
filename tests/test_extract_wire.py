"""Extraction of wire stories in a table-era layout (the SpaceDaily network's): the
header lines above the story (byline, dateline) in their many markups, and the inset
reports the site puts inside the story cell."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from feedsvc.extract import extract_article
from feedsvc.extract.meta import find_dateline
from tests.network_pages import INSET_PARAS as NETWORK_INSET_PARAS
from tests.site import STORIES

URL = "https://news.example/reports/story.html"
TITLE, DATELINE, _ = next(iter(STORIES.values()))  # "Houston (AFP) Feb 14, 2017"
# A story as long as a wire story (a short one lets readability take any box beside it).
PARAS = [p for _, _, paras in STORIES.values() for p in paras]
PLACE = "Houston (AFP)"
BYLINE = '<font face="Arial" size="2"><i>by Staff Writers</i></font><br>\n'
HEADER = BYLINE + f'<font face="Arial" size="2"><b>{DATELINE}</b></font><br><br>\n'
# An inset report of the site's, above the story, with a dateline and date of its own.
INSET_PARAS = [
    *NETWORK_INSET_PARAS,
    "Analysts said the decision leaves the door open to later talks, and that the agency "
    "is short of money for either project in any case.",
]
INSET = ('<table width="220" align="right" class="insbox"><tr><td><font size="2">'
         "<b>Russia stays out of lunar accord for now</b><br>\n"
         + "<br><br>\n".join(INSET_PARAS) + "\n</font></td></tr></table>\n")


def wire_page(header: str, *, inset: str = INSET, first: str = "", wrap: bool = True) -> str:
    """A story page: nav cell, then the story cell with kicker, headline, ``header``,
    ``inset`` and the paragraphs (the first opening with ``first``), in a <font> of their
    own (``wrap``) or right in the cell, then the site's chrome."""
    paras = "".join(f"<p>{first if i == 0 else ''}{p}</p>\n" for i, p in enumerate(PARAS))
    if wrap:
        paras = f'<font face="Arial" size="3">\n{paras}</font>\n'
    return f"""<html><head><title>{TITLE}</title></head><body>
<table width="100%"><tr><td class="leftnav" width="150"><a href="/">Home</a><br>
<a href="/Superpowers.html">Superpowers</a><br><a href="/Navy.html">Navy</a></td>
<td valign="top"><font face="Arial" size="2" color="#990000"><b>SUPERPOWERS</b></font><br>
<h1>{TITLE}</h1>
{header}{inset}{paras}<br clear="all">
<p><font size="2">Comment on this article using your Disqus, Facebook, Google or Twitter login.</font></p>
<p><b>Related Links</b><br><a href="/Superpowers.html">Learn about the Superpowers at SpaceWar.com</a></p>
</td></tr></table></body></html>"""


@pytest.mark.parametrize(("line", "name", "dateline"), [
    ("by Staff Writers Brussels (AFP) Feb 16, 2017", "Staff Writers", "Brussels (AFP)"),
    ("By Staff WritersBrussels (AFP) Feb 16, 2017", "Staff Writers", "Brussels (AFP)"),
    ("by AFP Correspondent Dar es Salaam (AFP) Feb 1, 2017", "AFP Correspondent",
     "Dar es Salaam (AFP)"),
    ("by John Smith New York (AP) -", "John Smith", "New York (AP)"),
    ("by John F. Smith Rio de Janeiro (AFP) Feb 1, 2017", "John F. Smith",
     "Rio de Janeiro (AFP)"),
])
def test_a_byline_running_on_into_the_dateline_is_split(line: str, name: str,
                                                        dateline: str) -> None:
    from feedsvc.extract.meta import split_byline

    split = split_byline(line)
    assert split is not None and split[0] == name and split[1]["line"] == dateline
    found = find_dateline(f"Headline\n{line}\nMoscow (AFP) Feb 15, 2017 - inset")
    assert found is not None and found[0] == dateline
    assert split_byline("by Staff Writers") is None


@pytest.mark.parametrize("wrap", [True, False])
@pytest.mark.parametrize("header", [
    f'<font face="Arial" size="2">by Staff Writers {DATELINE}</font><br><br>\n',
    f'<font face="Arial" size="2"><i>by Staff Writers</i> <b>{DATELINE}</b></font><br><br>\n',
    f'<font size="2"><i>by Staff Writers</i></font> <font size="2"><b>{DATELINE}</b></font>\n',
    f'<font face="Arial" size="2"><i>by Staff Writers</i><b>{DATELINE}</b></font><br><br>\n',
    f"<p>By Staff Writers {DATELINE}</p>\n",
])
def test_byline_and_dateline_on_one_line(header: str, wrap: bool) -> None:
    """The story's author, dateline and date, not the inset report's (it comes first
    among the lines that open with a dateline), and the header line out of the story."""
    art = extract_article(wire_page(header, wrap=wrap).encode(), URL)
    assert art.author == "Staff Writers"
    assert art.dateline == PLACE
    assert art.published == datetime(2017, 2, 14, tzinfo=UTC)
    assert "Staff Writers" not in art.text and DATELINE not in art.text
    assert PARAS[0] in art.text and INSET_PARAS[0] in art.text


@pytest.mark.parametrize("wrap", [True, False])
@pytest.mark.parametrize("header", [
    BYLINE + f'<font face="Arial" size="2"><b>{PLACE} -</b></font><br><br>\n',
    BYLINE + f'<font face="Arial" size="2"><b>{PLACE}</b></font><br><br>\n',
    f'<font face="Arial" size="2">by Staff Writers {PLACE} -</font><br><br>\n',
    f'<font face="Arial" size="2"><i>by Staff Writers</i> <b>{PLACE}</b></font><br><br>\n',
])
def test_a_dateline_without_a_date_on_a_line_of_its_own(header: str, wrap: bool) -> None:
    art = extract_article(wire_page(header, wrap=wrap).encode(), URL)
    assert art.author == "Staff Writers"
    assert art.dateline == PLACE
    assert PLACE not in art.text and "Staff Writers" not in art.text
    assert all(p in art.text for p in PARAS) and INSET_PARAS[0] in art.text


def test_a_bracket_ending_a_line_is_a_dateline_only_for_a_wire_agency() -> None:
    assert find_dateline("Menu\nBrussels (AFP)\nThe United States...") == ("Brussels (AFP)", None)
    assert find_dateline("WASHINGTON (Reuters)\nThe Fed...") == ("WASHINGTON (Reuters)", None)
    for line in ("Australia (English)", "High (HD)", "Facebook (Mozilla)",
                 "Kiemo Galerija (Courtyard Gallery)"):
        assert find_dateline(f"Menu\n{line}\nSome text.") is None, line


@pytest.mark.parametrize(("line", "dateline"), [
    # a wire service's
    ("Brussels (AFP) - The United States...", "Brussels (AFP)"),
    ("Cape Canaveral FL (SPX) - The launch...", "Cape Canaveral FL (SPX)"),
    # another agency's, dated
    ("Frankfurt (Boersen-Zeitung) Feb 16, 2017 - The bank...", "Frankfurt (Boersen-Zeitung)"),
    ("NEW YORK, Nov 3 (IFR) - Bond sales...", "NEW YORK, Nov 3 (IFR)"),
    # a newsroom's, the place in capitals as AP writes it
    ("LOS ANGELES (KABC) -- Firefighters...", "LOS ANGELES (KABC)"),
    ("CAPE CANAVERAL, Fla. (WESH) \u2014 The launch...", "CAPE CANAVERAL, Fla. (WESH)"),
    # a company and its ticker: no dateline
    ("Northrop Grumman (NOC) - The company said...", None),
    ("Lockheed Martin Corp. (LMT) \u2014 Shares rose...", None),
    ("Apple (AAPL) -- The company reported...", None),
    # ...also when the company writes its name in capitals, as a dateline's place is
    ("NVIDIA (NVDA) - The chipmaker said...", None),
    ("IBM (IBM) - Shares rose...", None),
    ("AMD (AMD) -- The company reported...", None),
    # a newsroom's call sign or network is not made of its city's letters
    ("NEW YORK (WABC) -- Firefighters...", "NEW YORK (WABC)"),
    ("WASHINGTON (WTOP) -- The council...", "WASHINGTON (WTOP)"),
    ("SALT LAKE CITY (KSL) -- The council...", "SALT LAKE CITY (KSL)"),
    ("BOSTON (WBZ) -- The council...", "BOSTON (WBZ)"),
    ("CHICAGO (CBS) -- The council...", "CHICAGO (CBS)"),
    ("NEW YORK (NY1) -- The council...", "NEW YORK (NY1)"),
    # a month and day with no place: UPI's style, and Reuters' company briefs
    ("Nov. 3 (UPI) -- A powerful storm...", "Nov. 3 (UPI)"),
    ("Nov 3 (Reuters) - Shares of...", "Nov 3 (Reuters)"),
    ("March 14 (UPI) -- The court...", "March 14 (UPI)"),
    # ...only with a wire service's name: a caption's date and what it shows is none
    ("March 3 (Video) - Crowds gathered...", None),
    ("Nov 3 (NVDA) - Shares rose...", None),
])
def test_a_bracket_and_a_dash_are_a_dateline_for_an_agency_or_a_place(
        line: str, dateline: str | None) -> None:
    found = find_dateline(f"{line}\nMore text.")
    assert (found[0] if found else None) == dateline


@pytest.mark.parametrize("wrap", [True, False])
def test_a_ticker_opening_the_first_paragraph_is_no_dateline(wrap: bool) -> None:
    """A market report opening with the company and its ticker: no dateline, and the
    paragraph whole in the story."""
    first = "Northrop Grumman (NOC) - "
    art = extract_article(wire_page(BYLINE, inset="", first=first, wrap=wrap).encode(), URL)
    assert art.dateline is None
    assert f"{first}{PARAS[0]}" in art.text


@pytest.mark.parametrize("wrap", [True, False])
@pytest.mark.parametrize("first", [f"<b>{PLACE}</b> - ", f"<b>{PLACE} -</b> ", f"{PLACE} - "])
def test_a_dateline_opening_the_first_paragraph_stays_in_it(first: str, wrap: bool) -> None:
    """Below the header's dated dateline, the first paragraph opens with the dateline
    again: its opening words are the story's, the paragraph is kept whole."""
    art = extract_article(wire_page(HEADER, inset="", first=first, wrap=wrap).encode(), URL)
    assert art.dateline == PLACE
    assert f"{PLACE} - {PARAS[0]}" in art.text


@pytest.mark.parametrize("wrap", [True, False])
def test_a_short_first_paragraph_opening_with_the_dateline_is_story(wrap: bool) -> None:
    page = wire_page(HEADER, inset="", wrap=wrap).replace(
        f"<p>{PARAS[0]}</p>", f"<p>{PLACE} - Four nations signed.</p>\n<p>{PARAS[0]}</p>")
    art = extract_article(page.encode(), URL)
    assert f"{PLACE} - Four nations signed." in art.text


@pytest.mark.parametrize("wrap", [True, False])
@pytest.mark.parametrize("first", [f"{DATELINE} - ", f"<b>{DATELINE}</b> - ", f"{PLACE} - "])
@pytest.mark.parametrize("box", ['<table width="220" align="right"', '<table class="sidebar"',
                                 '<div style="float: left; width: 200px"', "<aside"])
def test_the_storys_dateline_not_an_inset_reports_above_it(first: str, box: str,
                                                          wrap: bool) -> None:
    """The story's dateline opens its first paragraph; an inset report above it, set
    beside the story, has its own: the story's is the one in the story's text."""
    tag = box[1:].split()[0]
    inset = (f"{box}><tr><td><b>Russia stays out of lunar accord for now</b><br>\n"
             + "<br><br>\n".join(INSET_PARAS) + f"</td></tr></{tag}>\n")
    if tag != "table":
        inset = inset.replace("<tr><td>", "").replace("</td></tr>", "")
    art = extract_article(wire_page(BYLINE, inset=inset, first=first, wrap=wrap).encode(), URL)
    assert art.dateline == PLACE
    if first[:-3] != PLACE:
        assert art.published == datetime(2017, 2, 14, tzinfo=UTC)
    else:
        assert art.published is None  # not the inset's Feb 13
    assert PARAS[1] in art.text


@pytest.mark.parametrize("wrap", [True, False])
@pytest.mark.parametrize("first", [f"<b>{PLACE}</b> ", f"{PLACE} "])
def test_a_dateline_running_into_the_first_sentence(first: str, wrap: bool) -> None:
    """"Houston (AFP) Space agencies from four nations...": neither date nor dash, the
    story's first sentence right after the agency; the paragraph stays whole."""
    art = extract_article(wire_page(BYLINE, first=first, wrap=wrap).encode(), URL)
    assert art.dateline == PLACE
    assert f"{PLACE} {PARAS[0]}" in art.text
    assert find_dateline("Tesla (TSLA) The company said...") is None  # not a wire agency


SHORT_HEADING = "Russia stays out of lunar accord for now"
SHORT_INSET = ('<table width="220" align="right" class="insbox"><tr><td><font size="2">'
               f"<b>{SHORT_HEADING}</b><br>\n{INSET_PARAS[0]}\n</font></td></tr></table>\n")
LINKS_BOX = ('<table width="220" align="right" class="insbox"><tr><td><font size="2">'
             "<b>Moon and Mars</b><br>"
             '<a href="/reports/a.html">China and Russia plan a joint lunar station</a><br>'
             '<a href="/reports/b.html">Lunar lander passes its final design review</a><br>'
             '<a href="/reports/c.html">Agencies weigh a common docking standard</a>'
             "</font></td></tr></table>\n")


def _box_of(content_html: str, needle: str) -> str:
    """The text of the smallest element of the story holding ``needle``'s heading and
    first words."""
    from lxml import html as lhtml

    root = lhtml.fragment_fromstring(content_html, create_parent="div")
    holders = [el for el in root.iter() if SHORT_HEADING in el.text_content()
               and needle[:60] in el.text_content()]
    return min((" ".join(el.text_content().split()) for el in holders), key=len, default="")


@pytest.mark.parametrize("wrap", [True, False])
@pytest.mark.parametrize("dated", [True, False])
def test_a_short_inset_report_is_kept_as_its_own_block(dated: bool, wrap: bool) -> None:
    """A heading over one paragraph of prose, under the 400 characters of a long story
    box: still the site's inset report, kept whole and apart from the story."""
    para = INSET_PARAS[0] if dated else (
        f"{INSET_PARAS[0].split(' - ', 1)[1]} {INSET_PARAS[1]}")
    inset = SHORT_INSET.replace(INSET_PARAS[0], para)
    assert len(SHORT_HEADING + para) < 400
    art = extract_article(wire_page(HEADER, inset=inset, wrap=wrap).encode(), URL)
    box = _box_of(art.content_html, para)
    assert para in box and PARAS[0] not in box
    assert all(p in art.text for p in PARAS)


@pytest.mark.parametrize("wrap", [True, False])
def test_a_box_of_links_beside_the_story_is_not_a_report(wrap: bool) -> None:
    art = extract_article(wire_page(HEADER, inset=LINKS_BOX, wrap=wrap).encode(), URL)
    assert "Moon and Mars" not in art.text and "lunar station" not in art.text
    assert all(p in art.text for p in PARAS)


def test_a_short_box_is_a_report_only_under_a_heading_of_its_own() -> None:
    from lxml import html as lhtml

    from feedsvc.extract.readable import looks_like_story_box

    def box(inner: str) -> bool:
        return looks_like_story_box(lhtml.fragment_fromstring(f"<div>{inner}</div>"))

    para = INSET_PARAS[0]
    assert box(f"<b>{SHORT_HEADING}</b><br>{para}")
    assert box(f"<h4>{SHORT_HEADING}</h4><p>{para}</p>")
    assert not box(para)  # no heading: a stray paragraph, not a report
    assert not box(f"<b>Related Links</b><br>{para}")  # a chrome heading
    assert not box(f"<b>{SHORT_HEADING}</b><br>Moscow (AFP) - Russia said no.")  # too short
    assert not box(f"<b>{SHORT_HEADING}</b><br><a href='/a'>{para}</a>")  # a link


@pytest.mark.parametrize("wrap", [True, False])
@pytest.mark.parametrize("cls", ["sidebar", "related-report"])
@pytest.mark.parametrize("short", [True, False])
def test_an_inset_report_classed_as_chrome_is_kept(cls: str, short: bool, wrap: bool) -> None:
    """A "sidebar" or "related" class says chrome, but a box whose prose opens with a
    wire dateline is a report: inside the story cell it is the story's, kept whole."""
    inset = (SHORT_INSET if short else INSET).replace('class="insbox"', f'class="{cls}"')
    art = extract_article(wire_page(HEADER, inset=inset, wrap=wrap).encode(), URL)
    box = _box_of(art.content_html, INSET_PARAS[0])
    assert INSET_PARAS[0] in box and PARAS[0] not in box
    if not short:
        assert all(p in box for p in INSET_PARAS)
    assert all(p in art.text for p in PARAS)


@pytest.mark.parametrize("wrap", [True, False])
@pytest.mark.parametrize("cls", ["sidebar", "related-report"])
@pytest.mark.parametrize("box", [
    LINKS_BOX,
    # prose, but no report: the site's blurb
    '<table width="220" align="right" class="insbox"><tr><td><b>About this site</b><br>'
    "The network publishes news on space, defence and energy from wire services and its "
    "own writers, and has done so every day since the middle of the nineteen-nineties."
    "</td></tr></table>\n",
])
def test_a_chrome_classed_box_that_is_no_report_is_dropped(box: str, cls: str,
                                                           wrap: bool) -> None:
    page = wire_page(HEADER, inset=box.replace('class="insbox"', f'class="{cls}"'), wrap=wrap)
    art = extract_article(page.encode(), URL)
    for chrome in ("Moon and Mars", "lunar station", "About this site", "nineteen-nineties"):
        assert chrome not in art.text
    assert all(p in art.text for p in PARAS)


@pytest.mark.parametrize("wrap", [True, False])
@pytest.mark.parametrize("first", ["<b>NEW YORK</b> - ", "<b>HOUSTON</b> (AFP) - "])
def test_capitals_opening_the_first_paragraph_are_no_section_kicker(first: str,
                                                                     wrap: bool) -> None:
    art = extract_article(wire_page(BYLINE, inset="", first=first, wrap=wrap).encode(), URL)
    opening = first.replace("<b>", "").replace("</b>", "")
    assert f"{opening}{PARAS[0]}" in art.text
    assert "SUPERPOWERS" not in art.text  # the kicker on its own line above the headline
