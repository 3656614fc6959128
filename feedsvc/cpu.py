"""The CPU pool: CPU-bound work (parsing, extraction, rendering) runs here, never on
the event loop.

A ``ProcessPoolExecutor`` (one worker per core by default, issue #3 item 2) so that
work scales past the GIL. Workers start with the ``spawn`` method: forking a process
that runs an event loop and holds sockets is unsafe (``crawl --once`` forks its pool
first thing, before either exists: ``fork_now``). The pool knows nothing of what it
runs: a stage passes it a top-level function (pickled by name) and that function's
arguments; any per-worker state is the stage's own (see :mod:`feedsvc.extractor`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from multiprocessing import get_context
from typing import ParamSpec, TypeVar

from feedsvc.logs import setup_worker_logging
from feedsvc.parent_watch import watch_parent

P = ParamSpec("P")
T = TypeVar("T")

def _exit_now() -> None:
    os._exit(0)  # nothing to clean up: the process that wanted the results is gone


def _init_worker(niceness: int, idle: bool = False, parent: int | None = None) -> None:
    # A spawned worker starts with logging unconfigured: a site rule's warning would
    # reach stderr as bare text in the middle of JSON logs.
    setup_worker_logging()
    if parent is not None:
        # Exit once the pool's owner is gone: a worker blocks reading its task queue,
        # whose write end it holds itself, so it would never see EOF; a serving process
        # killed with SIGKILL (and replaced by the poller) would leave its pool running
        # forever.
        watch_parent(parent, _exit_now)
    if niceness:
        # Ingest yields the CPU to the process serving feeds: on a busy machine the
        # feed request p99 matters more than how fast a crawl finishes (issue #3 item 2).
        os.nice(niceness)
    if idle and hasattr(os, "sched_setscheduler"):
        # Linux's SCHED_IDLE: run only when nothing else wants the core, and be
        # preempted at once when something does; a niced task still takes a time
        # slice from the serving loop when both are runnable. Measured in the ingest
        # bench on Redis: feed p99 during a cold crawl 22-26 ms against 32-34 ms at
        # nice 10 alone, for a crawl ~20% slower. Lowering one's own policy needs no
        # privilege; where it is refused, the niceness above still applies.
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def _kill_workers(executor: Executor) -> None:
    """Kill whatever is left of a broken pool's workers. CPython's manager thread
    terminates them itself, but a worker the pool spawned after it did (a submit racing
    the crash, before the pool is marked broken) waits for work for ever, and the manager
    thread, joining it, with it: a process and a thread leaked per crash, and the
    interpreter's exit hung on them. By the time a call sees BrokenProcessPool the pool
    is marked broken and spawns no more. ``_processes`` is private, but the only list of
    them (Python 3.14 adds ``kill_workers`` for this)."""
    for proc in list((getattr(executor, "_processes", None) or {}).values()):
        with contextlib.suppress(OSError, ValueError):  # gone already, or closed
            proc.kill()


class CpuPool:
    """Runs CPU-bound functions in worker processes and awaits them from the loop."""

    def __init__(
        self,
        workers: int = 0,
        *,
        niceness: int = 0,
        idle: bool = False,
        fork_now: bool = False,
    ) -> None:
        """``fork_now`` starts every worker at once by forking this process, which has
        the parsers imported already: milliseconds instead of the few hundred a spawned
        interpreter needs to import them. Only safe before any thread or event loop
        exists (``crawl --once`` creates its pool first thing); replacement pools after a
        crash are spawned."""
        self.workers = workers or os.cpu_count() or 1
        self._args = (niceness, idle, os.getpid())
        self._executor: Executor = self._new_executor("fork" if fork_now else "spawn")
        if fork_now:
            # The fork context starts all workers on the first submit; wait for them.
            for _ in range(self.workers):
                self._executor.submit(os.getpid).result()

    def _new_executor(self, method: str = "spawn") -> Executor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=get_context(method),
            initializer=_init_worker,
            initargs=self._args,
        )

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(*args, **kwargs)`` in a worker; a crashed pool is replaced once."""
        call = partial(fn, *args, **kwargs)
        executor = self._executor
        try:
            future = executor.submit(call)
        except Exception:
            # The pool broke while this call was being submitted: CPython's manager
            # thread marks it broken and closes its pipes without the lock submit()
            # holds, so a submit already past that check spawns a worker on closed
            # pipes ("bad value(s) in fds_to_keep", a ValueError). Or another call has
            # replaced the pool since (shut down: RuntimeError). Either way, as for a
            # call that failed with it; any other error is this call's own.
            if executor is self._executor and not getattr(executor, "_broken", False):
                raise
        else:
            try:
                return await asyncio.wrap_future(future)
            except BrokenProcessPool:
                pass
        self._replace(executor)
        return await asyncio.wrap_future(self._executor.submit(call))

    def _replace(self, executor: Executor) -> None:
        """A worker of ``executor`` died (OOM, segfault in a C parser): start a fresh pool
        so one hostile page cannot stop ingestion for good. Only the first call to see
        this pool broken replaces it: the others in flight with it would each replace the
        fresh one in turn, cancelling what it runs."""
        if self._executor is executor:
            _kill_workers(executor)  # before shutdown, which forgets them
            executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
