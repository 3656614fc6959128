"""The schedule stage's timing rules (Miniflux-style): interval, origin floors, backoff."""

from __future__ import annotations

from dataclasses import replace

import pytest

from feedsvc.config import SourceConfig
from feedsvc.models import FetchState
from feedsvc.scheduler import (
    MAX_FLOOR,
    Scheduler,
    next_after_failure,
    next_after_success,
    start_delay,
)

NOW = 1_000_000.0


def test_success_waits_the_interval_or_the_origins_floor() -> None:
    assert next_after_success(NOW, 900, None) == NOW + 900
    assert next_after_success(NOW, 900, 3600) == NOW + 3600  # max-age / Retry-After
    assert next_after_success(NOW, 900, 60) == NOW + 900  # a floor never shortens it
    assert next_after_success(NOW, 900, 10 * MAX_FLOOR) == NOW + MAX_FLOOR


@pytest.mark.parametrize(("errors", "base"), [(1, 60), (2, 120), (3, 240), (5, 960)])
def test_failure_backoff_doubles_from_a_minute(errors: int, base: float) -> None:
    delay = next_after_failure(NOW, 60, errors, None) - NOW
    assert base * 0.9 <= delay <= base * 1.1  # jittered


def test_failure_backoff_is_capped_and_honours_retry_after() -> None:
    # capped at 16 intervals (and a day), however long the source has been failing
    assert 60 * 16 * 0.9 <= next_after_failure(NOW, 60, 40, None) - NOW <= 60 * 16 * 1.1
    assert 86400 * 0.9 <= next_after_failure(NOW, 3 * 3600, 40, None) - NOW <= 86400 * 1.1
    assert next_after_failure(NOW, 60, 1, 900) - NOW == 900  # Retry-After wins


@pytest.mark.parametrize("errors", [1024, 1025, 10**6])
def test_failure_backoff_survives_any_error_count(errors: int) -> None:
    # 2.0 ** 1024 overflows a float: a link failing every poll for weeks must still get
    # its capped backoff, not an OverflowError that ends the whole poll.
    assert 60 * 16 * 0.9 <= next_after_failure(NOW, 60, errors, None) - NOW <= 60 * 16 * 1.1


def test_start_spreads_sources_and_keeps_due_times_across_restarts() -> None:
    assert start_delay(0, 10, None, NOW) == 0
    assert 0 < start_delay(9, 10, None, NOW) <= 5
    failing = FetchState(error_count=2, next_due=NOW + 600)
    assert start_delay(0, 1, failing, NOW) == 600
    assert start_delay(0, 1, failing, NOW, changed=True) == 600  # backoff holds anyway
    healthy = FetchState(next_due=NOW + 600)
    assert start_delay(0, 1, healthy, NOW) == 600  # not polled again at each restart
    assert start_delay(0, 1, healthy, NOW, changed=True) == 0  # new config: see it now
    assert start_delay(0, 1, FetchState(next_due=NOW - 5), NOW) == 0  # overdue
    # an interval lowered since (6h -> 15m) applies at once; a backoff does not shrink
    assert start_delay(0, 1, FetchState(next_due=NOW + 6 * 3600), NOW, interval=900) == 900
    assert start_delay(0, 1, replace(failing, next_due=NOW + 6 * 3600), NOW,
                       interval=900) == 6 * 3600


async def test_a_restart_keeps_due_times_unless_the_source_config_changed() -> None:
    """The real scheduler on a store holding each source's state: a source polled
    moments ago under the same config waits for its due time; one whose discovery
    config changed since (here: its follow pattern) is polled at once."""
    import asyncio

    from feedsvc.store.memory import MemoryStore
    from tests.helpers import make_settings

    settings = make_settings({"t": {"sources": [
        {"url": "http://a.test/same.html"},
        {"url": "http://a.test/changed.html", "follow": "/reports/"},
        # due in 6 hours under an older interval; now it is polled every half second
        {"url": "http://a.test/faster.html", "poll_interval": 0.5}]}})
    same, changed, faster = settings.topics["t"].sources
    store = MemoryStore()
    due = NOW + 600
    await store.put_state(same.state_key, FetchState(next_due=due, discovery=same.discovery_key()))
    await store.put_state(changed.state_key, FetchState(next_due=due, discovery="an older config"))
    await store.put_state(faster.state_key, FetchState(next_due=NOW + 6 * 3600,
                                                       discovery=faster.discovery_key()))
    polled: list[str] = []

    async def refresh(source: SourceConfig) -> float:
        polled.append(source.url)
        return NOW + 3600

    scheduler = Scheduler([same, changed, faster], refresh, store, clock=lambda: NOW)
    await scheduler.start()
    await asyncio.sleep(1.5)  # the spread for three sources is one second
    await scheduler.stop()
    assert polled == [changed.url, faster.url]
