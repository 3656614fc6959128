"""The extract stage's seam: what the pipeline asks of an extractor, and the one that
runs readability-lxml (:mod:`feedsvc.extract`) in the CPU pool's worker processes.

The pipeline holds an :class:`Extractor` chosen by :func:`create_extractor`, as it holds
a :class:`~feedsvc.store.Store` chosen by :func:`~feedsvc.store.create_store`: it never
calls a worker function or sees a pool's failures itself.

Two halves live here. The worker functions (``*_in_worker``) run inside the pool's
processes: they are top-level functions because the pool pickles them by name, and the
site rules they cache are per-worker state. :class:`PooledExtractor` is the event
loop's side, sending them the page and this extractor's configuration.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from feedsvc.errors import ExtractError
from feedsvc.models import ExtractedArticle, LinkHint
from feedsvc.redact import redact_url
from feedsvc.store.codec import PackedPage

if TYPE_CHECKING:
    # Types only: each worker process imports this module to run a worker function,
    # and needs neither the config model nor the pool.
    from feedsvc.config import Settings
    from feedsvc.cpu import CpuPool

# Per-worker cache of the site rules (one value per worker process): the directory
# they were read from, its stamp then, and the rules.
_rules: Any = None
_rules_key: object = None


def sites_stamp(sites_dir: str | None) -> tuple[tuple[str, int, int], ...]:
    """Cheap change detector for a rules directory: names, sizes and mtimes."""
    if not sites_dir or not os.path.isdir(sites_dir):
        return ()
    out = []
    for entry in sorted(os.scandir(sites_dir), key=lambda e: e.name):
        if entry.name.endswith(".txt"):
            st = entry.stat()
            out.append((entry.name, st.st_size, st.st_mtime_ns))
    return tuple(out)


def _current_rules(sites_dir: str | None) -> Any:
    """This worker's site rules from ``sites_dir``, read once and re-read when a rule
    file changed (no restart needed). The directory comes with each task, a few bytes;
    the rules it holds never do."""
    global _rules, _rules_key
    from feedsvc.extract import load_site_rules

    key = (sites_dir, sites_stamp(sites_dir))
    if _rules is None or key != _rules_key:
        _rules, _rules_key = load_site_rules(sites_dir), key
    return _rules


@dataclass(frozen=True, slots=True)
class Extraction:
    """What a worker returns for one page: all the CPU work on it done there."""

    article: ExtractedArticle
    rule: str | None  # fingerprint of the site rule that applied (None: generic)
    page: PackedPage | None  # the page as worth storing for a re-extraction (if kept)
    fingerprint: str | None  # of the story text, for duplicate detection
    # The story was longer than feedsvc keeps and was cut (feedsvc.limits.cut_story).
    cut: bool = False


def extract_in_worker(
    html: bytes,
    url: str,
    headers: Mapping[str, str] | None,
    hint: LinkHint | None,
    *,
    keep_page: bool = False,
    sites_dir: str | None = None,
    time_budget: float | None = None,
    fetched: datetime | None = None,
) -> Extraction:
    """Extract with the site rules of ``sites_dir`` within ``time_budget`` seconds, the
    page fetched at ``fetched`` (the reference for a dateline's missing year);
    ``keep_page`` also packs the page for the store (compressing it here, not in the
    serving process), as the continuation of the extracted story's stream: the store
    makes that stream again when it writes the article (measured: as fast as the JSON it
    compressed before, so handing it over from here would save nothing worth an API)."""
    from dataclasses import replace
    from urllib.parse import urlsplit

    from feedsvc.extract import extract_article, fingerprint
    from feedsvc.extract.keep import slim_page
    from feedsvc.limits import MAX_STORY_BYTES, cut_story, story_bytes

    rules = _current_rules(sites_dir)
    extracted = extract_article(html, url, headers, hint=hint, rules=rules, time_budget=time_budget,
                                fetched=fetched)
    ctype = None if headers is None else headers.get("Content-Type")
    # of the whole story: the same story cut or not is one
    text_fp = fingerprint(extracted.text) if extracted.text.strip() else None
    # A story over MAX_STORY_BYTES (a hostile page, or 5 MB of links that sanitizing
    # doubles) is cut here, off the event loop, before the store or any feed sees it.
    cut = cut_story(extracted.content_html, url)
    if cut is not None:
        explain = {**extracted.explain, "cut": f"story of {story_bytes(extracted.content_html)} "
                   f"bytes cut to {story_bytes(cut)} (limit {MAX_STORY_BYTES})"}
        extracted = replace(extracted, content_html=cut, text=extracted.text[:MAX_STORY_BYTES],
                            explain=explain)
    return Extraction(
        article=extracted,
        rule=rules.fingerprint(urlsplit(url).hostname or ""),
        # the page continues the stream of the story the stored article will hold
        page=(PackedPage.pack_after(extracted.content_html, slim_page(html), ctype, url)
              if keep_page else None),
        fingerprint=text_fp,
        cut=cut is not None,
    )


def reextract_in_worker(
    page: PackedPage, url: str, hint: LinkHint | None = None, *, sites_dir: str | None = None,
    time_budget: float | None = None, fetched: datetime | None = None,
) -> Extraction:
    """Extract a stored page again (after a site rule changed) as it was extracted first:
    with ``hint`` (the stored entry's date) in place of its feed's, ``fetched`` (when the
    entry was first seen) in place of the time it was fetched, from the URL it was
    fetched from, its links' base, rather than the entry's ``url``
    (the link before redirects, or the page's rel=canonical), used for pages stored
    before their URL was kept.

    The page comes back packed again as the continuation of the new story, which the
    entry will hold: kept in place of the old one, it serves the next rule change too."""
    from dataclasses import replace

    stored = page.unpack()
    headers = {"Content-Type": stored.content_type or ""}
    extraction = extract_in_worker(stored.body, stored.url or url, headers, hint,
                                   sites_dir=sites_dir, time_budget=time_budget, fetched=fetched)
    again = PackedPage.pack_after(extraction.article.content_html, stored.body,
                                  stored.content_type, stored.url)
    return replace(extraction, page=again)


def relink_in_worker(extraction: Extraction, url: str) -> Extraction:
    """``extraction``, of a cut story, with the note ending it linking ``url``
    (feedsvc.limits.relink_note), and its kept page packed again as the continuation of
    the story so changed, which the stored article will hold (feedsvc.store.codec: a page
    continuing another story could never be read)."""
    from dataclasses import replace

    from feedsvc.limits import relink_note
    from feedsvc.store.codec import content_stream

    content = relink_note(extraction.article.content_html, url)
    page = extraction.page
    if page is not None and page.chained:
        old = replace(page, after=content_stream(extraction.article.content_html)).unpack()
        page = PackedPage.pack_after(content, old.body, old.content_type, old.url)
    return replace(extraction, article=replace(extraction.article, content_html=content),
                   page=page)


def rule_fingerprints_in_worker(hosts: list[str], sites_dir: str | None = None) -> dict[str, str | None]:
    """Fingerprints of the rules of ``sites_dir`` the workers apply to ``hosts`` now."""
    rules = _current_rules(sites_dir)
    return {host: rules.fingerprint(host) for host in hosts}


@runtime_checkable
class Extractor(Protocol):
    """Turns fetched pages into stories. Raises :class:`~feedsvc.errors.ExtractError`
    for a page it cannot read."""

    async def extract(
        self, body: bytes, url: str, headers: Mapping[str, str] | None,
        hint: LinkHint | None, *, keep_page: bool, fetched: datetime | None = None,
    ) -> Extraction:
        """The story of a page fetched from ``url`` at ``fetched``; with ``keep_page``,
        also the page packed for the store (for a re-extraction after a site rule
        changes)."""

    async def reextract(self, page: PackedPage, url: str, hint: LinkHint | None = None, *,
                        fetched: datetime | None = None) -> Extraction:
        """The story of a stored page again, under today's site rules, and the page
        packed again after it (:meth:`PackedPage.pack_after`). ``hint``: what the stored
        entry says of it, standing in for the feed's word it was first extracted with;
        ``fetched``: when the entry was first seen, standing in for the fetch time (a
        dateline's missing year is that of its day before then, not before now)."""

    async def rule_fingerprints(self, hosts: Sequence[str]) -> dict[str, str | None]:
        """For each host, a fingerprint of the site rule that applies to it now (None:
        generic extraction), to tell which stored stories a rule change affects."""


class PooledExtractor:
    """:mod:`feedsvc.extract` in the CPU pool (never on the event loop), with the site
    rules of ``sites_dir`` and ``time_budget`` seconds per page.

    Both travel with each task (a path and a number; each worker reads the rules
    themselves once, and again only when a rule file changes), so the pool stays a
    plain pool and this extractor's configuration is all in one place."""

    def __init__(
        self, cpu: CpuPool, *, sites_dir: str | None, time_budget: float | None,
    ) -> None:
        self.cpu = cpu
        self.sites_dir = sites_dir
        self.time_budget = time_budget

    async def extract(
        self, body: bytes, url: str, headers: Mapping[str, str] | None,
        hint: LinkHint | None, *, keep_page: bool, fetched: datetime | None = None,
    ) -> Extraction:
        try:
            return await self.cpu.run(extract_in_worker, body, url, headers, hint,
                                      keep_page=keep_page, sites_dir=self.sites_dir,
                                      time_budget=self.time_budget, fetched=fetched)
        except BrokenProcessPool:
            # The worker died on this page, and its replacement too (CpuPool.run): the
            # article's failure, recorded and backed off, not the whole poll's.
            raise ExtractError(f"{redact_url(url)}: the extraction process crashed "
                               "on this page") from None

    async def reextract(self, page: PackedPage, url: str, hint: LinkHint | None = None, *,
                        fetched: datetime | None = None) -> Extraction:
        try:
            return await self.cpu.run(reextract_in_worker, page, url, hint,
                                      sites_dir=self.sites_dir, time_budget=self.time_budget,
                                      fetched=fetched)
        except BrokenProcessPool:
            raise ExtractError(f"{redact_url(url)}: the extraction process crashed "
                               "on its stored page") from None

    async def rule_fingerprints(self, hosts: Sequence[str]) -> dict[str, str | None]:
        return await self.cpu.run(rule_fingerprints_in_worker, list(hosts), self.sites_dir)


def create_extractor(settings: Settings, cpu: CpuPool) -> Extractor:
    """The extractor for ``settings``: readability-lxml with the site rules of
    ``settings.sites_dir``, each page given ``settings.extract_timeout`` seconds, run in
    ``cpu``."""
    return PooledExtractor(cpu, sites_dir=settings.sites_dir,
                           time_budget=settings.extract_timeout)
