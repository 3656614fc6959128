"""The extractor seam: what :func:`create_extractor` builds from the settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from feedsvc.cpu import CpuPool
from feedsvc.extractor import PooledExtractor, create_extractor
from tests.helpers import make_settings

TOPICS = {"t": {"sources": [{"url": "https://news.test/"}]}}


@pytest.fixture(scope="module")
def cpu() -> Iterator[CpuPool]:
    pool = CpuPool(1)
    yield pool
    pool.close()


async def test_the_extractor_takes_its_rules_and_time_budget_from_the_settings(
    cpu: CpuPool, tmp_path: Path
) -> None:
    """The rules directory and the time budget are the extractor's, read from the
    settings; the pool it runs in knows neither."""
    (tmp_path / "news.test.txt").write_text("body: //article\n")
    settings = make_settings(TOPICS, sites_dir=str(tmp_path), extract_timeout=3)
    extractor = create_extractor(settings, cpu)
    assert isinstance(extractor, PooledExtractor)
    assert (extractor.sites_dir, extractor.time_budget) == (str(tmp_path), 3.0)
    prints = await extractor.rule_fingerprints(["news.test", "other.test"])
    assert prints["news.test"] is not None and prints["other.test"] is None
    # the same pool, another extractor without rules: the workers follow the task
    bare = create_extractor(make_settings(TOPICS), cpu)
    assert (await bare.rule_fingerprints(["news.test"])) == {"news.test": None}


async def test_the_fetch_time_reaches_the_worker_for_a_datelines_year(cpu: CpuPool) -> None:
    """When a page was fetched (or its stored entry first seen) travels with the task: it
    dates a dateline that names no year, in a first extraction and in a re-extraction."""
    from datetime import UTC, datetime

    from feedsvc.store.codec import PackedPage
    from tests.site import STORIES, article_page

    title, _, paras = next(iter(STORIES.values()))
    page = article_page(title, "WASHINGTON, Dec 31 (Reuters) -", paras).encode()
    url = "https://news.test/reports/story.html"
    extractor = create_extractor(make_settings(TOPICS), cpu)
    fetched = datetime(2026, 1, 1, 2, tzinfo=UTC)
    first = await extractor.extract(page, url, None, None, keep_page=False, fetched=fetched)
    stored = PackedPage.pack(page, "text/html; charset=utf-8", url)
    again = await extractor.reextract(stored, url, None, fetched=fetched)
    for extraction in (first, again):
        assert extraction.article.published == datetime(2025, 12, 31, tzinfo=UTC)
