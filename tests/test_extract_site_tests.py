"""FiveFilters ``test_url``/``test_contains`` checks, run offline (issue #4 item 4):
each rule file's tests run against pages saved next to the rules, never fetched."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedsvc.extract import load_site_rules
from feedsvc.extract.rules import run_rule_tests, saved_page_name

SITES = Path(__file__).resolve().parents[1] / "config" / "sites"
SAVED = SITES / "pages"

RULE = """body: //div[@id='story']
test_url: https://www.rules.example/news/story-1?p=2
test_contains: The harbour wall was rebuilt
test_url: https://www.rules.example/news/not-saved
test_contains: anything
"""
PAGE = b"""<html><body><div class="promo">Visit our shop today, it is a long promo text, with
commas, and more commas, and more words so the generic extractor would like it.</div>
<div id="story"><p>The harbour wall was rebuilt after the storm.</p></div></body></html>"""


def test_saved_page_name_is_a_plain_file_name() -> None:
    assert saved_page_name("https://www.rules.example/news/story-1?p=2") == \
        "www.rules.example_news_story-1_p_2.html"


def test_rule_tests_pass_fail_and_missing_page(tmp_path: Path) -> None:
    (tmp_path / "rules.example.txt").write_text(RULE)
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / saved_page_name("https://www.rules.example/news/story-1?p=2")).write_bytes(PAGE)
    outcomes = run_rule_tests(load_site_rules(str(tmp_path)), str(pages))
    assert [(o.url.rsplit("/", 1)[1], o.status) for o in outcomes] == [
        ("story-1?p=2", "pass"), ("not-saved", "no-page")]
    # The same saved page fails when the rule's body misses the expected text.
    (tmp_path / "rules.example.txt").write_text(RULE.replace("@id='story'", "@class='promo'"))
    failed = run_rule_tests(load_site_rules(str(tmp_path)), str(pages))[0]
    assert failed.status == "fail"
    assert failed.missing == ("The harbour wall was rebuilt",)
    # A rule whose page yields no story at all is a failure too, not a crash.
    (pages / saved_page_name("https://www.rules.example/news/story-1?p=2")).write_bytes(
        b"<html><body></body></html>")
    assert run_rule_tests(load_site_rules(str(tmp_path)), str(pages))[0].status == "fail"


def test_project_site_rules_pass_on_saved_pages() -> None:
    outcomes = run_rule_tests(load_site_rules(str(SITES)), str(SAVED))
    ran = [o for o in outcomes if o.status != "no-page"]
    if not ran:
        pytest.skip(f"no rule in config/sites has a test_url page saved in {SAVED}")
    assert [o for o in ran if o.status == "fail"] == []
