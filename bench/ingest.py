"""Section ``ingest`` (issue #3 items 2 and 3): feed latency while the service ingests.

``feedsvc serve`` (extract_workers = cores) cold-crawls a 1,000-article feed from the
local origin while 50 clients request its feed non-stop; the feed request p99 must stay
under 25 ms. The same load on the same service once the crawl is over is the baseline.
It runs twice: on the in-process store and on a private redis-server (the shipped
compose setup), whose process shares the same two cores.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import (
    BackgroundLoad,
    LoadResult,
    SectionResult,
    Service,
    feedsvc_serve,
    free_port,
    http_get,
    log,
    metric,
    redis_server,
    run_load,
    service_config,
    tracebacks,
)
from bench.site import origin

GZIP = {"Accept-Encoding": "gzip"}


def wait_ingested(svc: Service, target: int, timeout: float) -> tuple[float, float]:
    """Wait until ``target`` articles are stored; returns (stored, seconds it took).

    ``feedsvc_articles_stored`` grows when a source's poll ends, not per article, so there
    is no progress to watch on the way: only the timeout ends a stuck crawl.
    """
    started = time.monotonic()
    stored = 0.0
    while time.monotonic() - started < timeout and svc.proc.poll() is None:
        time.sleep(0.25)
        stored = svc.metric_total("feedsvc_articles_stored_total")
        if stored >= target:
            break
    return stored, time.monotonic() - started


def run(quick: bool = False) -> SectionResult:
    """p99 of feed requests during a cold crawl, and after it, on each store."""
    res = SectionResult("ingest")
    count = 300 if quick else 1000
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        _measure(res, "memory", None, count, quick, Path(tmp))
    with tempfile.TemporaryDirectory(prefix="bench-ingest-redis-") as tmp, \
            redis_server(Path(tmp)) as redis_url:
        if redis_url is None:
            res.notes.append("redis-server is not installed: the Redis run was skipped")
        else:
            _measure(res, "redis", redis_url, count, quick, Path(tmp))
    return res


def _measure(res: SectionResult, store: str, redis_url: str | None, count: int, quick: bool,
             tmp: Path) -> None:
    with origin(feeds={"big": count}) as site:
        cfg = service_config(free_port(), {"news": [{"url": site.feed_url("big"), "kind": "feed",
                                                     "max_articles": count}]},
                             redis_url=redis_url, defaults={"poll_interval": "1h", "per_host": 4})
        log(f"ingest[{store}]: 50 clients on the feed while the service cold-crawls {count} articles")
        with feedsvc_serve(tmp, cfg) as svc:
            url = svc.feed_url("news")
            # Feed readers ask for gzip; the full-text feed is ~0.4 MB plain.
            load = BackgroundLoad(url, connections=50, max_duration=300, headers=GZIP)
            stored, seconds = wait_ingested(svc, count, timeout=60 + count / 5)
            during = load.finish()
            if stored < count:
                res.notes.append(f"{store}: only {stored:.0f} of {count} articles stored "
                                 f"within {seconds:.0f}s")
            log(f"ingest[{store}]: {stored:.0f} stored in {seconds:.1f}s; during: "
                f"{during.rps:,.0f} req/s, p99 {during.p99_ms} ms")
            idle = run_load(url, connections=50, duration=3 if quick else 5, headers=GZIP)
            _, _, body = http_get(url)
            _, _, gz = http_get(url, GZIP)
            log(f"ingest[{store}]: after: {idle.rps:,.0f} req/s, p99 {idle.p99_ms} ms")
            crashes = tracebacks(svc.log_path)
    res.add(metric("ingest", f"[{store}] feed p99, 50 clients, during {count}-article crawl",
                   during.p99_ms, "ms", baseline=idle.p99_ms, target="< 25",
                   note="baseline: same load after the crawl"))
    res.add(metric("ingest", "  feed p50 during crawl", during.p50_ms, "ms", baseline=idle.p50_ms))
    res.add(metric("ingest", "  feed max latency during crawl", during.max_ms, "ms", baseline=idle.max_ms))
    res.add(metric("ingest", "  feed req/s during crawl", during.rps, "req/s", baseline=idle.rps))
    res.add(metric("ingest", "  articles/s ingested under load", stored / max(seconds, 1e-9), "art/s"))
    res.add(metric("ingest", f"[{store}] failed requests + tracebacks", _failures(during, idle) + crashes,
                   "", target="<= 0"))
    res.details[store] = dict(
        articles=count, stored=stored, ingest_s=seconds, feed_bytes=len(body),
        feed_gzip_bytes=len(gz), raw_during=during.raw,
        during={k: v for k, v in during.__dict__.items() if k != "raw"},
        after={k: v for k, v in idle.__dict__.items() if k != "raw"})


def _failures(*runs: LoadResult) -> int:
    return sum(r.errors + r.non_2xx_3xx for r in runs)
