"""The parent watch shared by pool workers and serving processes."""

from __future__ import annotations

import os
import threading

from feedsvc.parent_watch import watch_parent


def test_a_gone_parent_is_reported_once() -> None:
    called = threading.Event()
    calls = []

    def on_gone() -> None:
        calls.append(1)
        called.set()

    # a pid that is not our parent: as if ours had died and we had been re-parented
    stop = watch_parent(os.getpid(), on_gone, interval=0.01)
    assert called.wait(5)
    stop.wait(0.1)
    assert calls == [1]


def test_a_living_parent_is_left_alone_and_the_watch_can_stop() -> None:
    called = threading.Event()
    stop = watch_parent(os.getppid(), called.set, interval=0.01)
    assert not called.wait(0.1)
    stop.set()
    gone = watch_parent(os.getpid(), called.set, interval=0.05)
    gone.set()  # stopped before its first check
    assert not called.wait(0.2)
