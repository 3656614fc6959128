"""What an operator sees of the service: /metrics, /, and the log, during faults."""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from feedsvc.app import create_app
from feedsvc.config import Settings
from feedsvc.cpu import CpuPool
from feedsvc.errors import StoreError
from feedsvc.live import LIVE
from feedsvc.store.memory import MemoryStore
from tests.helpers import Client, app_client, make_settings

DOWN = "127.0.0.1:9/a"  # nothing listens on port 9: every fetch fails at once


@pytest.fixture(scope="module")
def cpu() -> Iterator[CpuPool]:
    pool = CpuPool(1)
    yield pool
    pool.close()


class Switchable(MemoryStore):
    """A store that fails every call with ``down`` (a StoreError) while it is set."""

    down: StoreError | None = None

    def __getattribute__(self, name: str) -> Any:
        attr = super().__getattribute__(name)
        error = super().__getattribute__("down")
        if error is not None and not name.startswith("_") and inspect.iscoroutinefunction(attr):
            async def fail(*args: Any, **kwargs: Any) -> Any:
                raise error
            return fail
        return attr


def settings_for(*urls: str) -> Settings:
    return make_settings({"a": {"sources": [
        {"url": f"http://{u}", "robots": False} for u in urls]}})


@asynccontextmanager
async def served(settings: Settings, store: MemoryStore, cpu: CpuPool
                 ) -> AsyncIterator[tuple[Client, web.Application]]:
    app = create_app(settings, store=store, cpu=cpu, start_scheduler=False)
    async with app_client(app) as client:
        yield client, app


async def samples(client: Client, name: str) -> dict[frozenset[tuple[str, str]], float]:
    resp = await client.get("/metrics")
    assert resp.status == 200
    return {frozenset(s.labels.items()): s.value
            for family in text_string_to_metric_families(await resp.text())
            for s in family.samples if s.name == name}


def source(url: str) -> frozenset[tuple[str, str]]:
    return frozenset({"topic": "a", "source": f"http://{url}"}.items())


# -- feedsvc_source_errors ---------------------------------------------------------


async def test_a_store_outage_is_no_source_failure(cpu: CpuPool) -> None:
    """Polls that fail because the store is down leave feedsvc_source_errors as stored
    (the origin did nothing wrong): it went 0 -> 4 during a 60 s Redis outage."""
    store = Switchable()
    async with served(settings_for(DOWN), store, cpu) as (client, app):
        pipeline = app[LIVE].pipeline
        src = app[LIVE].settings.all_sources()[0]
        for _ in range(2):
            assert (await pipeline.refresh_source(src)).outcome == "failed"
        assert (await samples(client, "feedsvc_source_errors"))[source(DOWN)] == 2
        store.down = StoreError("connection refused")
        for _ in range(3):
            report = await pipeline.refresh_source(src)
            assert "store unavailable" in (report.error or "")
        assert (await samples(client, "feedsvc_source_errors"))[source(DOWN)] == 2
        store.down = None
        assert (await samples(client, "feedsvc_source_errors"))[source(DOWN)] == 2


async def test_replicas_export_the_stored_failure_count(cpu: CpuPool) -> None:
    """Two replicas on one store: the one that did not poll the source exports the same
    count as the one that did, and as ``/`` shows (the stored FetchState)."""
    store = Switchable()
    settings = settings_for(DOWN, "127.0.0.1:9/b")
    async with served(settings, store, cpu) as (a, app_a), served(settings, store, cpu) as (b, _):
        src = app_a[LIVE].settings.all_sources()[0]
        for _ in range(3):
            await app_a[LIVE].pipeline.refresh_source(src)
        for client in (a, b):
            errors = await samples(client, "feedsvc_source_errors")
            assert errors == {source(DOWN): 3, source("127.0.0.1:9/b"): 0}
            assert "failing (3 in a row" in await (await client.get("/")).text()


# -- feedsvc_fetch_seconds ---------------------------------------------------------


