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
    """:mod:`feedsvc.extract` in the CPU pool (never on the event loop)."""

    def __init__(self, cpu: CpuPool) -> None:
        self.cpu = cpu

    async def extract(
        self, body: bytes, url: str, headers: Mapping[str, str] | None,
        hint: LinkHint | None, *, keep_page: bool,
    ) -> Extraction:
        try:
            return await self.cpu.run(extract_in_worker, body, url, headers, hint,
                                      keep_page=keep_page)
        except BrokenProcessPool:
            # The worker died on this page, and its replacement too (CpuPool.run): the
            # article's failure, recorded and backed off, not the whole poll's.
            raise ExtractError(f"{redact_url(url)}: the extraction process crashed "
                               "on this page") from None

    async def reextract(self, page: PackedPage, url: str) -> Extraction:
        try:
            return await self.cpu.run(reextract_in_worker, page, url)
        except BrokenProcessPool:
            raise ExtractError(f"{redact_url(url)}: the extraction process crashed "
                               "on its stored page") from None

    async def rule_fingerprints(self, hosts: Sequence[str]) -> dict[str, str | None]:
        return await self.cpu.run(rule_fingerprints_in_worker, list(hosts))


def create_extractor(settings: Settings, cpu: CpuPool) -> Extractor:
    """The extractor for ``settings``: readability-lxml with the site rules of
    ``settings.sites_dir``, which the pool's workers load (``CpuPool(sites_dir=...)``)."""
    return PooledExtractor(cpu)
