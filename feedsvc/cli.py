"""Command line: ``feedsvc serve | crawl --once | extract | check-config``.

Exit codes: 0 success; 1 the work failed (every source failed, extraction failed);
2 bad usage or bad configuration (one line on stderr naming file, key and problem).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import multiprocessing
import multiprocessing.process
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import yaml

from feedsvc import __version__
from feedsvc.config import Settings, dump_settings, load_config
from feedsvc.errors import ConfigError, FeedsvcError, ListenError, StoreError
from feedsvc.logs import set_role, setup_logging
from feedsvc.parent_watch import watch_parent
from feedsvc.redact import redact_url

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from aiohttp import web

    from feedsvc.cpu import CpuPool
    from feedsvc.pipeline import SourceReport
    from feedsvc.store import Store

log = logging.getLogger("feedsvc")
# A serving process that exits is started again, unless this many in a row lived
# less than WORKER_MIN_LIFETIME seconds each (then something is wrong beyond a crash).
WORKER_QUICK_EXITS = 3
WORKER_MIN_LIFETIME = 10.0
# On SIGTERM, requests in flight get this long to finish: well inside the 10 s a
# container engine waits before SIGKILL.
SHUTDOWN_TIMEOUT = 5.0
# A connection that has not sent a whole request this long after it opened, or after
# its last answer, is closed. aiohttp's own default when an AppRunner is used directly
# is an hour: 300 connections that sent nothing (or half a request, a byte at a time)
# held the server's sockets for as long as the client liked (security review).
IDLE_TIMEOUT = 15.0
# The temporary PROMETHEUS_MULTIPROC_DIR of a serve process: this, its pid, "-", a
# random suffix (tempfile.gettempdir()), so one left by a process killed with SIGKILL
# can be recognised as stale and removed by the next start.
METRICS_DIR_PREFIX = "feedsvc-metrics-"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="feedsvc", description="Clean full-text Atom feeds.")
    p.add_argument("--version", action="version", version=f"feedsvc {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def config_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("-c", "--config", help="YAML file (default: $FEEDSVC_CONFIG or config/feeds.yaml)")
        sp.add_argument("--log-format", choices=["text", "json"], help="overrides service.log_format")
        sp.add_argument("--log-level", default="INFO", type=str.upper,
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="default: INFO")

    s = sub.add_parser("serve", help="run the poller and the HTTP server")
    config_arg(s)
    s.add_argument("--no-poll", action="store_true", help="serve only; do not poll sources")
    s.add_argument("--workers", type=int, default=1,
                   help="serving processes sharing the port, beside one polling process "
                        "(needs Redis; without it one process does both)")

    c = sub.add_parser("crawl", help="poll sources and store what they yield")
    config_arg(c)
    c.add_argument("--once", action="store_true", required=True, help="poll every source once and exit")
    c.add_argument("--topic", action="append", help="only this topic (repeatable)")

    e = sub.add_parser("extract", help="show what the extractor keeps of one page")
    e.add_argument("url", nargs="?", help="page URL to fetch")
    e.add_argument("--file", help="read the page from this file instead of fetching it")
    e.add_argument("--url", dest="base_url", help="the page's URL when using --file")
    e.add_argument("--html", action="store_true", help="print the cleaned HTML, not text")
    e.add_argument("--json", action="store_true", help="print the whole result as JSON")
    e.add_argument("--explain", action="store_true", help="show which rule or heuristic produced each part")
    e.add_argument("-c", "--config",
                   help="take site rules and user agent from this YAML file (default: "
                        "$FEEDSVC_CONFIG, or config/feeds.yaml when present)")
    e.add_argument("--sites-dir", help="site rules directory (default: the config's sites_dir)")
    e.add_argument("--user-agent", default=None, help="default: the config's user_agent")

    k = sub.add_parser("check-config", help="validate and print the resolved configuration")
    config_arg(k)
    return p


def entry() -> NoReturn:
    """The console entry point: :func:`main`, then exit without the interpreter's teardown.

    Every resource ``main`` opens (store, process pools, sockets) is closed before it
    returns; what remains is the interpreter unloading lxml, aiohttp, pydantic and the
    rest, ~65 ms: a seventh of a ``crawl --once`` of a 50-item feed at per_host 8
    (issue #3 item 3). Log handlers and the standard streams are flushed first.
    """
    code = main()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        # a closed pipe (`| head`): nothing more can be said
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "extract":
            return _extract(args)
        settings = load_config(args.config)
        setup_logging(args.log_format or settings.log_format, args.log_level)
        if args.command == "check-config":
            sys.stdout.write(f"# {settings.path}, resolved: every default applied, secrets "
                             "redacted\n")
            sys.stdout.write(yaml.safe_dump(dump_settings(settings), sort_keys=False,
                                            allow_unicode=True))
            return 0
        if args.command == "crawl":
            set_role("crawl")
            unknown = [t for t in args.topic or [] if t not in settings.topics]
            if unknown:
                raise ConfigError(f"{settings.path}: no such topic: {', '.join(unknown)}")
            import feedsvc.pipeline  # noqa: F401  (forked workers inherit the parsers)
            from feedsvc.cpu import CpuPool

            # Created before the event loop, so its workers can be forked (fast start).
            cpu = CpuPool(settings.extract_workers, fork_now=True)
            try:
                return asyncio.run(_crawl(settings, args.topic, cpu))
            finally:
                cpu.close()
        if args.workers < 1:
            raise ConfigError("--workers must be at least 1")
        if args.workers > 1 and not settings.redis_url:
            raise ConfigError(
                f"{settings.path}: --workers {args.workers} needs service.redis_url "
                "(processes share articles through Redis; the in-process store is per process)"
            )
        return _serve(settings, poll=not args.no_poll, workers=args.workers,
                      log_format=args.log_format or settings.log_format, log_level=args.log_level)
    except ConfigError as exc:
        print(f"feedsvc: config error: {exc}", file=sys.stderr)
        return 2
    except ListenError as exc:
        print(f"feedsvc: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _serve(
    settings: Settings, *, poll: bool, workers: int = 1, log_format: str = "text",
    log_level: str = "INFO",
) -> int:
    """Run the service. On the in-process store: one process polls and serves. On Redis:
    ``workers`` processes serve on one port (SO_REUSEPORT, the kernel spreads
    connections) and this process only polls, so fetching and parsing a crawl never
    shares an event loop (or a core's time slices) with feed requests: measured in the
    ingest bench, feed p99 during a 1,000-article crawl fell from 28-30 ms to 15-23 ms
    (issue #3 items 1 and 2)."""
    if not settings.redis_url:
        set_role("main")  # polls and serves
        _run_server(settings, poll=poll, reuse_port=False)
        return 0
    set_role("poller")
    # The serving processes share the port through SO_REUSEPORT, which would as gladly
    # share it with another feedsvc already running there (the kernel splitting requests
    # between the two, both polling): the port must be free now.
    _check_free(settings)
    # prometheus-client's own variable, read when it is first imported: set before this
    # process imports it, inherited by the serving processes (feedsvc.metrics).
    own_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        _remove_stale_metrics_dirs(tempfile.gettempdir())
        own_dir = tempfile.mkdtemp(prefix=f"{METRICS_DIR_PREFIX}{os.getpid()}-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = own_dir
    else:  # a directory of the operator's: values of an earlier run must go
        for old in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
            old.unlink()
    ctx = multiprocessing.get_context("spawn")
    # A serving process that listens says so on this pipe. Not a multiprocessing Event:
    # its five named semaphores are released only when the Event is garbage collected,
    # and entry() ends the process with os._exit, skipping the collection of the
    # reference cycles that held it at times; the resource tracker then printed "There
    # appear to be 5 leaked semaphore objects" (a bare text line amid JSON logs) at
    # shutdown. A pipe holds file descriptors only, closed below. (A kill -9 of this
    # process still leaves its process pool's semaphores to the resource tracker, which
    # removes them and says so when the last process of the service exits: unavoidable.)
    heard, listening = ctx.Pipe(duplex=False)

    def start_worker(n: int, running: Settings) -> multiprocessing.process.BaseProcess:
        # not daemonic: a worker runs its own process pool for rendering
        child: multiprocessing.process.BaseProcess = ctx.Process(
            target=_serve_worker, name=f"feedsvc-worker-{n + 1}",
            # The running settings, not the file: a file edited into an invalid state
            # is refused by the poller's reload, and a serving process started after
            # that (replacing one that died) must not read it and die in turn.
            # Our pid, not the child's later getppid(): had we died before the child
            # asked, it would read its new parent's pid and never notice.
            args=(running, log_format, log_level, os.getpid(), listening, n + 1),
        )
        # Started with SIGHUP blocked (the mask survives spawn's exec): a SIGHUP we
        # forward while it starts stays pending until it can reload, instead of
        # killing it (the default action). _serve_app unblocks it when ready.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
        try:
            child.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return child

    children = [start_worker(n, settings) for n in range(workers)]
    try:
        code = asyncio.run(_run_poller(settings, poll=poll, children=children,
                                       start_worker=start_worker, listening=heard))
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.join(5)
        heard.close()
        listening.close()
        if own_dir is not None:
            shutil.rmtree(own_dir, ignore_errors=True)
    return code


def _remove_stale_metrics_dirs(parent: str) -> None:
    """Remove the metrics directories (``feedsvc-metrics-PID-*``) of serve processes
    that are gone: one killed with SIGKILL never removed its own. A directory whose
    process still runs (or runs as another user: os.kill says so) is left alone, as is
    one named without a pid (made by an earlier version: its owner is unknown)."""
    for path in Path(parent).glob(f"{METRICS_DIR_PREFIX}*"):
        pid, dash, _ = path.name.removeprefix(METRICS_DIR_PREFIX).partition("-")
        if not (dash and pid.isdigit()) or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            log.info("removing %s, left by process %s (gone)", path, pid)
            shutil.rmtree(path, ignore_errors=True)
        except OSError:  # PermissionError: alive, someone else's
            continue


async def _run_poller(
    settings: Settings, *, poll: bool, children: list[multiprocessing.process.BaseProcess],
    start_worker: Callable[[int, Settings], multiprocessing.process.BaseProcess],
    listening: Connection,
) -> int:
    """The polling process beside the serving ones: the app without an HTTP site. A
    serving process that exits is replaced, as a pre-fork server does; one that keeps
    exiting right after its start (a port taken, a broken install) stops the service
    with exit code 1 rather than looping."""
    from aiohttp import web
    from prometheus_client import multiprocess

    from feedsvc.app import RUNTIME, create_app
    from feedsvc.live import LIVE

    loop = asyncio.get_running_loop()
    # Polling starts once a serving process listens: a service that cannot take its
    # port stops without having polled anyone.
    app = create_app(settings, start_scheduler=False, serve=False, reload_signals=True,
                     config_watch_interval=2.0, on_sighup=lambda: _signal_all(children, signal.SIGHUP))
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("feedsvc %s: %d serving process%s on http://%s/, this one %s", __version__,
             len(children), "" if len(children) == 1 else "es", settings.listen_address,
             "polling" if poll else "idle (--no-poll)")
    started = [time.monotonic()] * len(children)
    quick_exits = 0
    polling = listens = False
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=1.0 if polling or not poll else 0.1)
                continue
            except TimeoutError:
                pass
            while listening.poll():  # drained: replacements say so too
                listening.recv_bytes()
                listens = True
            if poll and not polling and listens:
                polling = True
                await app[RUNTIME].start_polling()
            for n, child in enumerate(children):
                if child.is_alive() or stop.is_set():
                    continue
                assert child.pid is not None
                multiprocess.mark_process_dead(child.pid)  # type: ignore[no-untyped-call]
                quick = time.monotonic() - started[n] < WORKER_MIN_LIFETIME
                quick_exits = quick_exits + 1 if quick else 0
                if quick_exits >= WORKER_QUICK_EXITS:
                    log.error("serving processes keep exiting right after they start "
                              "(last exit code %s); stopping", child.exitcode)
                    return 1
                log.warning("serving process %d exited with code %s; starting another",
                            child.pid, child.exitcode)
                children[n], started[n] = start_worker(n, app[LIVE].settings), time.monotonic()
    finally:
        await runner.cleanup()
    return 0


def _check_free(settings: Settings) -> None:
    """Raise ListenError unless the listen address could be bound without SO_REUSEPORT
    (so it is not in use, by anyone) on each of its host's addresses."""
    host, port = settings.listen_host, settings.listen_port
    where, key = settings.listen_address, settings.listen_key
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenError(f"cannot listen on {where} ({key}): {exc.strerror}") from None
    for family, kind, proto, _, addr in infos:
        with socket.socket(family, kind, proto) as probe:
            # as asyncio's create_server binds: a port in TIME_WAIT is free
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(addr)
            except OSError as exc:
                raise ListenError(f"cannot listen on {where} ({key}): "
                                  f"{exc.strerror or exc}") from None


def _signal_all(children: list[multiprocessing.process.BaseProcess], sig: int) -> None:
    for child in children:
        if child.pid:
            os.kill(child.pid, sig)


def _serve_worker(
    settings: Settings, log_format: str, log_level: str, parent: int,
    listening: Connection | None = None, number: int | None = None,
) -> None:
    """Entry point of serving process ``number`` (from 1; its replacement keeps it)
    beside the poller (pid ``parent``): serves feeds, never polls. ``settings`` are the
    poller's running ones (a later SIGHUP reloads the file, keeping them if it is
    invalid)."""
    setup_logging(log_format, log_level, role="server", number=number)
    try:
        _run_server(settings, poll=False, reuse_port=True, cpu_workers=1, parent=parent,
                    listening=listening)
    except ListenError as exc:
        log.error("%s", exc)  # one line, not a traceback; the poller sees the exit
        sys.exit(1)


def _exit_with_parent(parent: int) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` stopping this process (gracefully, as on SIGTERM) once its
    parent is gone: a poller killed with SIGKILL must not leave serving processes
    holding the port, serving feeds that no longer change."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()

        def stop_serving() -> None:  # on the loop, so never after the watch has ended
            if not watch.is_set():
                log.error("the polling process (pid %d) is gone; stopping", parent)
                os.kill(os.getpid(), signal.SIGTERM)

        def on_gone() -> None:  # in the watch's thread
            with contextlib.suppress(RuntimeError):  # the loop closed: stopping anyway
                loop.call_soon_threadsafe(stop_serving)

        watch = watch_parent(parent, on_gone)
        yield
        watch.set()

    return ctx


def _run_server(
    settings: Settings, *, poll: bool, reuse_port: bool, cpu_workers: int | None = None,
    parent: int | None = None, listening: Connection | None = None,
) -> None:
    from feedsvc.app import create_app

    loop_factory = None
    try:
        import uvloop  # optional: a faster event loop when installed (issue #3)
    except ImportError:
        pass
    else:
        loop_factory = uvloop.new_event_loop
    # cpu_workers sizes this process's pool without touching the settings, which stay
    # the file's: a reload compares them with the file again.
    # The scheduler is started by _serve_app once the port is taken, not at set-up.
    app = create_app(settings, start_scheduler=False, reload_signals=True,
                     config_watch_interval=2.0, prerender=True, extract_workers=cpu_workers)
    if parent is not None:
        app.cleanup_ctx.append(_exit_with_parent(parent))
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_serve_app(app, settings, reuse_port=reuse_port, poll=poll,
                              listening=listening))


async def _serve_app(
    app: web.Application, settings: Settings, *, reuse_port: bool, poll: bool,
    listening: Connection | None = None,
) -> None:
    """Serve ``app`` until SIGTERM or SIGINT, then clean up, whatever the moment.

    Not ``web.run_app``: its signal handler raises out of the start-up (pools started,
    feeds being pre-rendered) without cleaning up, and the process then hung at exit
    waiting for a pool worker that was never told to stop. Here a signal only sets an
    event; start-up completes, then everything is cleaned up in order.

    Polling (``poll``) starts once the port is taken, and ``listening`` then tells
    a parent that polls: a service that cannot listen exits having polled no one.
    """
    from aiohttp import web

    from feedsvc.app import RUNTIME

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(app, access_log=None, handle_signals=False,
                           shutdown_timeout=SHUTDOWN_TIMEOUT, keepalive_timeout=IDLE_TIMEOUT)
    try:
        await runner.setup()
        # The SIGHUP handler is in place now (reload_ctx): take any SIGHUP held since
        # a parent started us with it blocked.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})
        if stop.is_set():
            return
        site = web.TCPSite(runner, settings.listen_host, settings.listen_port,
                           reuse_port=reuse_port or None)
        try:
            await site.start()
        except OSError as exc:  # the port is taken, the host does not resolve...
            raise ListenError(f"cannot listen on {settings.listen_address} ({settings.listen_key}): "
                              f"{exc.strerror or exc}") from None
        log.info("feedsvc %s serving %d topics on http://%s/ (store: %s%s)", __version__,
                 len(settings.topics), settings.listen_address,
                 settings.redis_url_redacted or "in-process", "" if poll else ", not polling")
        if poll:
            await app[RUNTIME].start_polling()
        if listening is not None:
            with contextlib.suppress(OSError):  # the poller is gone: we stop anyway
                listening.send_bytes(b"listening")
            listening.close()
        await stop.wait()
    finally:
        await runner.cleanup()


def _detail(report: SourceReport, gone: int, max_entries: int) -> str:
    """What a crawl --once user needs to know of a source that did not fail; ``gone``
    of its new entries are already out of the feed (``max_entries``)."""
    if report.links == 0:
        return "no article links found (check the source's links and follow)"
    parts = [] if report.links is None else [f"{report.links} links"]
    if report.failed_articles:
        every = report.links is not None and report.failed_articles >= report.links
        parts.append(f"{'all ' if every else ''}{report.failed_articles} articles failed")
    if gone:
        parts.append(f"{gone} of the {report.new} new already past max_entries "
                     f"{max_entries} (not in the feed)")
    return ", ".join(parts)


async def _left_feed(store: Store, settings: Settings,
                     reports: Sequence[SourceReport]) -> dict[int, int]:
    """For each report (by id), how many of its new entries its topic's feed no longer
    lists: the topic keeps its newest ``max_entries``, and a prune drops (and deletes)
    the rest at once, so a new story older than those is stored and gone in one crawl.
    Empty when the store cannot say."""
    topics = dict.fromkeys(r.topic for r in reports if r.entered)
    try:
        kept = {t: set(await store.topic_urls(t, settings.topics[t].max_entries)) for t in topics}
    except StoreError:  # the crawl's own failures say so already
        return {}
    return {id(r): sum(1 for url in r.entered if url not in kept[r.topic])
            for r in reports if r.topic in kept}


async def _crawl(settings: Settings, topics: list[str] | None, cpu: CpuPool) -> int:
    from feedsvc.fetch import Fetcher
    from feedsvc.pipeline import Pipeline
    from feedsvc.store import create_store

    selected = [s for s in settings.all_sources() if topics is None or s.topic in topics]
    store = create_store(settings)
    done = 0
    tty = sys.stderr.isatty()
    start = time.monotonic()

    def progress(report: SourceReport) -> None:
        nonlocal done
        done += 1
        if tty:  # a live progress line on a terminal only; logs stay clean elsewhere
            sys.stderr.write(f"\r\033[K[{done}/{len(selected)}] {report.outcome:9} "
                             f"{redact_url(report.url)}")
            sys.stderr.flush()

    def clear_progress(_record: logging.LogRecord) -> bool:
        # A log line starts on a cleared line, not glued to the progress line; the next
        # source done draws the progress line again.
        sys.stderr.write("\r\033[K")
        return True

    if tty:
        for handler in logging.getLogger().handlers:
            handler.addFilter(clear_progress)

    try:
        async with Fetcher(user_agent=settings.user_agent, concurrency=settings.concurrency,
                           per_host=settings.per_host) as fetcher:
            pipeline = Pipeline(settings, store, fetcher, cpu)
            reports = await pipeline.refresh_all(topics, progress=progress)
        gone = await _left_feed(store, settings, reports)
    finally:
        await store.close()
    if tty:
        for handler in logging.getLogger().handlers:
            handler.removeFilter(clear_progress)
        sys.stderr.write("\r\033[K")
    shown = {id(r): redact_url(r.url) or "" for r in reports}  # never a URL's secrets
    width = max((len(u) for u in shown.values()), default=10)
    print(f"{'topic':<16} {'source':<{width}} {'result':<9} {'new':>4}  detail")
    for r in reports:
        detail = r.error or _detail(r, gone.get(id(r), 0), settings.topics[r.topic].max_entries)
        print(f"{r.topic:<16} {shown[id(r)]:<{width}} {r.outcome:<9} {r.new:>4}  {detail}")
    counts = {k: sum(1 for r in reports if r.outcome == k) for k in ("new", "unchanged", "failed")}
    left = sum(gone.values())
    print(f"{len(reports)} sources: {counts['new']} new, {counts['unchanged']} unchanged, "
          f"{counts['failed']} failed; {sum(r.new for r in reports)} new articles"
          f"{f' ({left} of them already past max_entries, not in the feeds)' if left else ''} "
          f"in {time.monotonic() - start:.1f}s")
    return 1 if reports and counts["failed"] == len(reports) else 0


def _extract(args: argparse.Namespace) -> int:
    from feedsvc.extract import extract_article, load_site_rules

    setup_logging("text", "WARNING")
    if args.sites_dir and not Path(args.sites_dir).is_dir():
        # as the config's sites_dir: checking rules against none would look like a pass
        print(f"feedsvc: --sites-dir {args.sites_dir}: not a directory", file=sys.stderr)
        return 2
    sites, user_agent = _extract_options(args)
    if args.file:
        url = args.base_url or args.url
        if not url:
            print("feedsvc: extract --file needs --url (the page's address, to resolve links)",
                  file=sys.stderr)
            return 2
        try:
            body = Path(args.file).read_bytes()
            # a saved page was fetched when it was saved (a dateline's missing year)
            fetched = datetime.fromtimestamp(Path(args.file).stat().st_mtime, UTC)
        except OSError as exc:
            print(f"feedsvc: cannot read {args.file}: {exc}", file=sys.stderr)
            return 2
        headers: dict[str, str] = {}
    elif args.url:
        url = args.url
        try:
            body, headers, url = asyncio.run(_fetch_one(url, user_agent))
        except FeedsvcError as exc:
            print(f"feedsvc: {exc}", file=sys.stderr)
            return 1
        fetched = datetime.now(UTC)
    else:
        print("feedsvc: extract needs a URL or --file FILE --url URL", file=sys.stderr)
        return 2
    try:
        art = extract_article(body, url, headers, rules=load_site_rules(sites), fetched=fetched)
    except FeedsvcError as exc:
        print(f"feedsvc: {exc}", file=sys.stderr)
        return 1
    if args.json:
        data = {k: getattr(art, k) for k in art.__slots__}
        print(json.dumps(data, default=str, ensure_ascii=False, indent=1))
        return 0
    for label, value in [
        ("Title", art.title), ("Author", art.author), ("Published", art.published),
        ("Updated", art.updated), ("Dateline", art.dateline), ("Lead image", art.lead_image),
        ("Language", art.lang), ("Canonical", art.canonical_url),
    ]:
        if value is not None or args.explain:
            print(f"{label + ':':<12} {value if value is not None else '-'}")
    if args.explain:
        print("\nHow each part was found:")
        for part, how in art.explain.items():
            if args.file and part == "published":
                # a file was not fetched: say which time stood in for it, and what it was
                how = how.replace("the fetch time", f"the fetch time: the file's, modified "
                                  f"{fetched:%Y-%m-%d %H:%M} UTC")
            print(f"  {part:<12} {how}")
    print()
    print(art.content_html if args.html else art.text)
    return 0


def _extract_options(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """The site rules directory and user agent ``extract`` uses: the flags, else the
    config's (the rules the service applies: checking a rule with ``--explain`` must
    not quietly use others), else config/sites when it exists."""
    from feedsvc.config import DEFAULT_CONFIG_PATH

    if args.config or os.environ.get("FEEDSVC_CONFIG") or Path(DEFAULT_CONFIG_PATH).is_file():
        settings = load_config(args.config)  # an invalid file is a config error (exit 2)
        return args.sites_dir or settings.sites_dir, args.user_agent or settings.user_agent
    sites = args.sites_dir or ("config/sites" if Path("config/sites").is_dir() else None)
    return sites, args.user_agent


async def _fetch_one(url: str, user_agent: str | None) -> tuple[bytes, dict[str, str], str]:
    from feedsvc.config import DEFAULT_USER_AGENT
    from feedsvc.fetch import Fetcher

    async with Fetcher(user_agent=user_agent or DEFAULT_USER_AGENT, concurrency=1, per_host=1) as f:
        result = await f.fetch(url, timeout=20.0, max_bytes=5_000_000, check_robots=False)
    return result.body or b"", result.headers, result.url
