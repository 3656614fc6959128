"""FiveFilters site rules (issue #4 item 4)."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pytest

from feedsvc.extract import extract_article, load_site_rules
from feedsvc.extract.rules import parse_rule

PAGE = """<html><head><title>Generic title</title></head><body>
<div class="nav"><a href="/">Home</a></div>
<h2 class="headline">Rule title</h2><span class="who">Jane Roe</span>
<span class="when">2020-03-04T05:06:07Z</span>
<div class="promo">PROMO TEXT that is long enough to be picked by a generic extractor, yes, it
is, with commas, and more commas, and it keeps going for quite a while.</div>
<div id="body"><p>Rule body paragraph one. OLDWORD here.</p><img src="/ads/banner.png">
<img src="/photos/a.jpg"><p class="social-x">Share me</p></div>
<a class="next" href="/story?page=2">Next</a>
<div class="story"><p>Generic story paragraph, long enough, with commas, and words, and more
words, so that readability would pick it if no rule were given.</p>
<p>Another generic paragraph with enough text to score as content for the extractor.</p></div>
</body></html>"""

RULE = """# test rule
title: //h2[@class='headline']
author: //span[@class='who']
date: //span[@class='when']
body: //div[@id='body']
strip_id_or_class: social-x
strip_image_src: /ads/
strip: //div[@class='nav']
next_page_link: //a[@class='next']
find_string: OLDWORD
replace_string: NEWWORD
prune: no
test_url: https://www.rules.example/story
test_contains: Rule body paragraph one
"""


def _rules(tmp_path: Path, name: str, text: str = RULE):
    (tmp_path / f"{name}.txt").write_text(text)
    return load_site_rules(str(tmp_path))


def test_rule_parts_applied(tmp_path: Path) -> None:
    rules = _rules(tmp_path, "rules.example")
    art = extract_article(PAGE, "https://www.rules.example/story", rules=rules)
    assert art.title == "Rule title"
    assert art.author == "Jane Roe"
    assert art.published is not None and art.published.year == 2020
    assert "Rule body paragraph one" in art.text
    assert "NEWWORD" in art.text and "OLDWORD" not in art.text
    assert "Generic story paragraph" not in art.text
    assert "banner.png" not in art.content_html and "photos/a.jpg" in art.content_html
    assert "Share me" not in art.text
    assert art.next_page_url == "https://www.rules.example/story?page=2"
    assert art.explain["content"].startswith("rule body:")
    assert art.explain["title"].startswith("rule title:")


def test_body_rule_matching_nothing_falls_back(tmp_path: Path) -> None:
    rules = _rules(tmp_path, "rules.example", "body: //div[@id='missing']\n")
    art = extract_article(PAGE, "https://rules.example/story", rules=rules)
    assert "Generic story paragraph" in art.text
    assert "content_rule" in art.explain


def test_host_matching(tmp_path: Path) -> None:
    rules = _rules(tmp_path, ".sub.example")
    (tmp_path / "plain.example.txt").write_text("title: //h1\n")
    rules = load_site_rules(str(tmp_path))
    assert rules.for_host("https://a.b.sub.example/x") is rules.rules[".sub.example"]
    assert rules.for_host("sub.example") is rules.rules[".sub.example"]
    assert rules.for_host("www.plain.example") is rules.rules["plain.example"]
    assert rules.for_host("other.plain.example") is None
    assert rules.for_host("unrelated.example") is None
    assert load_site_rules(None).for_host("plain.example") is None


def test_fingerprint_changes_with_rule_file_and_pickles(tmp_path: Path) -> None:
    first = _rules(tmp_path, "rules.example")
    again = load_site_rules(str(tmp_path))
    assert first.fingerprint("www.rules.example") == again.fingerprint("rules.example")
    changed = _rules(tmp_path, "rules.example", RULE + "strip: //p\n")
    assert changed.fingerprint("rules.example") != first.fingerprint("rules.example")
    assert first.fingerprint("nohost.example") is None
    assert pickle.loads(pickle.dumps(first)) == first


def test_test_url_and_contains_parsed(tmp_path: Path) -> None:
    rule = _rules(tmp_path, "rules.example").for_host("rules.example")
    assert rule is not None
    assert rule.tests == (("https://www.rules.example/story", ("Rule body paragraph one",)),)
    assert rule.prune is False


def test_inline_replace_string_may_hold_a_colon(tmp_path: Path) -> None:
    rule = parse_rule('replace_string(<div style="display:none">): <div>\nbody: //div\n')
    assert rule.replacements == (('<div style="display:none">', "<div>"),)


def test_prune_no_keeps_the_rule_body_whole(tmp_path: Path) -> None:
    """With "prune: no" the rule's body is the story as its author chose it: a short
    paragraph the generic pruning would drop stays."""
    page = ("<html><body><div id='story'><p>By Jane Roe</p>"
            "<p>Rule body paragraph one, the story itself, with enough words in it.</p>"
            "<p>Share prices slumped.</p></div></body></html>")
    for prune, kept in (("yes", False), ("no", True)):
        rules = _rules(tmp_path, "prune.example", f"body: //div[@id='story']\nprune: {prune}\n")
        art = extract_article(page, "https://prune.example/story", rules=rules)
        assert ("Share prices slumped." in art.text) is kept, prune
        assert "Rule body paragraph one" in art.text


def test_a_rule_line_with_broken_xpath_is_named_when_loaded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An XPath that does not compile used to be skipped at every use, without a word:
    the rule seemed not to apply. It is named (file, line, expression) when loaded."""
    (tmp_path / "news.test.txt").write_text(
        "title: //h1\nbody: //div[@class=\nstrip: //p[contains(., 'Ad')]\n")
    with caplog.at_level(logging.WARNING, logger="feedsvc.extract.rules"):
        rules = load_site_rules(str(tmp_path))
    rule = rules.rules["news.test"]
    assert rule.body == () and rule.title == ("//h1",)
    assert rule.strip == ("//p[contains(., 'Ad')]",)
    assert rule.problems == ("line 2: body: invalid XPath '//div[@class=' (Invalid expression)",)
    assert "news.test.txt: line 2: body: invalid XPath '//div[@class='" in caplog.text
