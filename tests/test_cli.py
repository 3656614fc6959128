"""The command line as a user runs it: a real subprocess against a local origin."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import free_port, make_settings, shared_path
from tests.origin import Origin, Route
from tests.site import STORIES, article_page, index_page


async def run_cli(*args: str, cwd: Path | None = None,
                  env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "feedsvc", *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def write_config(tmp_path: Path, sources: list[dict[str, object]]) -> str:
    path = tmp_path / "feeds.yaml"
    path.write_text(yaml.safe_dump({
        "service": {"extract_workers": 1},
        "topics": {"superpowers": {"sources": sources}},
    }))
    return str(path)


async def test_crawl_once_prints_summary(tmp_path: Path) -> None:
    routes: dict[str, object] = {p: article_page(*STORIES[p]) for p in STORIES}
    routes["/index.html"] = index_page(list(STORIES))
    routes["/down.html"] = Route("no", status=503, headers={"Retry-After": "120"})
    async with Origin(routes) as site:  # type: ignore[arg-type]
        cfg = write_config(tmp_path, [
            {"url": site.url("/index.html"), "follow": "/reports/"},
            {"url": site.url("/down.html")},
        ])
        code, out, err = await run_cli("crawl", "--once", "-c", cfg)
    assert code == 0, err
    lines = out.splitlines()
    assert any("index.html" in ln and " new " in ln and " 3 " in ln for ln in lines), out
    assert any("down.html" in ln and "failed" in ln and "HTTP 503" in ln for ln in lines), out
    assert lines[-1].startswith("2 sources: 1 new, 0 unchanged, 1 failed; 3 new articles in ")


async def test_crawl_once_says_which_new_articles_max_entries_left_out(tmp_path: Path) -> None:
    """A topic keeping 1 entry, whose source lists 3 new stories: all 3 are stored, and
    the prune after them drops (and deletes) 2 at once. The summary says so, rather than
    "3 new articles" for a feed that gained one."""
    routes: dict[str, object] = {p: article_page(*STORIES[p]) for p in STORIES}
    routes["/index.html"] = index_page(list(STORIES))
    async with Origin(routes) as site:  # type: ignore[arg-type]
        cfg = tmp_path / "feeds.yaml"
        cfg.write_text(yaml.safe_dump({
            "service": {"extract_workers": 1},
            "topics": {"superpowers": {"max_entries": 1, "sources": [
                {"url": site.url("/index.html"), "follow": "/reports/"}]}},
        }))
        code, out, err = await run_cli("crawl", "--once", "-c", str(cfg))
    assert code == 0, err
    row = next(ln for ln in out.splitlines() if "index.html" in ln)
    assert " new " in row and " 3 " in row, out
    assert "2 of the 3 new already past max_entries 1 (not in the feed)" in row, out
    assert out.splitlines()[-1].startswith(
        "1 sources: 1 new, 0 unchanged, 0 failed; 3 new articles (2 of them already past "
        "max_entries, not in the feeds) in "), out


async def test_crawl_once_says_when_a_source_lists_no_article_links(tmp_path: Path) -> None:
    """A new source whose links/follow match nothing is not just "unchanged 0": the
    summary says so, and how many links a source that worked listed."""
    routes: dict[str, object] = {p: article_page(*STORIES[p]) for p in STORIES}
    routes["/index.html"] = index_page(list(STORIES))
    async with Origin(routes) as site:  # type: ignore[arg-type]
        cfg = write_config(tmp_path, [
            {"url": site.url("/index.html"), "links": "a.story-link"},
            {"url": site.url("/index.html"), "follow": "/reports/"},
        ])
        code, out, err = await run_cli("crawl", "--once", "-c", cfg)
    assert code == 0, err
    lines = out.splitlines()
    assert any(" unchanged " in ln and ln.endswith(
        "no article links found (check the source's links and follow)") for ln in lines), out
    assert any(" new " in ln and ln.endswith("3 links") for ln in lines), out


async def test_crawl_once_progress_line_is_cleared_before_a_log_line(tmp_path: Path) -> None:
    """On a terminal, crawl --once keeps a progress line; a log line written meanwhile
    starts on a cleared line instead of being glued to it."""
    import os
    import pty

    routes: dict[str, object] = {"/index.html": index_page([]),
                                 "/slow.html": Route("oops", status=500, delay=0.5)}
    async with Origin(routes) as site:  # type: ignore[arg-type]
        cfg = write_config(tmp_path, [{"url": site.url("/slow.html")},
                                      {"url": site.url("/index.html"), "follow": "/reports/"}])
        master, slave = pty.openpty()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "feedsvc", "crawl", "--once", "-c", cfg,
            stdout=asyncio.subprocess.DEVNULL, stderr=slave)
        os.close(slave)
        await asyncio.wait_for(proc.wait(), 60)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the terminal's other end is closed and drained
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    text = b"".join(chunks).decode()
    # the index finishes first (progress line "[1/2]"); the slow source's failure is
    # logged after it
    warnings = [i for i in range(len(text)) if text.startswith("WARNING", i)]
    assert warnings, text
    for i in warnings:
        line_start = text.rfind("\x1b[K", 0, i)
        assert line_start != -1 and "[1/2]" not in text[line_start:i], text


async def test_crawl_once_exits_nonzero_when_every_source_fails(tmp_path: Path) -> None:
    async with Origin({}) as site:
        cfg = write_config(tmp_path, [{"url": site.url("/missing.html")}])
        code, out, _ = await run_cli("crawl", "--once", "-c", cfg)
    assert code == 1
    assert "HTTP 404" in out


async def test_crawl_unknown_topic_is_usage_error(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, [{"url": "http://127.0.0.1:9/x"}])
    code, _, err = await run_cli("crawl", "--once", "-c", cfg, "--topic", "nope")
    assert code == 2
    assert "no such topic: nope" in err


async def test_extract_file_prints_metadata_and_story() -> None:
    page = shared_path("pages/spacedaily-superpowers.html")
    url = "https://www.spacedaily.com/reports/US_says_not_ready_yet_for_military_collaboration_with_Russia_999.html"
    code, out, err = await run_cli("extract", "--file", str(page), "--url", url, "--explain")
    assert code == 0, err
    assert "Title:       US says not ready yet for Russian military collaboration as chiefs meet" in out
    assert "Author:      Staff Writers" in out
    assert "Published:   2017-02-16" in out
    assert "Dateline:    Brussels (AFP)" in out
    assert "How each part was found:" in out
    assert "Pentagon chief James Mattis said Thursday" in out
    assert "Thanks for being here" not in out


async def test_extract_own_page_html(tmp_path: Path) -> None:
    title, dateline, paras = STORIES["/reports/Navy_tests_new_radar_999.html"]
    page = tmp_path / "page.html"
    page.write_text(article_page(title, dateline, paras))
    code, out, err = await run_cli("extract", "--file", str(page), "--url",
                                   "https://news.test/reports/n.html", "--html")
    assert code == 0, err
    assert f"Title:       {title}" in out
    assert f"<p>{paras[0]}</p>" in out


async def test_extract_file_dates_a_yearless_dateline_by_the_files_time(tmp_path: Path) -> None:
    """A saved page was fetched when it was saved: its time gives the year a Reuters
    dateline leaves out (Dec 31, saved on New Year's Day: the year before)."""
    import os
    from datetime import UTC, datetime

    title, _, paras = STORIES["/reports/Navy_tests_new_radar_999.html"]
    page = tmp_path / "page.html"
    page.write_text(article_page(title, "WASHINGTON, Dec 31 (Reuters) -", paras))
    saved = datetime(2026, 1, 1, 2, tzinfo=UTC).timestamp()
    os.utime(page, (saved, saved))
    code, out, err = await run_cli("extract", "--file", str(page), "--url",
                                   "https://news.test/reports/n.html")
    assert code == 0, err
    assert "Published:   2025-12-31 00:00:00+00:00" in out
    assert "Dateline:    WASHINGTON, Dec 31 (Reuters)" in out
    # --explain says the file's time stood in for the fetch, and which time it was
    code, out, err = await run_cli("extract", "--file", str(page), "--url",
                                   "https://news.test/reports/n.html", "--explain")
    assert code == 0, err
    assert ("published    dateline (its year from the fetch time: the file's, modified "
            "2026-01-01 02:00 UTC)") in out


async def test_extract_needs_url_with_file(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    page.write_text("<p>x</p>")
    code, _, err = await run_cli("extract", "--file", str(page))
    assert code == 2 and "--url" in err


async def test_json_logs_one_object_per_line(tmp_path: Path) -> None:
    import json

    async with Origin({}) as site:
        cfg = write_config(tmp_path, [{"url": site.url("/gone.html"), "robots": False}])
        code, _, err = await run_cli("crawl", "--once", "-c", cfg, "--log-format", "json")
    assert code == 1
    events = [json.loads(line) for line in err.splitlines() if line.strip()]
    failure = [e for e in events if e["logger"] == "feedsvc.pipeline"]
    assert failure and failure[0]["level"] == "warning"
    assert "HTTP 404" in failure[0]["msg"] and "gone.html" in failure[0]["msg"]


async def test_entry_point_exits_without_teardown_and_loses_no_output(tmp_path: Path) -> None:
    """The console entry point skips the interpreter's teardown (~65 ms, issue #3) after
    flushing: a handler registered for teardown never runs, every line still arrives,
    and the exit code is main()'s."""
    cfg = write_config(tmp_path, [{"url": "https://news.test/a.html"}])
    script = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('TEARDOWN', file=sys.stderr, flush=True))\n"
        f"sys.argv = ['feedsvc', 'check-config', '-c', {cfg!r}]\n"
        "print('x' * 100_000, end='')\n"  # buffered output the fast exit must flush
        "from feedsvc.cli import entry\n"
        "entry()\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0
    assert b"TEARDOWN" not in err
    assert out.startswith(b"x" * 100_000)
    assert b"topics:" in out and out.endswith(b"\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("topics: 7\n")
    code, _, err_text = await run_cli("check-config", "-c", str(bad))
    assert code == 2 and "config error" in err_text


async def test_serve_on_a_taken_port_says_so_in_one_line(tmp_path: Path) -> None:
    """A port in use (or a host that does not resolve) is a one-line error with exit
    status 1, not a traceback; and the service exits without having polled its
    sources (polling starts once it listens)."""
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    async with Origin({"/": index_page([])}) as site:
        path = tmp_path / "feeds.yaml"
        path.write_text(yaml.safe_dump({
            "service": {"listen": f"127.0.0.1:{port}", "extract_workers": 1},
            "topics": {"t": {"sources": [{"url": site.url("/"), "robots": False}]}},
        }))
        try:
            code, _, err = await asyncio.wait_for(
                run_cli("serve", "-c", str(path), "--log-level", "ERROR"), 60)
        finally:
            taken.close()
        assert site.requests == []
    assert code == 1
    [line] = err.strip().splitlines()
    assert line.startswith(f"feedsvc: cannot listen on 127.0.0.1:{port} (service.listen): ")
    assert "in use" in line


async def test_a_taken_port_from_feedsvc_listen_names_the_variable(tmp_path: Path) -> None:
    """The port came from FEEDSVC_LISTEN (as in the container image) but the error said
    "(service.listen)", sending the user to a file that names another port."""
    import os
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    path = tmp_path / "feeds.yaml"
    path.write_text(yaml.safe_dump({
        "service": {"listen": "127.0.0.1:1", "extract_workers": 1},
        "topics": {"t": {"sources": [{"url": "http://127.0.0.1:9/", "robots": False}]}},
    }))
    env = {**os.environ, "FEEDSVC_LISTEN": f"127.0.0.1:{port}"}
    try:
        code, _, err = await asyncio.wait_for(
            run_cli("serve", "-c", str(path), "--log-level", "ERROR", env=env), 60)
    finally:
        taken.close()
    assert code == 1
    [line] = err.strip().splitlines()
    assert line.startswith(f"feedsvc: cannot listen on 127.0.0.1:{port} (FEEDSVC_LISTEN): ")


async def test_extract_with_a_missing_sites_dir_is_a_usage_error(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(article_page(*STORIES[next(iter(STORIES))]))
    code, out, err = await run_cli("extract", "--file", str(page), "--url", "http://a.test/x",
                                   "--sites-dir", str(tmp_path / "nope"), cwd=tmp_path)
    assert (code, out) == (2, "")
    assert err.strip() == f"feedsvc: --sites-dir {tmp_path / 'nope'}: not a directory"


async def test_extract_applies_the_site_rules_of_the_config(tmp_path: Path) -> None:
    """`extract --explain` is how a rule is checked: it uses the rules the service would
    (the config's sites_dir), not only a config/sites below the current directory."""
    title, dateline, paras = STORIES["/reports/Navy_tests_new_radar_999.html"]
    page = tmp_path / "page.html"
    page.write_text(article_page(title, dateline, paras))
    sites = tmp_path / "rules"
    sites.mkdir()
    (sites / "news.test.txt").write_text(f"strip: //p[contains(., '{paras[0][:30]}')]\n")
    path = tmp_path / "elsewhere.yaml"
    path.write_text(yaml.safe_dump({
        "service": {"sites_dir": str(sites)},
        "topics": {"t": {"sources": [{"url": "https://news.test/"}]}},
    }))
    args = ("extract", "--file", str(page), "--url", "https://news.test/reports/n.html")
    code, out, err = await run_cli(*args, "-c", str(path), cwd=tmp_path)
    assert code == 0, err
    assert paras[0] not in out and paras[1] in out
    code, out, err = await run_cli(*args, cwd=tmp_path)  # no config: no rule
    assert code == 0, err
    assert paras[0] in out


async def test_log_level_in_lower_case(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, [{"url": "http://127.0.0.1:9/x"}])
    code, out, err = await run_cli("check-config", "-c", cfg, "--log-level", "debug")
    assert "topics:" in out
    assert code == 0, err
    code, _, err = await run_cli("check-config", "-c", cfg, "--log-level", "loud")
    assert code == 2 and "invalid choice: 'LOUD'" in err


async def test_served_connections_that_send_no_request_are_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client that opens a connection and sends nothing, or half a request a byte at a
    time, must not keep it (and a socket of the server's) for an hour, aiohttp's default
    behind an AppRunner (security review, session 6)."""
    from feedsvc import cli
    from feedsvc.app import create_app

    monkeypatch.setattr(cli, "IDLE_TIMEOUT", 0.5)
    port = free_port()
    settings = make_settings({"news": {"sources": [{"url": "http://127.0.0.1:9/i.html"}]}},
                             listen=f"127.0.0.1:{port}")
    app = create_app(settings, start_scheduler=False, extract_workers=1)
    server = asyncio.create_task(cli._serve_app(app, settings, reuse_port=False, poll=False))
    try:
        for _ in range(100):
            try:
                _, probe = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
            else:
                probe.close()
                break
        quiet_reader, quiet = await asyncio.open_connection("127.0.0.1", port)
        slow_reader, slow = await asyncio.open_connection("127.0.0.1", port)
        slow.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
        async with asyncio.timeout(5):
            assert await quiet_reader.read() == b""  # closed by the server
            assert await slow_reader.read() == b""
        quiet.close()
        slow.close()
    finally:
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server


def test_stale_metrics_dirs_of_gone_processes_are_removed(tmp_path: Path) -> None:
    """A serve killed with SIGKILL leaves its temporary PROMETHEUS_MULTIPROC_DIR; the
    next start removes the directories whose process is gone, and only those."""
    import os
    import subprocess

    from feedsvc.cli import METRICS_DIR_PREFIX, _remove_stale_metrics_dirs

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that no longer runs
    stale = tmp_path / f"{METRICS_DIR_PREFIX}{gone.pid}-x1y2z3"
    running = tmp_path / f"{METRICS_DIR_PREFIX}{os.getppid()}-a1b2c3"
    own = tmp_path / f"{METRICS_DIR_PREFIX}{os.getpid()}-d4e5f6"
    legacy = tmp_path / f"{METRICS_DIR_PREFIX}12345678"  # no pid in the name: unknown owner
    for d in (stale, running, own, legacy):
        d.mkdir()
        (d / "counter_1.db").write_bytes(b"x")
    _remove_stale_metrics_dirs(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        d.name for d in (running, own, legacy))
