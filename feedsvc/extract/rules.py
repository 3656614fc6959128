"""Per-site rules in the FiveFilters site-config text format (issue #4 item 4).

A rule file is named after the host it serves: ``example.com.txt`` serves example.com and
www.example.com; ``.example.com.txt`` serves every subdomain of example.com too. Lines are
``directive: value``; ``#`` starts a comment. Unknown directives are kept but ignored.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from lxml import etree

from ..errors import ExtractError

log = logging.getLogger(__name__)

_MULTI = ("title", "body", "author", "date", "strip", "strip_id_or_class", "strip_image_src",
          "single_page_link", "next_page_link", "find_string", "replace_string", "test_url",
          "test_contains")
_REPLACE_INLINE = re.compile(r"^replace_string\((?P<find>.*)\)\s*:(?P<repl>.*)$")
_XPATH_KEYS = frozenset({"title", "body", "author", "date", "strip", "single_page_link",
                         "next_page_link"})


@dataclass(frozen=True)
class SiteRule:
    """One rule file, parsed. XPath expressions are kept as text (compiled at use)."""

    name: str
    digest: str
    title: tuple[str, ...] = ()
    body: tuple[str, ...] = ()
    author: tuple[str, ...] = ()
    date: tuple[str, ...] = ()
    strip: tuple[str, ...] = ()
    strip_id_or_class: tuple[str, ...] = ()
    strip_image_src: tuple[str, ...] = ()
    single_page_link: tuple[str, ...] = ()
    next_page_link: tuple[str, ...] = ()
    replacements: tuple[tuple[str, str], ...] = ()
    prune: bool = True
    tests: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Lines left out because they cannot work (an XPath that does not compile), each as
    # "line N: problem": logged when the rules are loaded, so a typo is not silent.
    problems: tuple[str, ...] = ()


def parse_rule(text: str, name: str = "") -> SiteRule:
    """Parse one FiveFilters site-config file."""
    values: dict[str, list[str]] = {k: [] for k in _MULTI}
    replacements: list[tuple[str, str]] = []
    tests: list[tuple[str, list[str]]] = []
    prune = True
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        # Matched on the whole line first: the text to find may itself hold ":"
        # (replace_string(<div style="display:none">): <div>).
        inline = _REPLACE_INLINE.match(line)
        if inline:
            replacements.append((inline["find"], inline["repl"].strip()))
            continue
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        key = key.lower()
        if key == "prune":
            prune = value.lower() not in ("no", "false", "0")
        elif key == "test_url":
            tests.append((value, []))
        elif key == "test_contains":
            if tests:
                tests[-1][1].append(value)
        elif key in _XPATH_KEYS and (problem := _xpath_problem(value)):
            problems.append(f"line {number}: {key}: invalid XPath {value!r} ({problem})")
        elif key in values:
            values[key].append(value)
    # find_string/replace_string pair up in order.
    replacements.extend(zip(values["find_string"], values["replace_string"], strict=False))
    return SiteRule(
        name=name,
        digest=hashlib.sha256(text.encode("utf-8")).hexdigest()[:16],
        title=tuple(values["title"]), body=tuple(values["body"]),
        author=tuple(values["author"]), date=tuple(values["date"]),
        strip=tuple(values["strip"]), strip_id_or_class=tuple(values["strip_id_or_class"]),
        strip_image_src=tuple(values["strip_image_src"]),
        single_page_link=tuple(values["single_page_link"]),
        next_page_link=tuple(values["next_page_link"]),
        replacements=tuple(replacements), prune=prune,
        tests=tuple((u, tuple(c)) for u, c in tests),
        problems=tuple(problems),
    )


def _host(url_or_host: str) -> str:
    host = urlsplit(url_or_host).hostname if "//" in url_or_host else url_or_host
    return (host or "").lower().rstrip(".")


@dataclass(frozen=True)
class SiteRules:
    """All rule files of a directory, by file stem (``example.com``, ``.example.com``).
    Plain data, so it pickles into worker processes."""

    rules: dict[str, SiteRule] = field(default_factory=dict)

    def for_host(self, host_or_url: str) -> SiteRule | None:
        """The rule that applies to a host (or URL): exact host, host without ``www.``,
        then ``.parent`` files from the most specific parent up."""
        host = _host(host_or_url)
        if not host:
            return None
        bare = host[4:] if host.startswith("www.") else host
        for key in (host, bare):
            if key in self.rules:
                return self.rules[key]
        labels = bare.split(".")
        for i in range(len(labels) - 1):
            key = "." + ".".join(labels[i:])
            if key in self.rules:
                return self.rules[key]
        return None

    def fingerprint(self, host: str) -> str | None:
        """Hash of the rule file that applies to ``host`` (None when none does); when it
        changes, stored pages of that host are re-extracted."""
        rule = self.for_host(host)
        return f"{rule.name}:{rule.digest}" if rule else None

    def __bool__(self) -> bool:
        return bool(self.rules)


def _xpath_problem(expr: str) -> str | None:
    """Why ``expr`` is not a usable XPath, or None."""
    try:
        etree.XPath(expr)
    except etree.XPathSyntaxError as exc:
        return str(exc) or "syntax error"
    return None


def load_site_rules(directory: str | None) -> SiteRules:
    """Read every ``*.txt`` rule file of ``directory`` (None or missing -> no rules)."""
    if not directory or not os.path.isdir(directory):
        return SiteRules()
    rules: dict[str, SiteRule] = {}
    for entry in sorted(os.listdir(directory)):
        if not entry.endswith(".txt"):
            continue
        stem = entry[:-4].lower()
        path = os.path.join(directory, entry)
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                rules[stem] = parse_rule(fh.read(), stem)
        except OSError as exc:
            log.warning("site rule %s unreadable: %s", path, exc)
            continue
        for problem in rules[stem].problems:
            log.warning("site rule %s: %s; that line is ignored", path, problem)
    return SiteRules(rules)


_SLUG = re.compile(r"[^A-Za-z0-9.-]+")


def saved_page_name(url: str) -> str:
    """File name under which a ``test_url`` page is saved for offline rule tests:
    host and path with every other character as ``_``, e.g.
    ``www.example.com_news_story_1.html`` for ``https://www.example.com/news/story-1``."""
    parts = urlsplit(url)
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    return _SLUG.sub("_", f"{parts.hostname or ''}{tail}").strip("_") + ".html"


