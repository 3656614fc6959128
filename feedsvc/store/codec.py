"""Compact, lossless bytes for what the stores keep (issue #2 item 5: "values are compact").

Every value starts with a one-byte marker saying how the rest is stored: ``0x00`` plain,
``0x01`` zlib (written by earlier versions, still read), ``0x02`` Brotli, ``0x03`` one Brotli
stream split across an article and its page (see below); a page sets :data:`PAGE_LAYOUT` in
it too. Tiny values stay plain because framing costs more than it saves. Brotli at quality
5 was chosen by measurement on the 130 pages of the Mozilla Readability corpus: 18% smaller
than zlib/gzip level 6 at the same speed (about 2 ms per page); higher qualities cost 7-90x
the time for another 2-12%.

Articles and fetch state are JSON (compact separators, ``None`` fields omitted, datetimes
as ISO 8601 with their UTC offset). Strings are written as UTF-8 with ``surrogatepass`` so
text that XML forbids (control characters, lone surrogates) survives the store unchanged:
removing it is the renderer's job, losing or crashing on it is not the store's.

An article's story is most of its kept page too, so the two share one Brotli stream
(:data:`CHAINED`). The article (``0x03``) holds its ``content_html`` as a Brotli stream
flushed but not finished (:func:`content_stream`), beside the JSON of its other fields; the
page (``0x13``, :meth:`PackedPage.pack_after`) holds the rest of that stream, which refers
back to the story instead of compressing it a second time (bench pages: 7.6 + 10.3 KB
stored apart, 7.6 + 2.8 KB chained; real pages 4.9 + 15.8 KB and 4.9 + 11.7 KB). Reading
the article decodes its own part only (as fast as the single JSON value before: ~0.07 ms
for a 25 KB story). Reading the page needs the article's part first, so the page carries 8
bytes of blake2b of it, and is unreadable, like an expired one, once the article holds
another story (re-extracted, refreshed, written by another version): the stores then
return no page (:meth:`feedsvc.store.Store.get_page`). The extraction worker packs the page
and the store writes the article, each making the stream with :func:`_content_stream`:
Brotli is deterministic for one input, parameters and library version, and making it
again costs the store what compressing the whole JSON did (~0.5 ms), so the worker does
not hand it over. A version of brotli that compressed differently would only make the
pages written before it unreadable, never misread.

These are plain synchronous module-level functions so callers may run them in a process
pool. Decoding garbage raises :class:`~feedsvc.errors.StoreError`, never a ``ValueError``
from deep inside ``json`` or ``zlib``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
import zlib
from datetime import UTC, datetime
from typing import Any, NamedTuple

import brotli

from feedsvc.errors import StoreError
from feedsvc.models import Article, FetchState, LinkHint

PLAIN = 0x00
ZLIB = 0x01
BROTLI = 0x02
# An article whose content_html is a Brotli stream of its own, flushed but not finished,
# which its page (CHAINED | PAGE_LAYOUT) continues. Earlier releases refuse both markers
# as unknown (StoreError) rather than misread them.
CHAINED = 0x03
# Below this many bytes zlib's ~6 bytes of framing and empty dictionary rarely pay; above
# it we still keep the plain form unless compressing shrinks it (a ~190-byte FetchState
# JSON went to ~140 bytes when measured, a 60-byte one would not shrink).
COMPRESS_MIN = 128
QUALITY = 5
# Brotli's window for an article's stream and its page's continuation: the page can refer
# back to the story as long as both fit in it (4 MiB, brotli's default; every page of the
# corpus of 130 real pages does). Decoding a flushed stream costs no more with it than
# with a smaller one (measured: 0.05 ms per story either way).
LGWIN = 22

_ARTICLE_FIELDS = {f.name: f for f in dataclasses.fields(Article)}
_ARTICLE_DATES = frozenset({"published", "first_seen", "updated"})
_STATE_FIELDS = frozenset(f.name for f in dataclasses.fields(FetchState))
_CTYPE_LEN = struct.Struct("!H")
# A CHAINED article: marker, the length of its packed metadata, the byte length of its
# content_html, then the packed metadata (every field but content_html, as JSON, see
# pack) and the content's Brotli stream.
_CHAINED_HEAD = struct.Struct("!II")
# A CHAINED page: marker, this many bytes of blake2b of its article's stream, then the
# rest of the stream.
STREAM_HASH = 8


def pack(raw: bytes, *, force: bool = False) -> bytes:
    """Prefix ``raw`` with its marker, compressing it when that makes it smaller.

    ``force`` compresses regardless of :data:`COMPRESS_MIN` (still kept plain if that
    does not shrink it, e.g. an already-compressed image).
    """
    if force or len(raw) > COMPRESS_MIN:
        packed: bytes = brotli.compress(raw, quality=QUALITY)
        if len(packed) < len(raw):
            return bytes((BROTLI,)) + packed
    return bytes((PLAIN,)) + raw


def unpack(data: bytes) -> bytes:
    """Inverse of :func:`pack`. Raises StoreError on an unknown marker or corrupt data."""
    if not data:
        raise StoreError("stored value is empty")
    marker, rest = data[0], data[1:]
    if marker == PLAIN:
        return rest
    if marker == BROTLI:
        try:
            out: bytes = brotli.decompress(rest)
        except brotli.error as exc:
            raise StoreError(f"stored value is not valid Brotli data: {exc}") from exc
        return out
    if marker == ZLIB:
        try:
            return zlib.decompress(rest)
        except zlib.error as exc:
            raise StoreError(f"stored value is not valid zlib data: {exc}") from exc
    raise StoreError(f"stored value has unknown marker byte 0x{marker:02x}")


def _dumps(obj: dict[str, Any]) -> bytes:
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8", "surrogatepass")


def _loads(raw: bytes, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(raw.decode("utf-8", "surrogatepass"))
    # RecursionError: absurdly nested arrays, which only a damaged value would hold
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise StoreError(f"stored {what} is not valid JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise StoreError(f"stored {what} is not a JSON object")
    return obj


def require_aware(article: Article) -> None:
    """Raise ValueError when one of the article's datetimes has no time zone.

    A naive datetime has no single instant, so neither ordering nor retention could be
    right; Atom also requires an offset (RFC 4287 section 3.3). Both stores call this.
    """
    for name in _ARTICLE_DATES:
        value = getattr(article, name)
        if value is not None and value.utcoffset() is None:
            raise ValueError(f"Article.{name} must be timezone-aware: {value!r} ({article.url})")


def _content_stream(content_html: str) -> tuple[bytes, brotli.Compressor]:
    """The Brotli stream of an article's story, flushed but not finished, and the
    compressor that can continue it (with its page). The one place that makes it: the
    worker that packs a page and the store that writes the article must produce the same
    bytes (Brotli is deterministic for one input, its parameters and library version)."""
    compressor = brotli.Compressor(quality=QUALITY, lgwin=LGWIN)
    raw = content_html.encode("utf-8", "surrogatepass")
    return compressor.process(raw) + compressor.flush(), compressor


def content_stream(content_html: str) -> bytes:
    """An article's story as a stored article holds it (what its page continues)."""
    return _content_stream(content_html)[0]


