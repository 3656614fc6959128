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


# -- the feed's size (limits.MAX_FEED_STORY_BYTES) ------------------------------------

A = {"a": "http://www.w3.org/2005/Atom"}
SENTENCE = ("Space agencies from four nations signed an accord on Tuesday to coordinate plans "
            "for a permanent research base near the lunar south pole, officials said. ")


def capped_story(n: int) -> str:
    """A story at the 1 MB a stored story may reach (limits.MAX_STORY_BYTES), as an origin
    serving megabyte pages leaves every one of them."""
    from feedsvc.limits import MAX_STORY_BYTES

    para = f"<p>Story {n}: {SENTENCE * 8}</p>"
    return para * (MAX_STORY_BYTES // len(para))


def test_a_feed_of_stories_at_the_story_cap_stays_readable() -> None:
    """Ten stories of 1 MB made a 10.7 MB feed, kept raw and gzipped per topic and sent
    whole to every reader; readers refuse far less (CommaFeed stops at 5 MiB). The newest
    stories stay whole; the rest carry an excerpt and their link, and the feed is still
    valid Atom."""
    arts = [article(i, content_html=capped_story(i)) for i in range(10)]
    feed = render_feed(META, arts)
    assert len(feed.body) < 5 * 2**20
    assert len(gzip.decompress(feed.gzipped)) == len(feed.body)
    parsed = check_atom(feed.body)
    assert [e.id for e in parsed.entries] == [a.url for a in arts]  # every entry is there
    entries = etree.fromstring(feed.body).findall("a:entry", A)
    whole = [e for e in entries if e.find("a:content", A) is not None]
    assert 1 <= len(whole) < len(arts)
    # the newest keep their story as it was stored, to the byte
    assert [e.findtext("a:content", namespaces=A) for e in whole] == \
        [a.content_html for a in arts[:len(whole)]]
    for entry, art in zip(entries[len(whole):], arts[len(whole):], strict=True):
        summary = entry.find("a:summary", A)
        assert summary is not None and summary.get("type") == "html"
        assert len(summary.text or "") < 2000
        n = art.url.rsplit("_", 1)[1].split(".")[0]
        assert f"Story {n}: Space agencies" in (summary.text or "")  # the story's start
        assert f'href="{art.url}"' in (summary.text or "")  # and a link to all of it
        assert [link.get("href") for link in entry.findall("a:link", A)
                if link.get("rel", "alternate") == "alternate"] == [art.url]


def test_stories_share_the_budget_newest_first() -> None:
    """Entries are taken newest first; a story that no longer fits gets an excerpt, and an
    older, shorter one that still fits keeps its text. The budget counts each story as the
    feed carries it, escaped, so what fits to the byte is carried whole."""
    from feedsvc.limits import xml_text_bytes

    small = "<p>A short story &amp; a <b>bold</b> claim.</p>"
    big = "<p>" + "word " * 400 + "</p>"
    arts = [article(0, content_html=small), article(1, content_html=big),
            article(2, content_html=big), article(3, content_html=small)]
    budget = xml_text_bytes(small) * 2 + xml_text_bytes(big)
    feed = render_feed(META, arts, story_budget=budget)
    check_atom(feed.body)
    contents = [e.findtext("a:content", namespaces=A)
                for e in etree.fromstring(feed.body).findall("a:entry", A)]
    assert contents == [small, big, None, small] and feed.excerpted == 1
    # one byte less, and the last small story no longer fits
    tight = render_feed(META, arts, story_budget=budget - 1)
    assert tight.excerpted == 2
    assert etree.fromstring(tight.body).findall("a:entry/a:content", A)[-1].text == big


def test_a_feed_within_its_budget_is_rendered_as_before() -> None:
    """Below the budget nothing changes: every entry keeps its content (and summary), and
    the bytes are those of a feed rendered with no budget at all."""
    arts = [article(i, content_html=f"<p>Story {i}: {SENTENCE * 100}</p>",
                    summary="A summary." if i == 1 else None) for i in range(50)]
    feed = render_feed(META, arts)
    assert feed.excerpted == 0
    assert feed.body == render_feed(META, arts, story_budget=10**12).body
    parsed = check_atom(feed.body)
    assert all(e.content[0].value == a.content_html for e, a in zip(
        parsed.entries, arts, strict=True))
    assert parsed.entries[1].summary == "A summary."


def test_a_bounded_feed_renders_the_same_bytes_every_time() -> None:
    """Replicas rendering one topic version must agree on its bytes and ETag."""
    arts = [article(i, content_html="<p>" + f"Story {i} " * 300 + "</p>") for i in range(6)]
    a = render_feed(META, arts, story_budget=6000)
    b = render_feed(META, list(arts), story_budget=6000)
    assert a.excerpted == b.excerpted > 0
    assert a.body == b.body and a.etag == b.etag and a.gzipped == b.gzipped


def test_an_excerpted_entry_keeps_its_own_summary_and_a_story_without_text_its_link() -> None:
    arts = [article(0, content_html="<p>" + "x " * 500 + "</p>"),
            article(1, content_html="<p>" + "y " * 500 + "</p>",
                    summary="The origin's\n own   summary."),
            article(2, content_html='<p><img src="https://news.test/a.png"></p>' * 200)]
    feed = render_feed(META, arts, story_budget=1100)
    parsed = check_atom(feed.body)
    assert feed.excerpted == 2
    assert parsed.entries[1].summary.startswith("<p>The origin's own summary.</p>")
    assert parsed.entries[2].summary.startswith("<p><em>This feed has no room")
    assert arts[2].url in parsed.entries[2].summary


def test_rng_schema_accepts_an_excerpted_entry() -> None:
    rng = etree.RelaxNG(etree.parse(str(shared_path("spec/atom.rng"))))
    arts = [article(i, content_html="<p>" + f"Story {i} " * 300 + "</p>") for i in range(3)]
    feed = render_feed(META, arts, story_budget=4000)
    assert feed.excerpted == 2
    root = etree.fromstring(feed.body)
    assert rng.validate(root), rng.error_log
