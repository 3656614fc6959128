"""Section ``soak`` (issue #3 item 6), only with ``--soak``: load held for 10 minutes.

100 clients request the feed non-stop for 10 minutes (1 with ``--quick``) while
``feedsvc serve`` keeps crawling: the origin publishes one new article per second and
the source is polled every 5 s, so extraction, storing (a private Redis when installed)
and re-rendering never stop. Pass: zero 5xx, zero failed requests, no traceback, and
resident memory after the warm-up grows by less than 10%.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import (
    BackgroundLoad,
    SectionResult,
    Service,
    feedsvc_serve,
    free_port,
    http_get,
    log,
    metric,
    redis_server,
    rss_bytes,
    service_config,
    tracebacks,
)
from bench.site import origin

MB = 1024 * 1024
SAMPLE_EVERY = 5.0


def run(quick: bool = False) -> SectionResult:
    """The soak: errors, and RSS growth after warm-up."""
    res = SectionResult("soak")
    duration = 60.0 if quick else 600.0
    warmup = 15.0 if quick else 60.0
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp, redis_server(Path(tmp)) as redis_url, \
            origin(feeds={"live": 50}, grow={"live": 1.0}) as site:
        cfg = service_config(free_port(), {"live": [{"url": site.feed_url("live"), "kind": "feed"}]},
                             redis_url=redis_url, defaults={"poll_interval": "5s"})
        store = "redis" if redis_url else "in-process"
        log(f"soak: 100 clients for {duration:.0f}s, crawl running (store: {store})")
        with feedsvc_serve(Path(tmp), cfg) as svc:
            load = BackgroundLoad(svc.feed_url("live"), connections=100, max_duration=duration,
                                  headers={"Accept-Encoding": "gzip"})
            started = time.monotonic()
            samples: list[tuple[float, int]] = []
            while time.monotonic() - started < duration:
                time.sleep(SAMPLE_EVERY)
                samples.append((time.monotonic() - started, rss_bytes(svc.pids())))
                if svc.proc.poll() is not None:
                    break
            result = load.finish()
            stored = svc.metric_total("feedsvc_articles_stored_total")
            five_xx = sum(v for k, v in _statuses(svc).items() if k.startswith("5"))
            crashes = tracebacks(svc.log_path)
    after = [rss for t, rss in samples if t >= warmup]
    growth = (after[-1] - after[0]) / after[0] * 100 if len(after) >= 2 else None
    log(f"soak: {result.requests:,} requests, {result.errors} errors, {result.non_2xx_3xx} non-2xx/3xx, "
        f"RSS growth {growth}%, {stored:.0f} articles stored")
    res.add(metric("soak", f"requests in {duration:.0f}s at 100 clients", result.requests, ""))
    res.add(metric("soak", "failed requests (socket errors + non-2xx/3xx)",
                   result.errors + result.non_2xx_3xx, "", target="<= 0"))
    res.add(metric("soak", "5xx answers (service's own count)", five_xx, "", target="<= 0"))
    res.add(metric("soak", "tracebacks in service log", crashes, "", target="<= 0"))
    res.add(metric("soak", f"RSS growth after {warmup:.0f}s warm-up", growth, "%", target="< 10"))
    res.add(metric("soak", "  feed p99 under soak", result.p99_ms, "ms"))
    res.add(metric("soak", "  articles stored during soak", stored, ""))
    res.details.update(duration_s=duration, warmup_s=warmup, rss_mb=[(round(t), r / MB) for t, r in samples],
                       load={k: v for k, v in result.__dict__.items() if k != "raw"})
    return res


def _statuses(svc: Service) -> dict[str, float]:
    """Feed answers by status from the service's ``/metrics``."""
    out: dict[str, float] = {}
    for line in http_get(f"{svc.base_url}/metrics")[2].decode().splitlines():
        if line.startswith("feedsvc_feed_requests_total{"):
            status = line.split('status="', 1)[1].split('"', 1)[0]
            out[status] = out.get(status, 0.0) + float(line.rsplit(" ", 1)[1])
    return out
