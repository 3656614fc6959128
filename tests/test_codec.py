"""The stores' byte codec: damaged values raise StoreError, never a decoder's own error
(the pipeline and the re-extraction handle StoreError; anything else would end a poll)."""

from __future__ import annotations

import dataclasses
import json
import random
import zlib
from datetime import UTC, datetime
from typing import Any

import brotli
import pytest

from feedsvc.errors import StoreError
from feedsvc.models import Article
from feedsvc.store import codec
from tests.helpers import article


def test_round_trips() -> None:
    a = article(1)
    assert codec.article_from_bytes(codec.article_to_bytes(a)) == a
    page = codec.PackedPage.pack(b"<html>x</html>", "text/html; charset=utf-8")
    assert page.unpack() == (b"<html>x</html>", "text/html; charset=utf-8", None)
    page = codec.PackedPage.pack(b"<p>\xe9</p>", None, "https://a.example/x/\udc80?q=\u00e9")
    assert page.unpack() == (b"<p>\xe9</p>", None, "https://a.example/x/\udc80?q=\u00e9")


def test_page_with_its_url_is_refused_by_earlier_releases_not_misread() -> None:
    """Earlier releases know markers 0x00-0x02 only: rolled back to, one refuses a page
    in the new layout (its re-extraction skips it) instead of reading the URL field as
    the content type and a cut body as the page."""
    for body in (b"<p>x</p>", b"<p>" + b"story " * 20_000 + b"</p>"):
        data = codec.PackedPage.pack(body, "text/html", "https://a.example/x").data
        assert data[0] not in (codec.PLAIN, codec.ZLIB, codec.BROTLI)
        with pytest.raises(StoreError, match="unknown marker"):
            codec.unpack(data)  # what an earlier release's page reader starts with


def test_page_stored_before_urls_were_kept_still_reads() -> None:
    """The layout of earlier versions (content type, then body) still decodes: pages are
    kept for two weeks, so an upgrade finds many of them."""
    for ctype, head in (("text/html", b"\x00\x09text/html"), (None, b"\xff\xff")):
        old = codec.pack(head + b"<html>old</html>", force=True)
        assert codec.page_from_bytes(old) == (b"<html>old</html>", ctype, None)


def test_page_with_undecodable_content_type_is_store_error() -> None:
    raw = codec._CTYPE_LEN.pack(2) + b"\xff\xfe" + b"<html></html>"
    with pytest.raises(StoreError, match="content type"):
        codec.page_from_bytes(codec.pack(raw))


def test_deeply_nested_json_is_store_error() -> None:
    raw = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(StoreError, match="not valid JSON"):
        codec.state_from_bytes(codec.pack(raw))


def earlier_json(a: Article) -> dict[str, Any]:
    """The article as the JSON earlier versions stored whole (marker 0x02)."""
    return {k: v.isoformat() if isinstance(v, datetime) else v
            for k, v in dataclasses.asdict(a).items() if v is not None}


def test_stored_date_without_time_zone_is_store_error() -> None:
    obj = earlier_json(article(1))
    obj["published"] = datetime(2017, 2, 13, 9).isoformat()  # naive: no offset
    with pytest.raises(StoreError, match="time zone"):
        codec.article_from_bytes(codec.pack(json.dumps(obj).encode()))
    obj["published"] = datetime(2017, 2, 13, 9, tzinfo=UTC).isoformat()
    assert codec.article_from_bytes(codec.pack(json.dumps(obj).encode())).published.tzinfo


# A story that does not compress to nothing: 3,000 words drawn from a few hundred.
_WORDS = [f"w{n:x}\u00e9" for n in range(400)]
_PICK = random.Random(7)
STORY = "<p>" + " ".join(_PICK.choice(_WORDS) for _ in range(3000)) + " \ud800</p>"


def page_of(story: str) -> bytes:
    return f"<html><body><nav>Home</nav><article>{story}</article></body></html>".encode(
        "utf-8", "surrogatepass")


def test_article_holds_its_story_as_a_stream_of_its_own() -> None:
    """The story is a Brotli stream, flushed but not finished, that decodes alone (the
    rest of the article is JSON beside it): reading an article costs no page."""
    a = dataclasses.replace(article(1), content_html=STORY)
    data = codec.article_to_bytes(a)
    assert data[0] == codec.CHAINED
    assert codec.article_from_bytes(data) == a
    stream = codec.article_stream(data)
    assert stream == codec.content_stream(STORY)
    decompressor = brotli.Decompressor()
    assert codec._drain(decompressor, stream) == STORY.encode("utf-8", "surrogatepass")
    assert not decompressor.is_finished()  # its page goes on from here
    assert len(data) < len(STORY) / 2


def test_article_of_earlier_versions_still_reads() -> None:
    """Articles are kept for weeks: those written whole as JSON (Brotli, zlib or plain)
    by earlier versions read as before."""
    a = article(1)
    raw = json.dumps(earlier_json(a)).encode()
    for data in (codec.pack(raw), b"\x01" + zlib.compress(raw), b"\x00" + raw):
        assert codec.article_from_bytes(data) == a
        assert codec.article_stream(data) is None  # no page continues it


def test_damaged_article_stream_is_store_error() -> None:
    data = codec.article_to_bytes(dataclasses.replace(article(1), content_html=STORY))
    with pytest.raises(StoreError, match="truncated"):
        codec.article_from_bytes(data[:-40])  # a cut stream decodes to a cut story
    with pytest.raises(StoreError, match="truncated"):
        codec.article_from_bytes(data[:6])
    # Brotli has no checksum: a damaged stream fails to decode or comes out short
    with pytest.raises(StoreError, match=r"Brotli|truncated"):
        codec.article_from_bytes(data[:200] + b"\xff" * 40 + data[240:])
    assert codec.article_stream(data[:6]) is None


def test_page_continues_its_story_and_is_compressed_once() -> None:
    body = page_of(STORY)
    page = codec.PackedPage.pack_after(STORY, body, "text/html", "https://a.example/x")
    assert page.chained and page.data[0] == codec.CHAINED | codec.PAGE_LAYOUT
    alone = codec.PackedPage.pack(body, "text/html", "https://a.example/x")
    assert len(page.data) < len(alone.data) / 4  # the story is not in it a second time
    stream = codec.content_stream(STORY)
    assert page.continues(stream)
    got = codec.PackedPage(page.data, stream).unpack()
    assert got == (body, "text/html", "https://a.example/x")
    assert codec.PackedPage.pack_after("", b"<p>x</p>", None).data[0] == 0x13


def test_page_without_the_story_it_continues_is_store_error_never_a_wrong_page() -> None:
    body = page_of(STORY)
    page = codec.PackedPage.pack_after(STORY, body, "text/html")
    other = codec.content_stream(STORY.replace("w1", "w2", 1))
    assert not page.continues(other) and not page.continues(None)
    for after in (b"", other):
        with pytest.raises(StoreError, match="does not continue"):
            codec.PackedPage(page.data, after).unpack()
    stream = codec.content_stream(STORY)
    with pytest.raises(StoreError, match="truncated"):
        codec.PackedPage(page.data[:-3], stream).unpack()
    # what an earlier release's page reader does with it: refuses, never misreads
    with pytest.raises(StoreError, match="unknown marker"):
        codec.page_from_bytes(page.data)
