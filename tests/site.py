"""A small news site for end-to-end tests: an index page, a partial RSS feed and article
pages written here (plus the shared SpaceDaily page when ../shared is present), served by
:class:`tests.origin.Origin` with ETag/Last-Modified support."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime

from aiohttp import web

from tests.helpers import SHARED

SPACEDAILY_PATH = "/reports/US_says_not_ready_yet_for_military_collaboration_with_Russia_999.html"

STORIES = {
    "/reports/Moon_base_plans_advance_999.html": (
        "Moon base plans advance as agencies sign accord",
        "Houston (AFP) Feb 14, 2017",
        [
            "Space agencies from four nations signed an accord on Tuesday to coordinate plans "
            "for a permanent research base near the lunar south pole, officials said.",
            "The agreement sets out how landers, power systems and habitats built by each "
            "partner will connect, a problem that has slowed joint projects for a decade.",
            "Engineers said the first cargo missions could fly within six years if budgets "
            "hold, though several parliaments have yet to approve the money.",
            "Critics warned that the timeline repeats promises made in earlier decades that "
            "were later abandoned when priorities changed in the capitals involved.",
        ],
    ),
    "/reports/Navy_tests_new_radar_999.html": (
        "Navy tests new radar off the coast",
        "Washington (UPI) Feb 15, 2017",
        [
            "The navy has completed the first sea trials of a new air and missile defence radar "
            "aboard a destroyer operating off the coast of Virginia, the service said.",
            "During the trials the radar tracked several targets at once, including small "
            "drones flying low over the water, which older systems struggle to follow.",
            "Officials expect the system to enter service on new ships from next year and to "
            "be fitted to older destroyers during their mid-life upgrades.",
            "The contractor said production lines were ready and that costs had come down as "
            "the design matured through a long series of land-based tests.",
        ],
    ),
    "/reports/Satellite_deal_signed_999.html": (
        "Satellite deal signed for secure communications",
        "Paris (AFP) Feb 13, 2017",
        [
            "A European consortium signed a contract on Monday to build two satellites for "
            "secure government communications, the companies announced in Paris.",
            "The satellites will carry encrypted payloads for military and civil users and "
            "replace ageing spacecraft launched more than fifteen years ago.",
            "Launch is planned on a European rocket, with the first spacecraft expected to "
            "reach orbit before the end of the decade according to the schedule.",
            "The deal is part of a wider push to make the continent less dependent on "
            "foreign systems for sensitive communications, ministers said.",
        ],
    ),
}


def article_page(title: str, dateline: str, paragraphs: list[str]) -> str:
    """An article page in the SpaceDaily network's table layout (nav, story, chrome)."""
    paras = "".join(f"<p>{p}</p>\n" for p in paragraphs)
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title></head>
<body><table width="100%"><tr><td class="leftnav" width="150">
<a href="/">Home</a><br><a href="/Superpowers.html">Superpowers</a><br><a href="/Navy.html">Navy</a>
</td><td valign="top">
<font face="Arial" size="2" color="#990000"><b>SUPERPOWERS</b></font><br>
<h1>{title}</h1>
<font face="Arial" size="2"><i>by Staff Writers</i></font><br>
<font face="Arial" size="2"><b>{dateline}</b></font><br><br>
<font face="Arial" size="3">{paras}</font>
<p><font size="2">Comment on this article using your Disqus, Facebook, Google or Twitter login.</font></p>
<p><b>Related Links</b><br><a href="/Superpowers.html">Learn about the Superpowers at SpaceWar.com</a></p>
</td></tr></table>
<table class="footer"><tr><td><font size="1">The content herein, unless otherwise known to be
public domain, are Copyright 1995-2024 - Space Media Network.</font></td></tr></table>
</body></html>"""


def index_page(paths: list[str]) -> str:
    """A section page: left nav, headline boxes with /reports/ links."""
    rows = "".join(
        f'<tr><td><a href="{p}"><b>{STORIES.get(p, ("Story",))[0]}</b></a></td></tr>' for p in paths
    )
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>Superpowers</title></head>
<body><table><tr><td class="leftnav"><a href="/">Home</a><br><a href="/Navy.html">Navy</a><br>
<a href="https://www.spacedaily.com/">SpaceDaily</a></td>
<td><table class="hlbox">{rows}</table></td></tr></table>
<p><a href="/about.html">About</a> <a href="#top">top</a></p></body></html>"""


def rss(base: str, items: list[tuple[str, str, datetime]]) -> str:
    entries = "".join(
        f"<item><title>{t}</title><link>{base}{p}</link><guid>{base}{p}</guid>"
        f"<pubDate>{format_datetime(d)}</pubDate></item>"
        for p, t, d in items
    )
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>SpaceWar</title>'
            f"<link>{base}/</link><description>news</description>{entries}</channel></rss>")


def conditional(get_body: Callable[[], bytes], content_type: str) -> Callable[..., object]:
    """A handler that serves ``get_body()`` with an ETag and Last-Modified, answering
    304 to a matching If-None-Match, like a well-behaved origin."""
    modified = format_datetime(datetime(2017, 2, 16, tzinfo=UTC), usegmt=True)

    async def handler(request: web.Request) -> web.StreamResponse:
        body = get_body()
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        headers = {"ETag": etag, "Last-Modified": modified}
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, headers={**headers, "Content-Type": content_type})

    return handler


def spacedaily_html() -> bytes | None:
    path = SHARED / "pages" / "spacedaily-superpowers.html"
    return path.read_bytes() if path.exists() else None


def atom(
    base: str, items: list[tuple[str, str, datetime]], published: datetime | None = None
) -> str:
    """An Atom feed whose entries carry <updated> (path, title, updated), and
    <published> when given (the same for every entry)."""
    pub = f"<published>{published.isoformat()}</published>" if published else ""
    entries = "".join(
        f"<entry><id>{base}{p}</id><title>{t}</title><link href=\"{base}{p}\"/>"
        f"{pub}<updated>{d.isoformat()}</updated></entry>"
        for p, t, d in items
    )
    return ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<id>{base}/atom</id><title>Wire</title><updated>2017-02-16T00:00:00Z</updated>"
            f"{entries}</feed>")
