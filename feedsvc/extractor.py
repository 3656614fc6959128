"""The extract stage's seam: what the pipeline asks of an extractor, and the one that
runs readability-lxml (:mod:`feedsvc.extract`) in the CPU pool's worker processes.

The pipeline holds an :class:`Extractor` chosen by :func:`create_extractor`, as it holds
a :class:`~feedsvc.store.Store` chosen by :func:`~feedsvc.store.create_store`: it never
calls a worker function or sees a pool's failures itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol, runtime_checkable

from feedsvc.config import Settings
from feedsvc.cpu import (
    CpuPool,
    Extraction,
    extract_in_worker,
    reextract_in_worker,
    rule_fingerprints_in_worker,
)
from feedsvc.errors import ExtractError
from feedsvc.models import LinkHint
from feedsvc.redact import redact_url
from feedsvc.store.codec import PackedPage


@runtime_checkable
class Extractor(Protocol):
    """Turns fetched pages into stories. Raises :class:`~feedsvc.errors.ExtractError`
    for a page it cannot read."""

    async def extract(
        self, body: bytes, url: str, headers: Mapping[str, str] | None,
        hint: LinkHint | None, *, keep_page: bool,
    ) -> Extraction:
        """The story of a page fetched from ``url``; with ``keep_page``, also the page
        packed for the store (for a re-extraction after a site rule changes)."""

    async def reextract(self, page: PackedPage, url: str) -> Extraction:
        """The story of a stored page again, under today's site rules."""

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
        self, cpu: CpuPool, *, sites_dir: str | None = None, time_budget: float | None = 10.0,
    ) -> None:
        self.cpu = cpu
        self.sites_dir = sites_dir
        self.time_budget = time_budget

    async def extract(
        self, body: bytes, url: str, headers: Mapping[str, str] | None,
        hint: LinkHint | None, *, keep_page: bool,
    ) -> Extraction:
        try:
            return await self.cpu.run(extract_in_worker, body, url, headers, hint,
                                      keep_page=keep_page, sites_dir=self.sites_dir,
                                      time_budget=self.time_budget)
        except BrokenProcessPool:
            # The worker died on this page, and its replacement too (CpuPool.run): the
            # article's failure, recorded and backed off, not the whole poll's.
            raise ExtractError(f"{redact_url(url)}: the extraction process crashed "
                               "on this page") from None

    async def reextract(self, page: PackedPage, url: str) -> Extraction:
        try:
            return await self.cpu.run(reextract_in_worker, page, url,
                                      sites_dir=self.sites_dir, time_budget=self.time_budget)
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
