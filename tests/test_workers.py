"""``feedsvc serve --workers N``: N processes accept on one port (issue #3 item 1)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from asyncio.subprocess import Process
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
import yaml

from tests.helpers import check_atom, free_port
from tests.origin import Origin
from tests.site import index_page
from tests.test_cli import run_cli


def listening_pids(port: int) -> set[int]:
    """PIDs holding a listening socket on ``port`` (from /proc, no extra tools)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                parts = line.split()
                if int(parts[1].rsplit(":", 1)[1], 16) == port and parts[3] == "0A":
                    inodes.add(parts[9])
    pids = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    pids.add(int(pid))
        except OSError:
            continue
    return pids


async def test_workers_need_redis(tmp_path: Path) -> None:
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text(yaml.safe_dump({"topics": {"a": {"sources": [{"url": "http://127.0.0.1:9/"}]}}}))
    code, _, err = await run_cli("serve", "-c", str(cfg), "--workers", "2")
    assert code == 2
    assert "--workers 2 needs service.redis_url" in err


@pytest.mark.timeout(180)  # three processes and their pools start: slow on a loaded machine
@pytest.mark.parametrize("workers", [1, 2])
async def test_serving_processes_share_the_port_and_one_process_polls(
    tmp_path: Path, redis_url: str, workers: int
) -> None:
    """On Redis, N serving processes accept on one port; another, the parent, polls alone
    (so a crawl never shares an event loop with feed requests) and its articles reach
    them all. ``/metrics``, whichever process answers, counts every process's work."""
    from tests.origin import Origin
    from tests.site import STORIES, article_page, index_page

    port = free_port()
    routes: dict[str, object] = {p: article_page(*STORIES[p]) for p in STORIES}
    routes["/index.html"] = index_page(list(STORIES))
    async with Origin(routes) as site:  # type: ignore[arg-type]
        cfg = tmp_path / "feeds.yaml"
        cfg.write_text(yaml.safe_dump({
            "service": {"listen": f"127.0.0.1:{port}", "redis_url": redis_url,
                        "extract_workers": 1},
            "topics": {"a": {"sources": [{"url": site.url("/index.html"), "robots": False}]}},
        }))
        log = (tmp_path / "serve.log").open("wb")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "feedsvc", "serve", "--workers", str(workers), "-c", str(cfg),
            stdout=asyncio.subprocess.DEVNULL, stderr=log,
        )
        try:
            pids: set[int] = set()
            # Deadlines, not counts of tries: on a loaded machine start-up and the first
            # poll take many times their usual second.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                pids = listening_pids(port)
                if len(pids) >= workers:
                    break
                await asyncio.sleep(0.1)
            assert len(pids) == workers, (pids, (tmp_path / "serve.log").read_text())
            assert proc.pid not in pids  # the parent polls and does not serve
            timeout = aiohttp.ClientTimeout(total=10)
            async with aiohttp.ClientSession(timeout=timeout) as http:
                entries = 0
                deadline = time.monotonic() + 90
                while time.monotonic() < deadline:
                    # new connections land on either process; each must see the articles
                    async with http.get(f"http://127.0.0.1:{port}/feeds/a.atom",
                                        headers={"Connection": "close"}) as r:
                        assert r.status == 200
                        entries = len(check_atom(await r.read()).entries)
                    if entries == len(STORIES):
                        break
                    await asyncio.sleep(0.1)
                assert entries == len(STORIES), (tmp_path / "serve.log").read_text()
                # The other process notices within its version-check interval (1 s);
                # after that every request sees the articles, whichever process answers.
                await asyncio.sleep(2.0)
                for _ in range(10):
                    async with http.get(f"http://127.0.0.1:{port}/feeds/a.atom",
                                        headers={"Connection": "close"}) as r:
                        assert len(check_atom(await r.read()).entries) == len(STORIES)
                # the poller's counts (no HTTP of its own) and the servers' requests
                await asyncio.sleep(2.5)  # each process folds its counts every 2 s
                for _ in range(4):
                    async with http.get(f"http://127.0.0.1:{port}/metrics",
                                        headers={"Connection": "close"}) as r:
                        text = await r.text()
                    assert f'feedsvc_articles_stored_total{{topic="a"}} {len(STORIES)}.0' in text
                    assert 'feedsvc_fetches_total{host="127.0.0.1:' in text
                    served = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                              if line.startswith('feedsvc_feed_requests_total{status="200"}')]
                    assert served and served[0] >= 10 + 1
            assert site.hits["/index.html"] == 1  # polled once: one poller, not one per worker
            # Each text line says which process logged it: the poller's and the serving
            # processes' start-up (and config reload) lines read alike otherwise.
            text = (tmp_path / "serve.log").read_text()
            assert " INFO feedsvc [poller]: feedsvc " in text, text
            for n in range(1, workers + 1):
                assert f" INFO feedsvc [server {n}]: feedsvc " in text, text
        finally:
            proc.terminate()
            await proc.wait()
            log.close()


