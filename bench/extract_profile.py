"""Extraction cost on the benchmark site's pages (issue #3 item 3, issue #4 item 7).

    python -m bench.extract_profile [--pages N] [--rounds R] [--profile]

Builds N article pages with :func:`bench.site.article_page` (15-60 KB, a story inside a
news site's chrome) and times ``extract_article`` against raw readability-lxml
(``Document(html).summary()``) in the same process, alternating the two page by page so
a busy host slows both alike, and counting each page's fastest run. Prints ms/page for
each and the ratio; ``--profile`` adds a cProfile of our extractor (top functions by
cumulative and by own time).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

from readability import Document

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.site import article_page
from feedsvc.extract import extract_article

URL = "http://127.0.0.1:8080/a/{n}.html"


def _ours(pages: list[tuple[str, bytes]]) -> float:
    start = time.perf_counter()
    for url, page in pages:
        extract_article(page, url, time_budget=None)
    return time.perf_counter() - start


def _timed(pages: list[tuple[str, bytes]], rounds: int) -> tuple[float, float]:
    """Seconds for all pages, ours and raw: each page is run by both in turn, ``rounds``
    times, and its fastest run of each counts (the run least disturbed by other work)."""
    ours = raw = 0.0
    for url, page in pages:
        best_ours = best_raw = float("inf")
        for _ in range(rounds):
            start = time.perf_counter()
            extract_article(page, url, time_budget=None)
            mid = time.perf_counter()
            Document(page).summary()
            end = time.perf_counter()
            best_ours, best_raw = min(best_ours, mid - start), min(best_raw, end - mid)
        ours += best_ours
        raw += best_raw
    return ours, raw


def main(argv: list[str] | None = None) -> int:
    """Time ours vs raw readability-lxml on generated pages; print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="cProfile our extractor")
    args = parser.parse_args(argv)
    pages = [(URL.format(n=n), article_page(n)) for n in range(1, args.pages + 1)]
    _timed(pages[:3], 1)  # warm imports and regex caches
    ours, raw = _timed(pages, args.rounds)
    o_ms, r_ms = ours / len(pages) * 1000, raw / len(pages) * 1000
    size = sum(len(p) for _, p in pages) / len(pages) / 1024
    print(f"{len(pages)} pages, mean {size:.1f} KB: ours {o_ms:.2f} ms/page, "
          f"raw {r_ms:.2f} ms/page, ratio {o_ms / r_ms:.3f}")
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        _ours(pages)
        prof.disable()
        stats = pstats.Stats(prof).strip_dirs()
        stats.sort_stats("cumulative").print_stats(35)
        stats.sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
