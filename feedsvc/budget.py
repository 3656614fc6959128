"""A time budget for CPU work in the pool's worker processes: a hostile page (deeply
nested or unclosed markup, a feed of millions of tags) must cost a worker seconds, not
minutes, on every poll (issue #4 item 7 for extraction; discovery since the security
review of session 6)."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType


class OverBudget(BaseException):
    """Raised from the SIGALRM handler; BaseException so library code cannot swallow it."""


@contextlib.contextmanager
def within(seconds: float | None) -> Iterator[None]:
    """Raise :class:`OverBudget` in the block once ``seconds`` have passed."""
    # SIGALRM can only be handled in the main thread; the pipeline's worker processes run
    # extraction there. Elsewhere (threads, tests' event loops) the budget is not enforced.
    if not seconds or seconds <= 0 or threading.current_thread() is not threading.main_thread() \
            or not hasattr(signal, "setitimer"):
        yield
        return

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise OverBudget

    previous = signal.signal(signal.SIGALRM, on_alarm)
    outer_delay, outer_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_delay > 0:
            # Someone else's alarm (e.g. pytest-timeout) was pending: re-arm what is left.
            left = max(outer_delay - (time.monotonic() - started), 0.001)
            signal.setitimer(signal.ITIMER_REAL, left, outer_interval)