def stream_hash(stream: bytes) -> bytes:
    """What a page keeps of the stream it continues, to tell it is still its article's."""
    return hashlib.blake2b(stream, digest_size=STREAM_HASH).digest()


def _drain(decompressor: brotli.Decompressor, data: bytes) -> bytes:
    """All the output of ``data``. brotli 1.2's process() returns at most ~32 KB per call
    while the stream is not finished; calls with no input give the rest."""
    out = [decompressor.process(data)]
    while chunk := decompressor.process(b""):
        out.append(chunk)
    return b"".join(out)


def article_to_bytes(article: Article) -> bytes:
    """Serialize an article (all its datetimes must be timezone-aware): its story as
    :func:`content_stream`, the rest as JSON."""
    require_aware(article)
    obj: dict[str, Any] = {}
    for name in _ARTICLE_FIELDS:
        value = getattr(article, name)
        if value is None or name == "content_html":
            continue
        obj[name] = value.isoformat() if isinstance(value, datetime) else value
    meta = pack(_dumps(obj))
    content = article.content_html.encode("utf-8", "surrogatepass")
    stream = content_stream(article.content_html)
    return bytes((CHAINED,)) + _CHAINED_HEAD.pack(len(meta), len(content)) + meta + stream


def _split_article(data: bytes) -> tuple[bytes, int, bytes]:
    """A CHAINED article's packed metadata, content length and content stream."""
    at = 1 + _CHAINED_HEAD.size
    if len(data) < at:
        raise StoreError("stored article is truncated")
    meta_len, content_len = _CHAINED_HEAD.unpack_from(data, 1)
    if len(data) < at + meta_len:
        raise StoreError("stored article is truncated")
    return data[at : at + meta_len], content_len, data[at + meta_len :]


