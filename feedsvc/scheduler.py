"""Schedule stage: decides when each source is due, and runs the polls in the background.

Timing follows a polite poller (Miniflux ``model/feed.go`` ``ScheduleNextCheck``): the
configured interval, raised to any floor the origin asked for (Retry-After, RFC 9110
§10.2.3; Cache-Control max-age, RFC 9111 §5.2.2.1), and exponential backoff for a
failing source. The scheduler knows *when*; the pipeline knows *what*.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence

from feedsvc.config import SourceConfig
from feedsvc.errors import StoreError
from feedsvc.models import FetchState
from feedsvc.store import Store

log = logging.getLogger("feedsvc.scheduler")

MAX_BACKOFF = 24 * 3600.0
# Cap on honoured Cache-Control/Retry-After floors: an origin cannot park us for a week.
MAX_FLOOR = 24 * 3600.0
# Sources due at start are polled at once, spread over this many seconds so a large
# config does not fire every request in the same instant (issue #2 item 2).
START_SPREAD = 5.0


def next_after_success(now: float, interval: float, floor: float | None) -> float:
    """When to poll again after a good fetch (or a 304)."""
    return now + max(interval, min(floor or 0.0, MAX_FLOOR))


def next_after_failure(
    now: float, interval: float, error_count: int, retry_after: float | None
) -> float:
    """When to retry a failing source: doubling backoff from a minute, capped at a day
    and at nothing less than Retry-After; jittered so failing sources desynchronise."""
    # The exponent is bounded first: 2.0 ** 1024 overflows, and a link that fails every
    # poll reaches a thousand errors within weeks. 2 ** 20 minutes is far past any cap.
    doublings = min(max(error_count - 1, 0), 20)
    backoff = min(60.0 * 2.0**doublings, MAX_BACKOFF, max(interval, 60.0) * 16)
    backoff *= random.uniform(0.9, 1.1)
    return now + max(backoff, min(retry_after or 0.0, MAX_FLOOR))


def start_delay(
    index: int, count: int, state: FetchState | None, now: float, *, changed: bool = False,
    interval: float | None = None,
) -> float:
    """Delay before a source's first poll after a start or a config reload.

    A source keeps its stored due time (its interval, a Retry-After or max-age floor, a
    backoff): politeness survives restarts and reloads, and a service restarted often
    (deploys, a crash loop) does not poll every origin each time; a healthy source waits
    at most its ``interval``, as configured now. A source never polled,
    overdue, or whose discovery config ``changed`` since its state was stored (the user
    wants to see the new config's result) is polled at once, spread over
    :data:`START_SPREAD` seconds; a failing one still waits out its backoff.
    """
    spread = index * min(START_SPREAD / max(count, 1), 0.5)
    if state is None or state.next_due <= now:
        return spread
    if state.error_count > 0:
        return max(spread, state.next_due - now)
    if changed:
        return spread
    # A healthy source waits no longer than its ``interval`` now: one lowered in the
    # file (6h -> 15m) applies at once. This can cut short an origin's max-age floor
    # once, which costs it one conditional GET.
    wait = state.next_due - now if interval is None else min(state.next_due - now, interval)
    return max(spread, wait)


RefreshFn = Callable[[SourceConfig], Awaitable[float]]


class Scheduler:
    """One background task per source: poll, sleep until due, repeat.

    ``refresh`` polls a source and returns its next due time (epoch seconds); it must
    not raise for an ordinary source failure (the pipeline records those).
    """

    def __init__(
        self,
        sources: Sequence[SourceConfig],
        refresh: RefreshFn,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sources = list(sources)
        self._refresh = refresh
        self._store = store
        self._clock = clock
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        now = self._clock()
        for i, source in enumerate(self._sources):
            try:
                state = await self._store.get_state(source.state_key)
            except StoreError:
                state = None
            changed = state is not None and state.discovery != source.discovery_key()
            delay = start_delay(i, len(self._sources), state, now, changed=changed,
                                interval=source.poll_interval)
            self._tasks.append(
                asyncio.create_task(self._loop(source, delay), name=f"poll {source.url}")
            )

    async def _loop(self, source: SourceConfig, delay: float) -> None:
        await asyncio.sleep(delay)
        while True:
            try:
                due = await self._refresh(source)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug in one source's poll must not end its schedule
                log.exception("poll of %s crashed; retrying in one interval", source.url)
                due = self._clock() + source.poll_interval
            await asyncio.sleep(max(due - self._clock(), 1.0))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