@dataclass(frozen=True)
class RuleTestOutcome:
    """One ``test_url`` of one rule file: ``status`` is ``pass``, ``fail`` (``missing``
    lists the ``test_contains`` strings not found) or ``no-page`` (nothing saved)."""

    rule: str
    url: str
    status: str
    missing: tuple[str, ...] = ()


def run_rule_tests(rules: SiteRules, pages_dir: str) -> list[RuleTestOutcome]:
    """Run the FiveFilters ``test_url``/``test_contains`` checks of every rule file
    against pages saved in ``pages_dir`` (named by :func:`saved_page_name`). Nothing is
    fetched: a test whose page is not saved reports ``no-page``."""
    from . import extract_article  # the package imports this module

    outcomes: list[RuleTestOutcome] = []
    for name, rule in sorted(rules.rules.items()):
        for url, expected in rule.tests:
            path = os.path.join(pages_dir, saved_page_name(url))
            if not os.path.isfile(path):
                outcomes.append(RuleTestOutcome(name, url, "no-page"))
                continue
            with open(path, "rb") as fh:
                html = fh.read()
            try:
                text = extract_article(html, url, rules=rules, time_budget=None).text
            except ExtractError:
                text = ""  # nothing extracted: every expected string is missing
            missing = tuple(s for s in expected if s not in text)
            outcomes.append(RuleTestOutcome(name, url, "fail" if missing else "pass", missing))
    return outcomes