def article_stream(data: bytes) -> bytes | None:
    """The content stream a stored article holds (what its page continues), without
    decoding anything; None for an article of an earlier format or a damaged one."""
    if not data or data[0] != CHAINED:
        return None
    try:
        return _split_article(data)[2]
    except StoreError:
        return None


def article_from_bytes(data: bytes) -> Article:
    """Inverse of :func:`article_to_bytes` (also reads the single JSON value of earlier
    versions); unknown JSON keys (a newer writer) are ignored."""
    if data and data[0] == CHAINED:
        meta, content_len, stream = _split_article(data)
        obj = _loads(unpack(meta), "article")
        try:
            content = _drain(brotli.Decompressor(), stream)
        except brotli.error as exc:
            raise StoreError(f"stored article's story is not valid Brotli data: {exc}") from exc
        if len(content) != content_len:
            raise StoreError("stored article's story is truncated")
        try:
            obj["content_html"] = content.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError as exc:
            raise StoreError(f"stored article's story is not UTF-8: {exc}") from exc
    else:
        obj = _loads(unpack(data), "article")
    kwargs: dict[str, Any] = {}
    try:
        for name, value in obj.items():
            if name not in _ARTICLE_FIELDS:
                continue
            kwargs[name] = _aware(value) if name in _ARTICLE_DATES else value
        return Article(**kwargs)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"stored article is malformed: {exc}") from exc


def _aware(value: str | None) -> datetime | None:
    """A stored date; every one was written with its offset (:func:`require_aware`)."""
    if value is None:
        return None
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        raise ValueError(f"date {value!r} has no time zone")
    return when


def state_to_bytes(state: FetchState) -> bytes:
    """Serialize a fetch state (small: usually stays plain JSON)."""
    obj: dict[str, Any] = {f.name: getattr(state, f.name) for f in dataclasses.fields(state)}
    obj = {k: v for k, v in obj.items() if v is not None}
    obj["retry"] = [_hint_to_json(h) for h in state.retry]
    return pack(_dumps(obj))


def _hint_to_json(hint: LinkHint) -> str | dict[str, str]:
    """A link to retry: its URL alone (as written before hints were kept) when the
    source said nothing else of it."""
    out: dict[str, str] = {}
    for field in dataclasses.fields(LinkHint):
        value = getattr(hint, field.name)
        if isinstance(value, datetime):
            value = (value if value.utcoffset() is not None else value.replace(tzinfo=UTC))
            value = value.isoformat()
        if value is not None:
            out[field.name] = value
    return hint.url if out.keys() == {"url"} else out


def _hint_from_json(value: Any) -> LinkHint:
    if isinstance(value, str):
        return LinkHint(url=value)
    if not isinstance(value, dict):
        raise TypeError(f"a link to retry is {type(value).__name__}, not a URL or object")
    return LinkHint(
        url=value["url"], title=value.get("title"), author=value.get("author"),
        published=_aware(value.get("published")), updated=_aware(value.get("updated")),
    )


def state_from_bytes(data: bytes) -> FetchState:
    """Inverse of :func:`state_to_bytes`; unknown JSON keys are ignored."""
    obj = _loads(unpack(data), "fetch state")
    try:
        fields = {k: v for k, v in obj.items() if k in _STATE_FIELDS}
        if "topics" in fields:  # JSON has lists; the dataclass holds tuples
            fields["topics"] = tuple(fields["topics"])
        if "retry" in fields:
            fields["retry"] = tuple(_hint_from_json(v) for v in fields["retry"])
        return FetchState(**fields)
    except (TypeError, ValueError, KeyError) as exc:
        raise StoreError(f"stored fetch state is malformed: {exc}") from exc


