"""Article pages of the SpaceDaily network's table layout (spacedaily.com, spacewar.com,
...), written here with the chrome a reader of those sites sees around a story: the
network bar and section navigation, the kicker, headline, byline and dateline lines, an
inset wire report, the comment prompt, the donation appeal, "Related Links", share links,
the "Previous Report" teaser, headline boxes, the ad column and the copyright footer.

:func:`network_page` builds one with any of those parts changed; the tests of datelines
and of page variants use it.
"""

from __future__ import annotations

from tests.site import STORIES

TITLE, DATELINE, _FIRST = next(iter(STORIES.values()))  # "Houston (AFP) Feb 14, 2017"
PLACE = "Houston (AFP)"
# A story as long as a wire story: the first two stories' paragraphs.
PARAS = [p for _, _, paras in list(STORIES.values())[:2] for p in paras]
URL = "https://www.spacewar.com/reports/Moon_base_plans_advance_999.html"

TOP = """<table width="100%" border="0" cellspacing="0" cellpadding="0" id="top">
<tr><td width="300"><a href="/"><img src="/images/spacedaily-logo.png" width="300" height="60"
 alt="Space Daily"></a></td>
<td align="center"><font face="Arial" size="1"><b>. 24/7 Space News .</b></font></td>
<td align="right"><a href="/rss.html">RSS</a> | <a href="/subscribe.html">Subscribe</a> |
 <a href="/advertise.html">Advertise</a></td></tr>
</table>
"""
NAV = ('<td width="150" valign="top" bgcolor="#F2F2F2" class="leftnav">'
       + "".join(f'<a href="https://www.{s.lower()}.com/">{s}</a><br>' for s in
                 ("SpaceDaily", "SpaceWar", "TerraDaily", "MarsDaily", "MoonDaily", "EnergyDaily"))
       + "<hr>"
       + "".join(f'<a href="/{s}.html">{s.replace("_", " ")}</a><br>' for s in
                 ("Superpowers", "Military_Space", "Nuclear_War", "Missile_Defense", "Navy"))
       + "</td>\n")
INSET_HEADING = "Russia stays out of lunar accord for now"
INSET_PARAS = [
    "Moscow (AFP) Feb 13, 2017 - Russia's space agency said on Monday it would not join "
    "the lunar accord for now, though it would keep talking to the partners about it.",
    "Officials in Moscow said they wanted more detail on how the base would be run and on "
    "who would own the modules each country builds for it.",
    "The agency has its own plans for a lunar station, which it says could be built with "
    "China, and it has not said whether the two projects could be joined.",
]
INSET = ('<table width="220" align="right" border="0" cellpadding="6" cellspacing="0" '
         'class="insbox"><tr><td bgcolor="#EEEEEE"><font face="Arial" size="2">'
         f"<b>{INSET_HEADING}</b><br>\n" + "<br><br>\n".join(INSET_PARAS)
         + "\n</font></td></tr></table>\n")
COMMENT = ('<br clear="all">\n<p><font face="Arial" size="2">Comment on this article using '
           "your Disqus, Facebook, Google or Twitter login.</font></p>\n"
           '<div id="disqus_thread"></div>\n')
SUPPORT = """<table width="100%" border="1" cellpadding="8" cellspacing="0" class="support"><tr><td>
<p><b>Thanks for being here;</b><br>We need your help. The SpaceDaily news network continues
 to grow but revenues have never been harder to maintain.</p>
<p>With the rise of Ad Blockers, and Facebook - our traditional revenue sources via quality
 network advertising continues to decline. And unlike so many other news sites, we don't have
 a paywall - with those annoying usernames and passwords.</p>
<p>Our news coverage takes time and effort to publish 365 days a year.</p>
<p>If you find our news sites informative and useful then please consider becoming a regular
 supporter or for now make a one off contribution.</p>
<table width="100%"><tr><td><b>SpaceDaily Contributor</b><br>$5 Billed Once<br>
<form action="https://pay.example.invalid/once" method="post"><input type="submit"
 value="credit card or paypal"></form></td>
<td><b>SpaceDaily Monthly Supporter</b><br>$5 Billed Monthly<br>
<form action="https://pay.example.invalid/monthly" method="post"><input type="submit"
 value="paypal only"></form></td></tr></table>
</td></tr></table>
"""
RELATED = """<p><b>Related Links</b><br>
<a href="https://www.spacewar.com/Superpowers.html">Learn about the Superpowers of the 21st
 Century at SpaceWar.com</a><br>
<a href="https://www.spacewar.com/Nuclear_Weapons.html">Learn about nuclear weapons doctrine
 and defense at SpaceWar.com</a></p>
<p class="share">Share this article via these popular social media networks<br>
<a href="https://del.icio.us/post">del.icio.us</a> <a href="https://digg.com/submit">Digg</a>
 <a href="https://reddit.com/submit">Reddit</a></p>
"""
TEASER_TITLE = "Pentagon orders satellite buying review"
TEASER = ("The Pentagon on Monday announced a review of its satellite procurement, saying "
          "costs had risen faster than expected across a range of programmes ...")