def _redis_config(tmp_path: Path, port: int, redis_url: str) -> Path:
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text(yaml.safe_dump({
        "service": {"listen": f"127.0.0.1:{port}", "redis_url": redis_url},
        "topics": {"a": {"sources": [{"url": "http://127.0.0.1:9/index.html"}]}},
    }))
    return cfg


@contextlib.asynccontextmanager
async def serving_only(tmp_path: Path, redis_url: str) -> AsyncIterator[tuple[Process, int, int]]:
    """``serve --no-poll`` on Redis in its own process group; yields the parent process,
    the port and the pid of its one serving process. Kills the whole group at the end."""
    port = free_port()
    cfg = _redis_config(tmp_path, port, redis_url)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "feedsvc", "serve", "--no-poll", "-c", str(cfg),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        pids = await wait_listening(port, lambda p: bool(p))
        assert len(pids) == 1 and proc.pid not in pids
        yield proc, port, pids.pop()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of its group
        await proc.wait()


async def wait_listening(port: int, done: Callable[[set[int]], bool]) -> set[int]:
    """The pids listening on ``port`` once ``done`` accepts them (or after 15 s)."""
    pids: set[int] = set()
    for _ in range(150):
        pids = listening_pids(port)
        if done(pids):
            break
        await asyncio.sleep(0.1)
    return pids


async def test_serving_process_stops_when_the_poller_is_killed(
    tmp_path: Path, redis_url: str
) -> None:
    """A poller killed with SIGKILL leaves no serving process holding the port."""
    async with serving_only(tmp_path, redis_url) as (proc, port, _):
        proc.kill()  # the poller only
        await proc.wait()
        assert not await wait_listening(port, lambda p: not p)


async def test_serving_process_whose_poller_died_before_it_started_stops(
    tmp_path: Path, redis_url: str
) -> None:
    """The poller is killed while a serving process is still starting: the process must
    still notice (it is told the poller's pid rather than asking for its parent once up,
    by which time its parent is someone else) and stop instead of serving forever."""
    gone = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await gone.wait()  # a pid that no longer runs: the poller, dead already
    cfg = _redis_config(tmp_path, free_port(), redis_url)
    code = (f"from feedsvc.cli import _serve_worker; from feedsvc.config import load_config; "
            f"_serve_worker(load_config({str(cfg)!r}), 'text', 'INFO', {gone.pid})")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0
    assert f"the polling process (pid {gone.pid}) is gone" in err.decode()


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            if stat[0] != "Z":
                parents[int(entry)] = int(stat[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def serving_children(pid: int) -> set[int]:
    """The serving processes started by the poller ``pid`` (not its resource tracker,
    nor their pool workers)."""
    out = set()
    for child in descendants(pid):
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[1]) == pid and b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                out.add(child)
    return out


async def test_sigterm_while_a_serving_process_starts_leaves_no_process(
    tmp_path: Path, redis_url: str
) -> None:
    """The service is stopped while its serving process is still starting (pools up,
    feeds being pre-rendered): every process exits. With aiohttp's run_app the signal
    raised out of the start-up, the cleanup never ran, and the serving process hung at
    exit waiting for its render worker, orphaned, holding the port."""
    cfg = _redis_config(tmp_path, free_port(), redis_url)
    for delay in (0.0, 0.1, 0.2, 0.25):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "feedsvc", "serve", "--no-poll", "-c", str(cfg),
            stderr=asyncio.subprocess.PIPE)
        assert proc.stderr is not None
        family: set[int] = set()
        try:
            while b"serving 1 topics" not in await asyncio.wait_for(proc.stderr.readline(), 30):
                pass
            await asyncio.sleep(delay)
            family = descendants(proc.pid)
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.stderr.read(), timeout=30)
            assert await asyncio.wait_for(proc.wait(), timeout=30) == 0
            for _ in range(100):
                if not family & descendants(1):
                    break
                await asyncio.sleep(0.1)
            assert not family & descendants(1), f"left running after {delay} s: {family}"
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            for pid in family:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("file_now_invalid", [False, True], ids=["", "config-file-now-invalid"])
async def test_a_serving_process_that_dies_is_replaced(
    tmp_path: Path, redis_url: str, file_now_invalid: bool
) -> None:
    """kill -9 of a serving process: the poller starts another, which serves the feed.
    Also when the config file was edited into an invalid state meanwhile (the poller
    keeps its running config): the replacement starts on that running config instead
    of reading the broken file, dying, and taking the service down with it."""
    async with serving_only(tmp_path, redis_url) as (proc, port, first):
        if file_now_invalid:
            cfg = tmp_path / "feeds.yaml"
            cfg.write_text(cfg.read_text() + "bogus_key: 1\n")
        os.kill(first, signal.SIGKILL)
        now = await wait_listening(port, lambda p: bool(p) and first not in p)
        assert len(now) == 1 and first not in now and proc.returncode is None
        async with aiohttp.ClientSession() as http, \
                http.get(f"http://127.0.0.1:{port}/feeds/a.atom") as r:
            assert r.status == 200


