"""Shared pytest plugins and hooks."""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
from collections.abc import Iterator

import pytest

pytest_plugins = ["tests.redis_fixtures"]

# Seconds before pytest-timeout's own limit at which the pending asyncio tasks are
# printed. pytest-timeout dumps threads only, and a hung async test shows nothing but
# its event loop waiting in select(); the tasks' stacks say which await never returned.
_DUMP_AHEAD = 3.0


def _dump_pending_tasks() -> None:
    # Runs on a timer thread while the loop thread sits in select(): reading the
    # suspended coroutines' frames is safe enough for a diagnostic. gc finds tasks of
    # every loop without reaching into asyncio's private registry.
    tasks = [o for o in gc.get_objects() if isinstance(o, asyncio.Task) and not o.done()]
    print(f"\n+++ {len(tasks)} pending asyncio tasks before the timeout +++", file=sys.stderr)
    for task in tasks:
        task.print_stack(limit=12, file=sys.stderr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    marker = item.get_closest_marker("timeout")
    limit = float(marker.args[0]) if marker and marker.args else float(
        item.config.getini("timeout") or 0
    )
    timer = None
    if limit > _DUMP_AHEAD:
        timer = threading.Timer(limit - _DUMP_AHEAD, _dump_pending_tasks)
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.cancel()
