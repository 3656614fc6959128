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
_COMMENT = re.compile(rb"<!--.*?-->", re.S)

# Labels the WHATWG Encoding Standard (the table browsers follow) maps to another codec
# than Python's namesake, or that Python does not know. Browsers decode them so, and so
# pages are written for them: "iso-8859-1" pages carry cp1252 curly quotes in 0x80-0x9F,
# Shift_JIS pages NEC symbols (cp932), EUC-KR pages extended Hangul (cp949).
_WHATWG = {
    **dict.fromkeys(("iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1",
                     "ascii", "us-ascii", "cp819", "ibm819"), "cp1252"),
    **dict.fromkeys(("gb2312", "gbk", "x-gbk", "csgb2312", "chinese"), "gb18030"),
    **dict.fromkeys(("iso-8859-9", "iso8859-9", "iso_8859-9", "latin5", "l5"), "cp1254"),
    **dict.fromkeys(("windows-874", "dos-874", "tis-620", "iso-8859-11", "iso8859-11"),
                    "cp874"),
    **dict.fromkeys(("shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji", "ms932",
                     "windows-31j", "csshiftjis"), "cp932"),
    **dict.fromkeys(("euc-kr", "ks_c_5601-1987", "ks_c_5601-1989", "ksc5601", "ksc_5601",
                     "windows-949", "korean", "cseuckr"), "cp949"),
    **{f"x-cp125{n}": f"cp125{n}" for n in range(9)},
}


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().lower()
    if label in _WHATWG:
        return _WHATWG[label]
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
        # A <meta> inside a comment is not a declaration (the tokenizer skips comments).
        m = _META_CHARSET.search(_COMMENT.sub(b"", body[:4096]))
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