async def test_sighup_while_a_serving_process_starts_does_not_kill_it(
    tmp_path: Path, redis_url: str
) -> None:
    """The poller forwards SIGHUP to its serving processes. One still starting (no
    handler yet) took it with the default action and died; now it is held until the
    process can reload, and the replacement of a dead serving process comes up."""
    async with serving_only(tmp_path, redis_url) as (proc, port, first):
        os.kill(first, signal.SIGKILL)
        replacement: set[int] = set()
        for _ in range(300):
            replacement = serving_children(proc.pid) - {first}
            if replacement:
                break
            await asyncio.sleep(0.01)
        assert replacement, "no replacement started"
        for _ in range(10):  # through the replacement's start-up
            os.kill(proc.pid, signal.SIGHUP)
            await asyncio.sleep(0.05)
        now = await wait_listening(port, lambda p: bool(p) and first not in p)
        assert len(now) == 1 and now == replacement
        assert proc.returncode is None


# Makes every process started by multiprocessing's spawn (the serving processes; the
# poller's own pool starts none before it polls) exit at once, as a broken install would.
DYING_CHILDREN = """\
import os, sys
if "--multiprocessing-fork" in sys.argv:
    os._exit(3)
"""


async def test_serving_processes_that_cannot_start_stop_the_service(
    tmp_path: Path, redis_url: str
) -> None:
    """Serving processes that die right after they start: after a few tries the service
    stops with exit code 1 instead of restarting them forever, and it has polled no one,
    since polling starts once a serving process listens."""
    (tmp_path / "sitecustomize.py").write_text(DYING_CHILDREN)
    async with Origin({"/index.html": index_page([])}) as site:
        cfg = tmp_path / "feeds.yaml"
        cfg.write_text(yaml.safe_dump({
            "service": {"listen": f"127.0.0.1:{free_port()}", "redis_url": redis_url},
            "topics": {"a": {"sources": [{"url": site.url("/index.html"), "robots": False}]}},
        }))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "feedsvc", "serve", "-c", str(cfg), env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        assert site.requests == []
    assert proc.returncode == 1
    assert "keep exiting right after they start (last exit code 3)" in err.decode()


@pytest.mark.parametrize("reuse_port", [False, True], ids=["other-program", "other-feedsvc"])
async def test_a_port_in_use_stops_the_service_at_once(
    tmp_path: Path, redis_url: str, reuse_port: bool
) -> None:
    """The port is in use: by another program, or by another feedsvc whose serving
    processes use SO_REUSEPORT as ours do (the kernel would split requests between the
    two services, both polling). One line, exit code 1, and no source polled."""
    port = free_port()
    async with Origin({"/index.html": index_page([])}) as site:
        cfg = tmp_path / "feeds.yaml"
        cfg.write_text(yaml.safe_dump({
            "service": {"listen": f"127.0.0.1:{port}", "redis_url": redis_url},
            "topics": {"a": {"sources": [{"url": site.url("/index.html"), "robots": False}]}},
        }))
        with socket.socket() as taken:
            if reuse_port:
                taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            taken.bind(("127.0.0.1", port))
            taken.listen()
            code, _, err = await asyncio.wait_for(
                run_cli("serve", "-c", str(cfg), "--log-level", "ERROR"), timeout=30)
        assert site.requests == []
    assert code == 1
    [line] = err.strip().splitlines()
    assert line.startswith(f"feedsvc: cannot listen on 127.0.0.1:{port} (service.listen): ")
