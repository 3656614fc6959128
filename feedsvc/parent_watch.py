"""A child process that follows its parent out: when the process that started it is
gone, the child is told, instead of running on as an orphan.

Used by the CPU pool's workers (which exit at once) and by the serving processes
beside the poller (which stop gracefully, as on SIGTERM). Polled: nothing notifies a
process of its parent's death short of Linux's prctl(PR_SET_PDEATHSIG), which the
standard library does not expose.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

# How often a child checks that the process that started it is still there.
PARENT_CHECK_INTERVAL = 1.0


def watch_parent(
    parent: int, on_gone: Callable[[], None], *, interval: float = PARENT_CHECK_INTERVAL,
) -> threading.Event:
    """Call ``on_gone()`` once, from a daemon thread, when ``parent`` is no longer this
    process's parent; setting the returned event stops the watch.

    ``parent`` is the pid the parent passed down, not a ``getppid()`` taken once the
    child is up: had the parent died before the child asked, the child would read its
    new parent's pid (init, a subreaper) and never notice. A thread, not an event-loop
    task, so that a process blocked elsewhere (a pool worker waiting on its task queue,
    whose write end it holds itself and so never sees EOF) still notices.
    """
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(interval):
            if os.getppid() != parent:
                on_gone()
                return

    threading.Thread(target=watch, name="parent watch", daemon=True).start()
    return stop
