"""Section ``crawl`` (issue #3 item 3): the real ``feedsvc crawl --once``
and ``feedsvc serve`` against the local origin (:mod:`bench.site`).

- politeness: one 50-item partial feed whose every response takes 50 ms, crawled with
  per_host 2 and 8, against the floor of 51 requests x 50 ms / per_host;
- cold crawl: 1,000 articles (no delay) with extract_workers=2, against raw
  readability-lxml (``Document(html).summary()``) on one core on the same pages;
- time-to-appear: ``feedsvc serve`` with a 5 s poll interval; an article published at the
  origin must show in the served feed within the poll interval + 5 s.

Crawl time is measured from the origin's view of the first request (interpreter start-up
and imports are not crawling) to the exit of the ``crawl --once`` process (extraction,
storing and shutdown are).
"""

from __future__ import annotations

import os
import resource
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bench.common import (
    PYTHON,
    SectionResult,
    entry_count,
    feedsvc_serve,
    free_port,
    http_get,
    log,
    metric,
    popen,
    redis_server,
    running,
    service_config,
    table,
    write_config,
)
from bench.site import Origin, article_page, origin

DELAY = 0.05
POLITE_ITEMS = 50


@dataclass
class CrawlRun:
    """One ``feedsvc crawl --once`` run."""

    wall: float  # process start to exit
    crawl: float  # first origin request to process exit
    span: float  # first origin request to last article response
    first_article_gap: float  # feed request arrival to first article request
    article_span: float  # first article request to last article response
    tail: float  # last article response to process exit (extraction backlog, shutdown)
    articles_fetched: int
    max_in_flight: int
    cpu: float  # CPU seconds of the crawl process and its pool workers
    output: str


def crawl_once(directory: Path, config: dict[str, Any], site: Origin, timeout: float = 300.0) -> CrawlRun:
    """Run the real CLI on ``config`` and read the origin's view of it."""
    path = write_config(directory, config)
    site.reset()
    cpu_before = _children_cpu()
    started_wall = time.time()
    started = time.monotonic()
    proc = popen([PYTHON, "-m", "feedsvc", "crawl", "--once", "-c", str(path), "--log-level", "WARNING"],
                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    with running(proc):
        out, _ = proc.communicate(timeout=timeout)
    wall = time.monotonic() - started
    ended_wall = started_wall + wall
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"crawl --once exited with {proc.returncode}:\n{text[-3000:]}")
    st = site.stats()
    first = min(st["first"].values())
    last = max(st["last_done"].values())
    return CrawlRun(
        wall=wall,
        crawl=ended_wall - first,
        span=last - first,
        first_article_gap=st["first"].get("a", last) - first,
        article_span=last - st["first"].get("a", last),
        tail=ended_wall - last,
        articles_fetched=st["counts"].get("a", 0),
        max_in_flight=st["max_in_flight"],
        cpu=_children_cpu() - cpu_before,
        output=text,
    )


def _children_cpu() -> float:
    # Waited-for descendants only: the crawl process, which waits for its pool workers.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _feed_source(site: Origin, feed: str, **extra: Any) -> dict[str, Any]:
    return {"url": site.feed_url(feed), "kind": "feed", **extra}


# -- politeness ------------------------------------------------------------------------------


