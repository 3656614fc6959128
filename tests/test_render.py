"""Render: valid Atom 1.0 with stable ids, dates with zones, XML-safe text (issue #2 item 6)."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta, timezone

import feedparser
from lxml import etree

from feedsvc.render import FeedMeta, render_feed
from tests.helpers import article, check_atom, shared_path

META = FeedMeta("superpowers", "SUPERPOWERS", "Wire reports", "http://feeds.test/feeds/superpowers.atom",
                "http://feeds.test/")


def test_feed_is_valid_atom_and_parses_back() -> None:
    arts = [article(i) for i in range(3)]
    feed = render_feed(META, arts)
    parsed = check_atom(feed.body)
    assert [e.id for e in parsed.entries] == [a.url for a in arts]
    assert parsed.entries[0].title == "Story 0"
    assert parsed.entries[0].content[0].type == "text/html"
    assert parsed.entries[0].content[0].value == "<p>Body of story 0.</p>"
    assert parsed.entries[0].published_parsed[:3] == (2017, 2, 1)
    assert parsed.entries[0].author == "Staff Writers"
    assert parsed.feed.title == "SUPERPOWERS"
    links = {link.rel: link.href for link in parsed.feed.links}
    assert links == {"self": META.self_url, "alternate": META.home_url}


def test_rng_schema_is_used_when_shared_present() -> None:
    from lxml import etree

    rng = etree.RelaxNG(etree.parse(str(shared_path("spec/atom.rng"))))
    # a feed without <id> must be rejected by the schema, so the check can fail
    assert not rng.validate(etree.fromstring(
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title></feed>'))
    assert rng.validate(etree.fromstring(render_feed(META, [article(1)]).body))


def test_empty_feed_is_valid() -> None:
    feed = render_feed(META, [])
    check_atom(feed.body)
    assert feed.entries == 0


def test_entry_without_author_inherits_feed_author() -> None:
    parsed = check_atom(render_feed(META, [article(1, author=None)]).body)
    assert parsed.feed.author == "SUPERPOWERS"


def test_illegal_xml_characters_are_removed_not_fatal() -> None:
    nasty = article(
        1,
        title="Bad\x00 title\x1f \ud800 end",
        content_html="<p>ctl\x0b\x0c chars \ufffe and \U0001F680 rocket</p>",
        author="Au\x07thor",
    )
    feed = render_feed(META, [nasty])
    parsed = check_atom(feed.body)
    assert parsed.entries[0].title == "Bad title  end"
    assert parsed.entries[0].content[0].value == "<p>ctl chars  and \U0001F680 rocket</p>"
    assert parsed.entries[0].author == "Author"


def test_a_control_character_in_an_entry_url_does_not_break_the_feed() -> None:
    # One page's URL must not make the whole topic unrenderable.
    odd = article(1, url="https://news.example/a\x01b.html")
    parsed = check_atom(render_feed(META, [odd, article(2)]).body)
    assert [e.link for e in parsed.entries] == [
        "https://news.example/ab.html", "https://news.test/reports/story_2.html"]


def test_rendering_is_deterministic_and_ids_stable() -> None:
    arts = [article(i) for i in range(5)]
    a, b = render_feed(META, arts), render_feed(META, list(arts))
    assert a.body == b.body and a.etag == b.etag and a.gzipped == b.gzipped
    assert gzip.decompress(a.gzipped) == a.body
    changed = render_feed(META, [*arts, article(9)])
    assert changed.etag != a.etag


def test_naive_dates_get_a_zone_and_feed_updated_is_latest() -> None:
    arts = [
        article(1, published=datetime(2017, 2, 16, 10, 0)),
        article(2, published=datetime(2017, 2, 15, tzinfo=UTC),
                updated=datetime(2017, 2, 17, tzinfo=UTC)),
    ]
    feed = render_feed(META, arts)
    check_atom(feed.body)
    assert feed.last_modified == datetime(2017, 2, 17, tzinfo=UTC)


def test_offsets_atom_cannot_hold_become_utc() -> None:
    """A page may give an offset with seconds, or beyond ±14:00 (Python reads both);
    xsd:dateTime, which Atom's schema uses, takes neither. Ordinary offsets stay."""
    odd = [timezone(timedelta(hours=5, minutes=30, seconds=15)), timezone(timedelta(hours=23))]
    arts = [article(n, published=datetime(2024, 3, 1, 10, tzinfo=tz)) for n, tz in enumerate(odd)]
    ist = timezone(timedelta(hours=5, minutes=30))
    arts.append(article(2, published=datetime(2024, 3, 1, 10, tzinfo=ist)))
    body = render_feed(META, arts).body
    check_atom(body)
    published = etree.fromstring(body).xpath(
        "//a:entry/a:published/text()", namespaces={"a": "http://www.w3.org/2005/Atom"})
    assert sorted(published) == sorted(
        ["2024-03-01T04:29:45+00:00", "2024-02-29T11:00:00+00:00", "2024-03-01T10:00:00+05:30"])


def test_feed_updated_is_the_topic_change_unless_an_entry_is_later() -> None:
    """atom:updated moves with every change of the topic (a late find dated earlier than
    the newest entry included), in whole seconds, and never falls behind an entry."""
    arts = [article(1, published=datetime(2017, 2, 16, tzinfo=UTC))]
    changed = datetime(2026, 11, 25, 3, 4, 5, 678000, tzinfo=UTC)
    feed = render_feed(META, arts, changed=changed)
    assert check_atom(feed.body).feed.updated == "2026-11-25T03:04:05+00:00"
    assert feed.last_modified == datetime(2026, 11, 25, 3, 4, 5, tzinfo=UTC)
    assert render_feed(META, arts, changed=changed).body == feed.body  # replicas agree
    early = render_feed(META, arts, changed=datetime(2017, 1, 1, tzinfo=UTC))
    assert check_atom(early.body).feed.updated == "2017-02-16T00:00:00+00:00"


def test_entries_carry_their_story_language() -> None:
    """RFC 4287 §2: xml:lang on each entry, from the page's declared language, written
    as a language tag; a declaration that is no tag is left out, not copied."""
    arts = [article(1, lang="en_US"), article(2, lang="fr"), article(3, lang="english!"),
            article(4)]
    body = render_feed(META, arts).body
    check_atom(body)
    root = etree.fromstring(body)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    langs = [e.get("{http://www.w3.org/XML/1998/namespace}lang")
             for e in root.findall("a:entry", ns)]
    assert langs == ["en-US", "fr", None, None]
    assert [e.content[0].language for e in feedparser.parse(body).entries[:2]] == ["en-US", "fr"]
