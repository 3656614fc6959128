"""The Prometheus metrics' own rules (issue #3 item 5)."""

from __future__ import annotations

from feedsvc.metrics import MAX_FETCH_HOSTS, OTHER_HOSTS, Metrics


def _hosts(metrics: Metrics) -> set[str]:
    return {sample.labels["host"] for family in metrics.registry.collect()
            if family.name == "feedsvc_fetches" for sample in family.samples
            if sample.name == "feedsvc_fetches_total"}


def test_fetch_host_labels_are_bounded() -> None:
    """A feed linking a new host in every item, poll after poll, must not grow /metrics
    without bound: past MAX_FETCH_HOSTS hosts the rest count as "other", while the
    source's own host keeps its label (security review, session 6)."""
    metrics = Metrics()
    for n in range(MAX_FETCH_HOSTS + 300):
        metrics.count_fetch("ok", f"h{n}.example", source_host="feeds.example")
    metrics.count_fetch("ok", "feeds.example", source_host="feeds.example")
    metrics.count_fetch("HTTPStatusError", "h0.example", source_host="feeds.example")
    hosts = _hosts(metrics)
    assert len(hosts) == MAX_FETCH_HOSTS + 2
    assert {"feeds.example", "h0.example", OTHER_HOSTS} <= hosts
    assert metrics.fetches.labels("ok", OTHER_HOSTS)._value.get() == 300