TEASER_DATELINE = "WASHINGTON (AFP) Nov 3, 2025"


def previous(dateline: str = TEASER_DATELINE, *, inline: bool = False,
             label: str = "Previous Report") -> str:
    """The "Previous Report" box: label, kicker, linked headline, the teaser's dateline
    on a line of its own (or opening the teaser, ``inline``), the teaser."""
    line = f"{dateline} - {TEASER}" if inline else f"{dateline}<br>\n{TEASER}"
    return ('<table width="100%" class="prev"><tr><td><font face="Arial" size="2">'
            f"<b>{label}</b><br>\n"
            '<font color="#990000">SUPERPOWERS</font><br>\n'
            f'<a href="/reports/Pentagon_review_999.html"><b>{TEASER_TITLE}</b></a><br>\n'
            f'{line} <a href="/reports/Pentagon_review_999.html">read more</a>\n'
            "</font></td></tr></table>\n")


HEADLINES = ("NASA to develop oxygen recovery technologies for future deep space missions",
             "Art and space enter a new dimension",
             "SpaceX blasts off cargo from historic NASA launchpad")
HLBOX = ('<table width="100%" class="hlbox"><tr><td><font face="Arial" size="2">'
         "<b>SUPERPOWERS</b></font></td></tr>"
         + "".join(f'<tr><td><a href="/reports/h{i}_999.html"><font face="Arial" size="2">'
                   f"{t}</font></a></td></tr>" for i, t in enumerate(HEADLINES))
         + "</table>\n")
RIGHT = ('<td width="160" valign="top" class="rightcol"><img src="/images/ad-160x600.gif" '
         'width="160" height="600" alt=""></td>\n')
FOOTER = """<table width="100%" class="footer"><tr><td><font face="Arial" size="1">The content
 herein, unless otherwise known to be public domain, are Copyright 1995-2024 - Space Media
 Network. All websites are published in Australia and are solely subject to Australian law
 and governed by Fair Use principals for news reporting and research purposes. AFP, UPI and
 IANS news wire stories are copyright Agence France-Presse, United Press International and
 Indo-Asia News Service. Privacy Statement. Additional information can be found here at
 <a href="/about.html">About Us</a>.</font></td></tr></table>
"""
AFTER = COMMENT + SUPPORT + RELATED + previous() + HLBOX
# Phrases of the chrome above: none may reach the feed.
CHROME = ("24/7 Space News", "Comment on this article", "Thanks for being here", "Billed Once",
          "Related Links", "Share this article", "Previous Report", TEASER_TITLE,
          "satellite procurement", HEADLINES[1], "Copyright 1995-2024", "SpaceDaily Contributor")


def network_page(*, byline: str | None = "by Staff Writers", dateline: str | None = DATELINE,
                 inset: str = INSET, first: str = "", wrap: bool = True, after: str = AFTER,
                 paras: list[str] | None = None, title: str = TITLE,
                 kicker: str = "SUPERPOWERS", head: str = "") -> str:
    """A story page of the network: ``byline`` and ``dateline`` lines under the headline
    (None: left out), the ``inset`` report, the paragraphs (the first opening with
    ``first``) in a ``<font>`` of their own (``wrap``) or right in the content cell, then
    the chrome ``after`` the story; ``head`` is added to ``<head>``."""
    header = ""
    if byline:
        header += f'<font face="Arial" size="2"><i>{byline}</i></font><br>\n'
    if dateline:
        header += f'<font face="Arial" size="2"><b>{dateline}</b></font><br><br>\n'
    body = "".join(f"<p>{first if i == 0 else ''}{p}</p>\n"
                   for i, p in enumerate(PARAS if paras is None else paras))
    if wrap:
        body = f'<font face="Arial" size="3">\n{body}</font>\n'
    return f"""<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">
<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">
<title>{title}</title>{head}</head>
<body bgcolor="#FFFFFF">{TOP}
<table width="100%" border="0" cellspacing="0" cellpadding="4"><tr>{NAV}<td valign="top">
<font face="Arial" size="2" color="#990000"><b>{kicker}</b></font><br>
<h1><font face="Arial">{title}</font></h1>
{header}{inset}{body}{after}</td>
{RIGHT}</tr></table>
{FOOTER}</body></html>"""