async def test_failed_and_timed_out_fetches_are_timed(cpu: CpuPool) -> None:
    """feedsvc_fetch_seconds observes every fetch, not only successful ones: a hanging
    origin's timeouts are what an operator most needs to see there."""
    from tests.origin import Origin, Route, hang

    async with Origin({"/hang.xml": hang(), "/err.xml": Route("no", status=500)}) as origin:
        settings = make_settings({"a": {"sources": [
            {"url": origin.url(p), "robots": False, "kind": "feed", "timeout": "0.3s"}
            for p in ("/hang.xml", "/err.xml")]}})
        async with served(settings, MemoryStore(), cpu) as (client, app):
            for src in app[LIVE].settings.all_sources():
                assert (await app[LIVE].pipeline.refresh_source(src)).outcome == "failed"
            seconds = await samples(client, "feedsvc_fetch_seconds_count")
            fetches = await samples(client, "feedsvc_fetches_total")
    assert sum(fetches.values()) == 2
    assert seconds[frozenset()] == 2


# -- the store's outages in the log ------------------------------------------------


def store_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "feedsvc.store"]


async def test_a_store_outage_is_logged_once_and_its_end_too(
    cpu: CpuPool, caplog: pytest.LogCaptureFixture
) -> None:
    """Per process, one warning (with the error) when the store stops answering and one
    info when it answers again, however many checks, requests and polls fail between."""
    import feedsvc.web

    caplog.set_level("INFO")
    store = Switchable()
    async with served(settings_for(DOWN), store, cpu) as (client, app):
        src = app[LIVE].settings.all_sources()[0]
        assert (await client.get("/readyz")).status == 200
        store.down = StoreError("Connection refused (redis://127.0.0.1:6391/0)")
        for _ in range(3):
            assert (await client.get("/readyz")).status == 503
            await feedsvc.web.refresh_metrics(app)
            await app[LIVE].pipeline.refresh_source(src)
            await client.get("/")
        assert store_lines(caplog) == [
            ("WARNING", "store unreachable: Connection refused (redis://127.0.0.1:6391/0)")]
        store.down = None
        for _ in range(3):
            assert (await client.get("/readyz")).status == 200
            await feedsvc.web.refresh_metrics(app)
    lines = store_lines(caplog)
    assert len(lines) == 2 and lines[1][0] == "INFO"
    assert lines[1][1].startswith("store reachable again")


