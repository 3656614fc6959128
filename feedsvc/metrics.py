"""Prometheus metrics (issue #3 item 5), on a registry owned by the app, not a global one,
so several apps (tests, workers) never collide.

``serve`` on Redis runs one polling process and N serving processes: the poller's
fetch and extraction metrics and every server's request counts live in different
processes. prometheus-client's multiprocess mode (values in per-process files under
``$PROMETHEUS_MULTIPROC_DIR``, which the parent sets before starting anything) lets any
serving process answer ``/metrics`` for all of them.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter as Tally
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE_LATEST", "MULTIPROC_ENV", "Metrics"]

# prometheus-client reads it when first imported: set it before importing this module.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# At most this many hosts get a label of their own in feedsvc_fetches besides the
# sources' own hosts; the rest count as "other". A feed may link articles on any host,
# and a hostile one a new host each poll: series are never removed, so each new label
# would grow /metrics (and Prometheus) for good (security review, session 6).
MAX_FETCH_HOSTS = 200
OTHER_HOSTS = "other"

log = logging.getLogger("feedsvc.store")


class Metrics:
    """Every metric feedsvc exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.fetches = Counter(
            "feedsvc_fetches", "Origin fetches by outcome and host", ["outcome", "host"], registry=r
        )
        self.fetch_seconds = Histogram(
            "feedsvc_fetch_seconds", "Origin fetch latency", registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 60),
        )
        self.extract_seconds = Histogram(
            "feedsvc_extract_seconds", "Extraction latency per article (pool round trip)",
            registry=r, buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        )
        self.feed_requests = Counter(
            "feedsvc_feed_requests", "Feed requests by HTTP status", ["status"], registry=r
        )
        self.cache_hits = Counter(
            "feedsvc_feed_cache_hits", "Feed requests answered from rendered bytes in memory",
            registry=r,
        )
        self.renders = Counter("feedsvc_feed_renders", "Feeds rendered", ["topic"], registry=r)
        self.articles_stored = Counter(
            "feedsvc_articles_stored", "New entries stored, per topic", ["topic"], registry=r
        )
        # Consecutive failures per source: the stored FetchState.error_count (what `/`
        # shows), read from the store when /metrics is scraped (web.refresh_source_errors),
        # so every process and replica on one Redis exports the same values, a store
        # outage counts as no source's failure, and a source dropped by a reload loses
        # its series at once (no per-process gauge file to linger in multiprocess mode).
        self.source_errors = SourceErrors()
        r.register(self.source_errors)
        # Across processes: the store counts as down when any live process last saw it down.
        self.store_up = Gauge("feedsvc_store_up", "1 when the store answered its last check",
                              registry=r, multiprocess_mode="livemin")
        self.store_up.set(1)
        self._store_down_since: float | None = None  # monotonic; None while it answers
        # Feed requests by status, counted as plain ints on the hot path (a Prometheus
        # labelled counter costs more than the rest of a cached-feed request) and folded
        # into feed_requests when /metrics is scraped.
        self.feed_statuses: Tally[int] = Tally()
        self._folded: Tally[int] = Tally()
        self._fetch_hosts: set[str] = set()  # labelled in feedsvc_fetches, sources' aside

    def count_fetch(self, outcome: str, host: str, *, source_host: str) -> None:
        """Count a fetch of ``host`` for a source on ``source_host``: under its own label
        when it is the source's host or one of the first :data:`MAX_FETCH_HOSTS` others,
        else under ``other``."""
        if host != source_host and host not in self._fetch_hosts:
            if len(self._fetch_hosts) >= MAX_FETCH_HOSTS:
                host = OTHER_HOSTS
            else:
                self._fetch_hosts.add(host)
        self.fetches.labels(outcome, host).inc()

    def store_checked(self, error: Exception | None) -> None:
        """Record a check of the store (None: it answered): ``feedsvc_store_up``, and one
        log line per change, a warning when it stops answering, an info when it answers
        again. Every process checks every 2 s (web.refresh_metrics), so each one logs an
        outage once, however many requests and polls fail meanwhile."""
        if error is None:
            self.store_up.set(1)
            if self._store_down_since is not None:
                log.info("store reachable again (unreachable for %.0fs)",
                         time.monotonic() - self._store_down_since)
                self._store_down_since = None
        else:
            self.store_up.set(0)
            if self._store_down_since is None:
                log.warning("store unreachable: %s", error)
                self._store_down_since = time.monotonic()

    def fold(self) -> None:
        """Move the hot path's plain counts into the Prometheus counters."""
        for status, total in list(self.feed_statuses.items()):
            delta = total - self._folded[status]
            if delta:
                self.feed_requests.labels(str(status)).inc(delta)
                self._folded[status] = total

    def render(self) -> bytes:
        """The exposition text: this app's registry, or every process's values in
        multiprocess mode."""
        path = os.environ.get(MULTIPROC_ENV)
        if path:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path)  # type: ignore[no-untyped-call]
            registry.register(self.source_errors)
            return generate_latest(registry)
        return generate_latest(self.registry)


class SourceErrors(Collector):
    """``feedsvc_source_errors{topic,source}``: the values last read from the store."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}  # (topic, redacted URL) -> failures

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "feedsvc_source_errors",
            "Consecutive failures of each source (its stored fetch state)",
            labels=["topic", "source"],
        )
        for (topic, source), count in sorted(self.counts.items()):
            family.add_metric([topic, source], count)
        yield family