def politeness(res: SectionResult, tmp: Path, quick: bool) -> None:
    """Crawl of one 50-item feed from a 50 ms origin, per_host 2 and 8."""
    rows = []
    with origin(delay=DELAY, feeds={"p50": POLITE_ITEMS}) as site:
        for per_host in (2, 8):
            floor = (POLITE_ITEMS + 1) * DELAY / per_host
            runs = []
            for _ in range(1 if quick else 3):
                cfg = service_config(free_port(), {"news": [_feed_source(site, "p50")]},
                                     defaults={"per_host": per_host, "concurrency": max(8, per_host)})
                runs.append(crawl_once(tmp, cfg, site))
            best = min(runs, key=lambda r: r.crawl)  # least disturbed by other load on the host
            if best.articles_fetched != POLITE_ITEMS:
                res.notes.append(f"per_host {per_host}: {best.articles_fetched} articles fetched, "
                                 f"expected {POLITE_ITEMS}")
            log(f"crawl: per_host {per_host}: crawl {best.crawl:.3f}s (floor {floor:.3f}s), "
                f"fetch span {best.span:.3f}s, wall {best.wall:.2f}s")
            res.add(metric("crawl", f"50-item feed @50ms, per_host {per_host}", best.crawl, "s",
                           baseline=floor, target="<= 1.25", on="ratio",
                           note="first origin request to process exit; baseline = politeness floor"))
            res.add(metric("crawl", f"  fetch span only, per_host {per_host}", best.span, "s",
                           baseline=floor, note="first request to last article response"))
            # The feed must arrive before any article is known, and 50 articles at
            # per_host at a time take ceil(50 / per_host) rounds: no crawler can finish
            # sooner. At per_host 8 that is 0.40 s, exactly 1.25x the floor above, so
            # that target leaves no time at all for parsing, extracting or exiting.
            rounds = -(-POLITE_ITEMS // per_host)
            physical = DELAY * (1 + rounds)
            res.add(metric("crawl", f"  vs feed + {rounds} rounds of {per_host}, per_host {per_host}",
                           best.crawl, "s", baseline=physical,
                           note="the least any crawler can take: feed, then whole rounds"))
            rows.append([str(per_host), f"{floor:.3f}", f"{best.crawl:.3f}", f"{best.first_article_gap:.3f}",
                         f"{best.article_span:.3f}", f"{50 * DELAY / per_host:.3f}", f"{best.tail:.3f}",
                         f"{best.cpu:.2f}", f"{best.wall:.2f}", str(best.max_in_flight),
                         str(best.articles_fetched)])
            res.details[f"politeness_per_host_{per_host}"] = {
                "floor_s": floor,
                "runs": [{k: v for k, v in r.__dict__.items() if k != "output"} for r in runs],
            }
    res.details["politeness_table"] = table(rows, [
        "per_host", "floor s", "crawl s", "feed->1st article", "article fetches", "(their floor)",
        "exit tail", "CPU s", "process wall s", "max in flight", "articles"])


# -- cold crawl + Redis memory -------------------------------------------------------------------


def raw_readability_rate(pages: list[bytes], cpu: int) -> float:
    """Pages per second of bare ``readability.Document(html).summary()`` on one core."""
    from readability import Document

    old = os.sched_getaffinity(0)
    try:
        if len(old) > 1:
            os.sched_setaffinity(0, {cpu})
        Document(pages[0]).summary()  # imports and first-use costs out of the timing
        started = time.perf_counter()
        for page in pages:
            Document(page).summary()
        return len(pages) / (time.perf_counter() - started)
    finally:
        os.sched_setaffinity(0, old)


def cold_crawl(res: SectionResult, tmp: Path, count: int, raw_sample: int) -> None:
    """``count`` articles, no delay, extract_workers=2, in-process store."""
    with origin(feeds={"big": count}) as site:
        cfg = service_config(free_port(), {"news": [_feed_source(site, "big", max_articles=count)]},
                             extract_workers=2, defaults={"per_host": 4, "concurrency": 8})
        log(f"crawl: cold crawl of {count} articles (extract_workers=2, in-process store)")
        run = crawl_once(tmp, cfg, site, timeout=600)
    pages = [article_page(n) for n in range(raw_sample)]
    log(f"crawl: raw readability-lxml on one core, {raw_sample} of the same pages")
    raw = raw_readability_rate(pages, cpu=1)
    rate = run.articles_fetched / run.crawl
    log(f"crawl: {rate:.1f} articles/s ({run.cpu:.1f} CPU s) vs raw {raw:.1f} pages/s on one core")
    res.add(metric("crawl", f"cold crawl {count} articles, 2 workers", rate, "art/s", baseline=raw,
                   target=">= 1.6", on="ratio", note="baseline: raw readability-lxml, 1 core, same pages"))
    res.add(metric("crawl", "  CPU per article (crawl process + pool)", 1000 * run.cpu / run.articles_fetched,
                   "ms", baseline=1000 / raw, note="baseline: raw readability-lxml per page"))
    res.details["cold_crawl"] = {
        "articles": count, "fetched": run.articles_fetched, "crawl_s": run.crawl, "wall_s": run.wall,
        "fetch_span_s": run.span, "cpu_s": run.cpu, "rate": rate, "raw_readability_rate": raw,
        "raw_sample": raw_sample, "cli_output_tail": run.output[-300:],
    }


# -- time to appear ----------------------------------------------------------------------------------


def time_to_appear(res: SectionResult, tmp: Path, samples: int, poll: float = 5.0) -> None:
    """Publish at the origin, wait for the served feed to show it: on the in-process
    store, and on Redis, where the entry goes from the polling process through Redis to
    the serving one (version check each second, then a render)."""
    _time_to_appear(res, tmp, samples, poll, "memory", None)
    with tempfile.TemporaryDirectory(prefix="bench-appear-redis-") as rtmp, \
            redis_server(Path(rtmp)) as redis_url:
        if redis_url is None:
            res.notes.append("redis-server is not installed: time to appear on Redis not measured")
        else:
            _time_to_appear(res, tmp, samples, poll, "redis", redis_url)


def _time_to_appear(res: SectionResult, tmp: Path, samples: int, poll: float, store: str,
                    redis_url: str | None) -> None:
    with origin(feeds={"live": 20}) as site:
        cfg = service_config(free_port(), {"live": [_feed_source(site, "live")]},
                             redis_url=redis_url, defaults={"poll_interval": f"{poll:g}s"})
        with feedsvc_serve(tmp, cfg) as svc:
            url = svc.feed_url("live")
            _wait_for(lambda: entry_count(http_get(url)[2]) >= 20, 60, "initial 20 entries")
            times = []
            for _ in range(samples):
                new = site.add("live")
                started = time.monotonic()
                _wait_for(partial(_in_feed, url, new), poll + 60, f"{new} in the feed")
                times.append(time.monotonic() - started)
                log(f"crawl: [{store}] time to appear {times[-1]:.2f}s (poll interval {poll:g}s)")
                time.sleep(1.3)  # the next publication lands at another point of the poll cycle
    res.add(metric("crawl", f"[{store}] time to appear (poll {poll:g}s, worst of {samples})",
                   max(times), "s", target=f"<= {poll + 5:g}"))
    res.details[f"time_to_appear_{store}"] = {"poll_interval": poll, "seconds": times}


def _in_feed(feed_url: str, entry_url: str) -> bool:
    return entry_url.encode() in http_get(feed_url)[2]


def _wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


def run(quick: bool = False) -> SectionResult:
    """Politeness, cold crawl and time-to-appear."""
    res = SectionResult("crawl")
    with tempfile.TemporaryDirectory(prefix="bench-crawl-") as tmp:
        politeness(res, Path(tmp), quick)
        cold_crawl(res, Path(tmp), 200 if quick else 1000, raw_sample=60 if quick else 250)
        time_to_appear(res, Path(tmp), samples=1 if quick else 2)
    return res