class StoredPage(NamedTuple):
    """An origin page as fetched: what a re-extraction needs."""

    body: bytes
    content_type: str | None
    # The URL the page was fetched from (after redirects): the base its relative links
    # resolve against, as in the first extraction. None for pages stored before it was kept.
    url: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class PackedPage:
    """An origin page as the stores keep it, compressed.

    Packing (Brotli, ~1 ms for a news page) happens where the page is extracted, in a
    CPU worker, and unpacking where it is re-extracted: the process serving feeds only
    moves the bytes (issue #3 item 2).

    ``data`` is what the store keeps. A page packed with :meth:`pack_after` continues its
    article's content stream, which the store hands back with it as ``after`` (read from
    the stored article, and only when the page's hash of it matches): :meth:`unpack`
    needs it."""

    data: bytes
    after: bytes = b""

    @classmethod
    def pack(cls, body: bytes, content_type: str | None, url: str | None = None) -> PackedPage:
        """The page on its own (readable without its article)."""
        return cls(page_to_bytes(body, content_type, url))

    @classmethod
    def pack_after(
        cls, content_html: str, body: bytes, content_type: str | None, url: str | None = None
    ) -> PackedPage:
        """The page as the continuation of ``content_html``'s stream (the story the
        stored article holds, :func:`content_stream`): the story is compressed once."""
        stream, compressor = _content_stream(content_html)
        rest = compressor.process(_page_fields(body, content_type, url)) + compressor.finish()
        return cls(bytes((CHAINED | PAGE_LAYOUT,)) + stream_hash(stream) + rest)

    @property
    def chained(self) -> bool:
        """Whether the page continues its article's stream (needs ``after`` to read)."""
        return bool(self.data) and self.data[0] == CHAINED | PAGE_LAYOUT

    def continues(self, stream: bytes | None) -> bool:
        """Whether this chained page is the continuation of ``stream`` (an article's
        :func:`content_stream`): false once the article was rewritten since."""
        return stream is not None and self.data[1 : 1 + STREAM_HASH] == stream_hash(stream)

    def unpack(self) -> StoredPage:
        """The page; StoreError when the bytes are damaged, or when it continues a
        stream it was not handed."""
        if not self.chained:
            return page_from_bytes(self.data)
        if not self.continues(self.after):
            raise StoreError("stored page does not continue the stream it was given")
        decompressor = brotli.Decompressor()
        try:
            _drain(decompressor, self.after)
            raw = _drain(decompressor, self.data[1 + STREAM_HASH :])
        except brotli.error as exc:
            raise StoreError(f"stored page is not valid Brotli data: {exc}") from exc
        if not decompressor.is_finished():
            raise StoreError("stored page is truncated")
        return _read_page(raw)


# A page is stored as [URL field, content-type field, body], packed, with PAGE_LAYOUT set
# in the marker byte (0x10 plain, 0x12 Brotli), or as the rest of its article's stream
# (0x13, see PackedPage.pack_after). A field is its length (2 bytes) then
# UTF-8, with length 0xFFFF for None. Pages of earlier releases (markers 0x00-0x02) have
# no URL field and still read. An earlier release refuses the new markers as unknown
# (StoreError: its re-extraction skips the page) rather than misread the layout.
PAGE_LAYOUT = 0x10
_NONE = 0xFFFF


def _field(text: str | None, what: str) -> bytes:
    if text is None:
        return _CTYPE_LEN.pack(_NONE)
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) >= _NONE:
        raise ValueError(f"{what} too long to store")
    return _CTYPE_LEN.pack(len(raw)) + raw


def _read_field(raw: bytes, at: int, what: str) -> tuple[str | None, int]:
    if len(raw) < at + _CTYPE_LEN.size:
        raise StoreError("stored page is truncated")
    (n,) = _CTYPE_LEN.unpack_from(raw, at)
    at += _CTYPE_LEN.size
    if n == _NONE:
        return None, at
    if len(raw) < at + n:
        raise StoreError("stored page is truncated")
    try:
        return raw[at : at + n].decode("utf-8", "surrogatepass"), at + n
    except UnicodeDecodeError as exc:
        raise StoreError(f"stored page's {what} is not UTF-8: {exc}") from exc


def _page_fields(body: bytes, content_type: str | None, url: str | None) -> bytes:
    return _field(url, "URL") + _field(content_type, "content type") + body


def page_to_bytes(body: bytes, content_type: str | None, url: str | None = None) -> bytes:
    """Serialize an origin page on its own: the URL it came from, its content type, then
    the body, compressed."""
    packed = pack(_page_fields(body, content_type, url), force=True)
    return bytes((packed[0] | PAGE_LAYOUT,)) + packed[1:]


def _read_page(raw: bytes) -> StoredPage:
    url, at = _read_field(raw, 0, "URL")
    ctype, at = _read_field(raw, at, "content type")
    return StoredPage(raw[at:], ctype, url)


def page_from_bytes(data: bytes) -> StoredPage:
    """Inverse of :func:`page_to_bytes` (also reads pages stored without their URL)."""
    if data and data[0] & PAGE_LAYOUT:
        return _read_page(unpack(bytes((data[0] & ~PAGE_LAYOUT,)) + data[1:]))
    raw = unpack(data)
    ctype, at = _read_field(raw, 0, "content type")
    return StoredPage(raw[at:], ctype, None)