async def test_every_process_notices_an_outage_without_a_request(
    cpu: CpuPool, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    """With several processes (multiprocess metrics), each checks the store on its own
    (the poller serves no /readyz): the outage and its end are logged with no request."""
    import asyncio

    import feedsvc.app

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr(feedsvc.app, "METRICS_INTERVAL", 0.05)
    caplog.set_level("INFO")
    store = Switchable()
    async with served(settings_for(DOWN), store, cpu):
        store.down = StoreError("gone")
        for _ in range(100):
            if store_lines(caplog):
                break
            await asyncio.sleep(0.02)
        assert store_lines(caplog) == [("WARNING", "store unreachable: gone")]
        store.down = None
        for _ in range(100):
            if len(store_lines(caplog)) > 1:
                break
            await asyncio.sleep(0.02)
    assert [level for level, _ in store_lines(caplog)] == ["WARNING", "INFO"]


# -- serve --log-format json: nothing but JSON, start to finish --------------------

# Runs ``python -m feedsvc`` with the garbage collector off in the parent: a multiprocessing
# Event (its named semaphores) was released only when the collector freed the reference
# cycle holding it, and the process ends with os._exit, so whether the resource tracker
# printed "leaked semaphore objects" at shutdown depended on when the collector had last
# run. With it off, the test sees what a clean shutdown leaves behind without luck.
NO_GC_MAIN = ("import gc, runpy; gc.disable(); "
              "runpy.run_module('feedsvc', run_name='__main__', alter_sys=True)")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("store", ["memory", "redis"])
async def test_serve_json_logs_are_json_from_start_to_sigterm(
    tmp_path: Any, request: pytest.FixtureRequest, store: str
) -> None:
    """``serve --log-format json`` (in-process store; Redis with 2 serving processes):
    polls fail, a reload removes a source, /metrics is scraped, SIGTERM stops it. Every
    line on stdout and stderr is a JSON record naming its pid and role: no bare
    prometheus-client warning about removing labels in multiprocess mode, and no
    resource tracker warning about leaked semaphores."""
    import asyncio
    import json
    import signal
    import sys

    import aiohttp
    import yaml

    from tests.helpers import free_port
    from tests.test_workers import wait_listening

    port = free_port()
    service: dict[str, Any] = {"listen": f"127.0.0.1:{port}", "extract_workers": 1}
    workers = []
    if store == "redis":
        service["redis_url"] = request.getfixturevalue("redis_url")
        workers = ["--workers", "2"]
    cfg = tmp_path / "feeds.yaml"

    def write(paths: list[str]) -> None:
        cfg.write_text(yaml.safe_dump({"service": service, "topics": {"a": {"sources": [
            {"url": f"http://127.0.0.1:9/{p}", "robots": False} for p in paths]}}}))

    write(["a", "b"])
    out, err = tmp_path / "out.log", tmp_path / "err.log"
    with out.open("wb") as o, err.open("wb") as e:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", NO_GC_MAIN, "serve", "-c", str(cfg), "--log-format", "json",
            *workers, stdout=o, stderr=e, start_new_session=True)
    try:
        expected = 2 if workers else 1
        assert len(await wait_listening(port, lambda p: len(p) == expected)) == expected

        async def logged(text: str, count: int) -> None:
            for _ in range(300):
                if err.read_text().count(text) >= count:
                    return
                await asyncio.sleep(0.1)
            raise AssertionError(f"{text!r} not logged {count}x:\n{err.read_text()}")

        await logged("failed (1 in a row", 2)  # both sources polled (and failed)
        write(["a"])
        proc.send_signal(signal.SIGHUP)
        await logged("config reloaded", 3 if workers else 1)
        async with aiohttp.ClientSession() as http:
            for _ in range(4):
                async with http.get(f"http://127.0.0.1:{port}/metrics",
                                    headers={"Connection": "close"}) as r:
                    text = await r.text()
                    assert "127.0.0.1:9/b" not in text
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 60) == 0
        await asyncio.sleep(1.0)  # the resource tracker speaks when the last process exits
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
    lines = [line for f in (out, err) for line in f.read_text().splitlines()]
    bad = []
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            bad.append(line)
    assert not bad, "\n".join(bad)
    assert all(isinstance(r["pid"], int) for r in records)
    roles = {r["role"] for r in records}
    assert roles == ({"poller", "server"} if workers else {"main"})


# -- the status page ---------------------------------------------------------------


async def test_status_page_shows_failing_article_links_and_next_try(cpu: CpuPool) -> None:
    """A source that answers while every article it links fails was "ok (HTTP 304)"
    over an empty feed: its line says how many links fail, with an example error. A
    failing source's line says when it is tried next."""
    from tests.origin import Origin, Route
    from tests.site import index_page

    async with Origin({"/index.html": index_page(["/reports/x.html", "/reports/y.html"]),
                       "/reports/x.html": Route("no", status=500),
                       "/reports/y.html": Route("no", status=500)}) as origin:
        settings = make_settings({"a": {"sources": [
            {"url": origin.url("/index.html"), "robots": False, "poll_interval": "10m"},
            {"url": f"http://{DOWN}", "robots": False, "poll_interval": "10m"}]}})
        async with served(settings, MemoryStore(), cpu) as (client, app):
            for src in app[LIVE].settings.all_sources():
                await app[LIVE].pipeline.refresh_source(src)
            page = await (await client.get("/")).text()
    import html
    lines = [html.unescape(li) for li in page.split("<li>")[1:]]
    assert "ok (HTTP 200, 0s ago); 2 article links failing, e.g. " in lines[0]
    assert "HTTP 500" in lines[0]
    assert re.search(r"failing \(1 in a row, last 0s ago, next try in [1-9]\d*s\): ", lines[1])
