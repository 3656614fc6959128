"""Turning a fetched body into text: the charset comes from the HTTP header, else the
page's own ``<meta>``, else detection (issue #4 item 0, WHATWG "encoding sniffing").
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping

import charset_normalizer

_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([\w.:-]+)""", re.I)
_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.I
)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.I)

# The WHATWG Encoding Standard maps these labels to windows-1252: pages that say
# "iso-8859-1" routinely contain cp1252 curly quotes in 0x80-0x9F.
_WINDOWS_1252 = {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "ascii", "us-ascii"}


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().lower()
    if label in _WINDOWS_1252:
        return "cp1252"
    if label in ("gb2312", "gbk", "x-gbk"):  # WHATWG: decoded as gb18030, their superset
        return "gb18030"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _single_byte(codec: str) -> bool:
    return codec.startswith(("cp12", "cp8", "cp7", "cp4", "iso8859", "latin", "mac-", "koi8"))


def _fits(body: bytes, codec: str) -> bool:
    try:
        body.decode(codec)
    except UnicodeDecodeError:
        return False
    return True


def header_charset(headers: Mapping[str, str] | None) -> str | None:
    """The codec named by a ``Content-Type`` header, if Python knows it."""
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == "content-type":
            m = _HEADER_CHARSET.search(value)
            return _codec(m.group(1)) if m else None
    return None


def decode_html(body: bytes | str, headers: Mapping[str, str] | None = None) -> tuple[str, str]:
    """Decode ``body``; return the text and where its charset came from (for --explain)."""
    if isinstance(body, str):
        return _XML_DECL.sub("", body, count=1), "str"
    for bom, name in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                      (codecs.BOM_UTF16_BE, "utf-16")):
        if body.startswith(bom):
            return _XML_DECL.sub("", body.decode(name, "replace"), count=1), "bom"
    codec = header_charset(headers)
    source = "http-header"
    if codec is None:
        m = _META_CHARSET.search(body[:4096])
        codec = _codec(m.group(1).decode("ascii", "replace")) if m else None
        source = "meta"
        # A page served as UTF-16 cannot declare so in ASCII; such a meta lies (WHATWG).
        # A body that is valid UTF-8 with non-ASCII bytes is UTF-8 whatever its meta says:
        # legacy multi-byte text almost never validates as UTF-8, but copied templates
        # often keep a stale meta (e.g. gb2312 on a UTF-8 page).
        if codec and codec != "utf-8" and not body.isascii():
            try:
                text = body.decode("utf-8")
                return _XML_DECL.sub("", text, count=1), f"utf-8 (meta said {codec})"
            except UnicodeDecodeError:
                pass
        if codec and codec.startswith("utf-16"):
            codec = "utf-8"
    if codec is None:
        try:
            return _XML_DECL.sub("", body.decode("utf-8"), count=1), "utf-8"
        except UnicodeDecodeError:
            best = charset_normalizer.from_bytes(body[:65536]).best()
            codec = _codec(best.encoding) if best is not None else None
            # Short samples make single-byte guesses ambiguous (cp1257 vs cp1252...); the
            # WHATWG default for unlabeled Western pages is windows-1252, so it wins
            # whenever the detector found a single-byte code page and cp1252 fits.
            if codec is None or (_single_byte(codec) and _fits(body, "cp1252")):
                codec = "cp1252"
            source = "detected"
    return _XML_DECL.sub("", body.decode(codec, "replace"), count=1), f"{source}:{codec}"
