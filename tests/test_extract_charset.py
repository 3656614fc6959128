"""Decoding a fetched body (WHATWG encoding sniffing: BOM, HTTP charset, meta, detection)."""

from __future__ import annotations

import pytest

from feedsvc.extract.charset import decode_html


def test_a_meta_inside_a_comment_does_not_count() -> None:
    body = ('<html><head><!-- <meta charset="koi8-r"> --><meta charset="windows-1251">'
            "<title>Новости</title></head><body><p>Сегодня в Москве</p></body></html>")
    text, source = decode_html(body.encode("cp1251"))
    assert "Сегодня в Москве" in text and source == "meta:cp1251"


@pytest.mark.parametrize(("label", "codec", "sample"), [
    # WHATWG labels whose Python namesake decodes differently
    ("windows-874", "cp874", "ข่าววันนี้ \u20ac"),  # Thai; Python has no "windows-874"
    ("tis-620", "cp874", "ข่าววันนี้"),
    ("iso-8859-9", "cp1254", "Türkçe haber \u20ac 5"),  # WHATWG: windows-1254, with €
    ("shift_jis", "cp932", "ニュース ①②③"),  # NEC row 13 is in WHATWG's Shift_JIS
    ("euc-kr", "cp949", "뉴스 똠방각하"),  # extended Hangul is in WHATWG's EUC-KR
    ("x-cp1251", "cp1251", "Новости"),
])
def test_whatwg_labels(label: str, codec: str, sample: str) -> None:
    body = f'<html><head><meta charset="{label}"></head><body><p>{sample}</p></body></html>'
    text, source = decode_html(body.encode(codec))
    assert sample in text and source == f"meta:{codec}"
    text, source = decode_html(body.encode(codec), {"Content-Type": f"text/html; charset={label}"})
    assert sample in text and source == f"http-header:{codec}"
