"""Section ``poll`` (issue #3 item 3): steady-state polling of unchanged sources.

``feedsvc serve`` polls N sources on the local origin; after the first round (200, empty
feed) every answer is a 304. Over one whole poll interval in that steady state, the CPU
seconds per second of the service (main process and pool workers, from /proc/PID/stat)
and its resident memory are measured.

The issue's scale is 10,000 sources (``--full``). The default run uses 2,000 sources
with the interval shortened in proportion so that the request rate stays the same as
``--full``'s: 33 polls/s, three times what 10,000 sources at the default 15 minutes
make, so the figure errs on the expensive side.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import (
    SectionResult,
    cpu_seconds,
    feedsvc_serve,
    free_port,
    log,
    metric,
    rss_bytes,
    service_config,
    tracebacks,
)
from bench.site import origin

RATE = 100 / 3  # polls per second in every mode
TOPICS = 10
MB = 1024 * 1024


def run(quick: bool = False, full: bool = False) -> SectionResult:
    """Measure CPU and RSS over one poll interval of all-304 polling."""
    res = SectionResult("poll")
    sources = 10_000 if full else 500 if quick else 2_000
    interval = sources / RATE
    with tempfile.TemporaryDirectory(prefix="bench-poll-") as tmp, origin() as site:
        topics = {
            f"t{t}": [{"url": site.poll_url(i), "kind": "feed"} for i in range(t, sources, TOPICS)]
            for t in range(TOPICS)
        }
        cfg = service_config(free_port(), topics, defaults={"poll_interval": f"{interval:.0f}s"})
        log(f"poll: {sources} sources every {interval:.0f}s ({RATE:.1f} polls/s)")
        with feedsvc_serve(Path(tmp), cfg) as svc:
            deadline = time.monotonic() + 120 + sources / 50
            while site.stats()["counts"].get("poll", 0) < sources:
                if time.monotonic() > deadline or svc.proc.poll() is not None:
                    raise RuntimeError(f"first polling round incomplete: {site.stats()['counts']}")
                time.sleep(0.5)
            time.sleep(2.0)  # the last polls' state writes
            log("poll: first round done; measuring one interval of 304s")
            pids = svc.pids()
            polls0 = site.stats()["counts"]["poll"]
            cpu0, t0 = cpu_seconds(pids), time.monotonic()
            rss_main, rss_tree = [], []
            while time.monotonic() - t0 < interval:
                time.sleep(1.0)
                pids = svc.pids()
                rss_main.append(rss_bytes([svc.pid]))
                rss_tree.append(rss_bytes(pids))
            cpu1, t1 = cpu_seconds(pids), time.monotonic()
            polls = site.stats()["counts"]["poll"] - polls0
            crashes = tracebacks(svc.log_path)
    core = (cpu1 - cpu0) / (t1 - t0)
    log(f"poll: {core:.3f} core, RSS {max(rss_tree) / MB:.0f} MB (main {max(rss_main) / MB:.0f} MB), "
        f"{polls} polls in {t1 - t0:.0f}s")
    scale = f"{sources} sources, {polls / (t1 - t0):.1f} polls/s"
    res.add(metric("poll", f"CPU, all-304 polling ({scale})", core, "core", target="< 0.25"))
    res.add(metric("poll", f"RSS max, service + pool ({sources} sources)", max(rss_tree) / MB, "MB",
                   target="< 300"))
    res.add(metric("poll", "  RSS max, main process only", max(rss_main) / MB, "MB", note="information"))
    res.add(metric("poll", "  CPU per 304 poll", 1000 * (cpu1 - cpu0) / max(polls, 1), "ms",
                   note="information"))
    res.add(metric("poll", "tracebacks in service log", crashes, "", target="<= 0"))
    res.details.update(sources=sources, interval_s=interval, window_s=t1 - t0, polls=polls,
                       cpu_s=cpu1 - cpu0,
                       rss_tree_mb=[r / MB for r in rss_tree[:: max(1, len(rss_tree) // 30)]])
    return res
