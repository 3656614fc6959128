"""The stores' byte codec: damaged values raise StoreError, never a decoder's own error
(the pipeline and the re-extraction handle StoreError; anything else would end a poll)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from feedsvc.errors import StoreError
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


def test_stored_date_without_time_zone_is_store_error() -> None:
    obj = json.loads(codec.unpack(codec.article_to_bytes(article(1))))
    obj["published"] = datetime(2017, 2, 13, 9).isoformat()  # naive: no offset
    with pytest.raises(StoreError, match="time zone"):
        codec.article_from_bytes(codec.pack(json.dumps(obj).encode()))
    obj["published"] = datetime(2017, 2, 13, 9, tzinfo=UTC).isoformat()
    assert codec.article_from_bytes(codec.pack(json.dumps(obj).encode())).published.tzinfo
