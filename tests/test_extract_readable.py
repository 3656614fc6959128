"""Story isolation internals that must match readability-lxml exactly (issue #4 item 7)."""

from __future__ import annotations

import random
import re

import pytest
import readability.readability as rr
from lxml import html as lhtml
from readability import Document
from readability.readability import clean

from feedsvc.extract.meta import norm
from feedsvc.extract.readable import Readable, clean_len

# Every kind of blank readability's ``clean`` treats differently: spaces, newlines, tabs,
# carriage returns, form feeds, unit separators, no-break and em spaces.
_ALPHABET = ["a", "b", ",", " ", " ", " ", "\n", "\t", "\r", "\x0c", "\x1f", "\xa0", "\u2003"]


def test_clean_len_is_the_length_of_readability_clean() -> None:
    rng = random.Random(4)
    for _ in range(20000):
        text = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 40)))
        if rng.random() < 0.02:  # a run past readability's 255-blank cap
            text += rng.choice([" ", "\t", "\xa0"]) * rng.randint(250, 300) + text
        assert clean_len(text) == len(clean(text)), repr(text)


def test_link_density_matches_readability() -> None:
    page = ("<html><body><div id='x'>\n\t\t<p>Some\xa0 text\t\twith <a href='/a'>a  link</a>,"
            "\n  and <a href='/b'><a href='/c'>nested</a></a> tabs\t </p>\t<a href='/d'>"
            + " " * 300 + "tail</a></div></body></html>")
    root = lhtml.document_fromstring(page)
    ours, raw = Readable(root, None), Document(page)
    for el in root.iter():
        assert ours.get_link_density(el) == raw.get_link_density(el)


def test_link_density_does_not_run_readability_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    # readability's ``text_length`` runs three regex passes over the whole text; the
    # override must not fall back to it (it is a third of extraction time on news pages).
    def forbidden(el: object) -> int:
        raise AssertionError("readability text_length called")

    monkeypatch.setattr(rr, "text_length", forbidden)
    root = lhtml.document_fromstring("<html><body><p>Text <a href='/'>link</a></p></body></html>")
    assert 0 < Readable(root, None).get_link_density(root.find(".//p")) < 1


def test_norm_collapses_every_blank_re_knows() -> None:
    rng = random.Random(7)
    for _ in range(5000):
        text = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 30)))
        assert norm(text) == re.sub(r"\s+", " ", text).strip(), repr(text)
    assert norm(None) == ""


def test_whitespace_table_is_every_isspace_character() -> None:
    from feedsvc.extract import readable

    every = tuple(chr(c) for c in range(0x110000) if chr(c).isspace())
    assert every == readable._WHITESPACE


def _scores(doc: Document) -> dict[str, float]:
    scores = doc.score_paragraphs()
    return {el.getroottree().getpath(el): c["content_score"] for el, c in scores.items()}


def test_paragraph_scores_match_readability() -> None:
    # The override computes lengths with ``clean_len`` and counts commas on the raw text;
    # every candidate must score exactly what readability-lxml gives it.
    rng = random.Random(7)
    for _ in range(40):
        paras = "".join(
            f"<{rng.choice(['p', 'pre', 'td', 'blockquote'])}>"
            + "".join(rng.choice(_ALPHABET + ["word"] * 4) for _ in range(rng.randint(0, 400)))
            + "</p>" for _ in range(rng.randint(1, 8)))
        page = f"<html><body><div id='a'><div class='b'>{paras}</div>{paras}</div></body></html>"
        ours = _scores(Readable(lhtml.document_fromstring(page), None))
        assert ours and ours == _scores(Document(page))


def test_paragraph_scoring_does_not_run_readability_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    # ``clean`` on every paragraph was a tenth of extraction time on bench/site.py pages.
    def forbidden(text: str) -> str:
        raise AssertionError("readability clean called")

    monkeypatch.setattr(rr, "clean", forbidden)
    page = "<html><body><div><p>" + "Words, and more words, " * 5 + "</p></div></body></html>"
    scores = Readable(lhtml.document_fromstring(page), None).score_paragraphs()
    assert next(c["content_score"] for c in scores.values()) > 1
