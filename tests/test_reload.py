"""Config reload (issue #3 item 4): a valid new file applies without dropping stored
entries; an invalid one is refused with the exact error and the old config keeps running."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from feedsvc.app import RUNTIME, create_app
from feedsvc.config import load_config
from feedsvc.cpu import CpuPool
from feedsvc.live import LIVE
from feedsvc.store.memory import MemoryStore
from tests.helpers import app_client, article, check_atom, free_port


@pytest.fixture(scope="module")
def cpu() -> Iterator[CpuPool]:
    pool = CpuPool(1)
    yield pool
    pool.close()


def config(topics: dict[str, str]) -> str:
    return yaml.safe_dump({
        "service": {"base_url": "http://feeds.test"},
        "topics": {name: {"title": title, "sources": [{"url": f"http://127.0.0.1:9/{name}"}]}
                   for name, title in topics.items()},
    })


def app_on(path: Path, topics: dict[str, str], **kwargs: Any) -> web.Application:
    """The app on a config file at ``path``, written first with ``topics``."""
    path.write_text(config(topics))
    return create_app(load_config(str(path), env={}), **kwargs)


async def test_reload_applies_valid_and_keeps_old_on_invalid(
    tmp_path: Path, cpu: CpuPool, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "feeds.yaml"
    store = MemoryStore()
    await store.add_article("superpowers", article(1))
    app = app_on(path, {"superpowers": "SUPERPOWERS"}, store=store, cpu=cpu,
                 start_scheduler=False)
    async with app_client(app) as client:
        runtime = app[RUNTIME]
        # valid: a renamed title and a new topic; stored entries stay
        path.write_text(config({"superpowers": "Superpowers!", "navy": "Navy"}))
        assert await runtime.reload() is True
        parsed = check_atom(await (await client.get("/feeds/superpowers.atom")).read())
        assert parsed.feed.title == "Superpowers!"
        assert [e.title for e in parsed.entries] == ["Story 1"]
        assert (await client.get("/feeds/navy.atom")).status == 200
        # invalid: refused, logged exactly, old config still served
        path.write_text(yaml.safe_dump({"topics": {"navy": {"sources": [{"url": "nope"}]}}}))
        with caplog.at_level(logging.ERROR, logger="feedsvc.app"):
            assert await runtime.reload() is False
        assert f"{path}: topics.navy.sources[0].url: not an absolute http(s) URL" in caplog.text
        assert app[LIVE].settings.topics["superpowers"].title == "Superpowers!"
        assert (await client.get("/feeds/superpowers.atom")).status == 200


async def test_reload_names_the_settings_that_need_a_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Settings read once at start-up are named when a reload changes them, and only
    then: a process whose pool size was set for it (a serving process beside the
    poller) does not warn about extract_workers on every reload."""
    path = tmp_path / "feeds.yaml"
    data = yaml.safe_load(config({"a": "A"}))
    data["service"]["extract_workers"] = 4
    path.write_text(yaml.safe_dump(data))
    app = create_app(load_config(str(path), env={}), store=MemoryStore(),
                     start_scheduler=False, extract_workers=1)
    async with app_client(app):
        with caplog.at_level(logging.WARNING, logger="feedsvc.app"):
            assert await app[RUNTIME].reload() is True
        assert "restart" not in caplog.text
        data["service"]["user_agent"] = "other/2.0"
        data["service"]["log_format"] = "json"
        data["defaults"] = {"per_host": 4}
        path.write_text(yaml.safe_dump(data))
        with caplog.at_level(logging.WARNING, logger="feedsvc.app"):
            assert await app[RUNTIME].reload() is True
        for key in ("service.user_agent", "defaults.per_host", "service.log_format"):
            assert f"{key} changed; it takes effect after a restart" in caplog.text
        caplog.clear()
        data["service"]["listen"] = "127.0.0.2:9999"  # host and port: one warning
        path.write_text(yaml.safe_dump(data))
        with caplog.at_level(logging.WARNING, logger="feedsvc.app"):
            assert await app[RUNTIME].reload() is True
        assert caplog.text.count("service.listen changed") == 1


async def test_a_new_listen_waits_for_a_restart_in_the_feed_links_too(
    tmp_path: Path, cpu: CpuPool
) -> None:
    """A reload that changes listen (restart-only) keeps the running address, and so the
    base_url derived from it: the feed's links must not name a port nobody listens on
    yet. A base_url set in the file applies at once."""
    path = tmp_path / "feeds.yaml"
    data = yaml.safe_load(config({"a": "A"}))
    del data["service"]["base_url"]
    data["service"]["listen"] = "127.0.0.1:18723"
    path.write_text(yaml.safe_dump(data))
    app = create_app(load_config(str(path), env={}), store=MemoryStore(), cpu=cpu,
                     start_scheduler=False)
    async with app_client(app) as client:
        data["service"]["listen"] = "127.0.0.1:18799"
        path.write_text(yaml.safe_dump(data))
        assert await app[RUNTIME].reload() is True
        running = app[LIVE].settings
        assert (running.listen_port, running.base_url) == (18723, "http://127.0.0.1:18723")
        parsed = check_atom(await (await client.get("/feeds/a.atom")).read())
        assert parsed.feed.id == "http://127.0.0.1:18723/feeds/a.atom"
        data["service"]["base_url"] = "https://news.example"
        path.write_text(yaml.safe_dump(data))
        assert await app[RUNTIME].reload() is True
        assert app[LIVE].settings.base_url == "https://news.example"


async def test_a_reload_keeps_every_restart_only_setting_running(
    tmp_path: Path, cpu: CpuPool, caplog: pytest.LogCaptureFixture
) -> None:
    """The pools, the fetcher and the socket keep the values they started with; so do
    the settings the rest of the service reads (the rules directory the file watch
    follows, the concurrency that sizes the article workers), and the warning repeats
    until a restart."""
    rules_a, rules_b = tmp_path / "a", tmp_path / "b"
    rules_a.mkdir()
    rules_b.mkdir()
    path = tmp_path / "feeds.yaml"
    data = yaml.safe_load(config({"a": "A"}))
    data["service"]["sites_dir"] = str(rules_a)
    path.write_text(yaml.safe_dump(data))
    app = create_app(load_config(str(path), env={}), store=MemoryStore(), cpu=cpu,
                     start_scheduler=False)
    async with app_client(app):
        data["service"]["sites_dir"] = str(rules_b)
        data["defaults"] = {"concurrency": 50}
        data["topics"]["a"]["title"] = "A, renamed"
        path.write_text(yaml.safe_dump(data))
        for _ in range(2):
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="feedsvc.app"):
                assert await app[RUNTIME].reload() is True
            assert "service.sites_dir changed" in caplog.text
            assert "defaults.concurrency changed" in caplog.text
        running = app[LIVE].settings
        assert (running.sites_dir, running.concurrency) == (str(rules_a), 8)
        assert running.topics["a"].title == "A, renamed"


async def test_a_failed_background_reextraction_does_not_break_reloads(
    tmp_path: Path, cpu: CpuPool, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The re-extraction started in the background failed (a bug, a broken pool): it is
    logged when it ends, and a later reload (and the shutdown) still goes through,
    rather than stopping halfway with the old scheduler stopped and no new one."""
    from feedsvc.pipeline import Pipeline

    async def broken(self: Pipeline) -> int:
        raise RuntimeError("re-extraction bug")

    monkeypatch.setattr(Pipeline, "reextract_changed", broken)
    path = tmp_path / "feeds.yaml"
    app = app_on(path, {"a": "A"}, store=MemoryStore(), cpu=cpu, start_scheduler=True)
    with caplog.at_level(logging.ERROR, logger="feedsvc.app"):
        async with app_client(app):
            await asyncio.sleep(0.05)  # the background task has failed
            assert "re-extract after rule change failed" in caplog.text
            path.write_text(config({"a": "A", "b": "B"}))
            assert await app[RUNTIME].reload() is True
            assert len(app[LIVE].scheduler._tasks) == 2  # the new config's two sources


async def test_cache_counts_survive_a_reload(tmp_path: Path, cpu: CpuPool) -> None:
    """Hits and renders counted since the last /metrics scrape are not lost when a
    reload replaces the feed cache."""
    path = tmp_path / "feeds.yaml"
    store = MemoryStore()
    await store.add_article("a", article(1))
    app = app_on(path, {"a": "A"}, store=store, cpu=cpu, start_scheduler=False)
    async with app_client(app) as client:
        for _ in range(3):
            assert (await client.get("/feeds/a.atom")).status == 200  # 1 render, 2 hits
        assert await app[RUNTIME].reload() is True
        text = await (await client.get("/metrics")).text()
    assert "feedsvc_feed_cache_hits_total 2.0" in text
    assert 'feedsvc_feed_renders_total{topic="a"} 1.0' in text


async def test_a_removed_source_leaves_no_error_series(tmp_path: Path, cpu: CpuPool) -> None:
    """A failing source dropped from the config: its feedsvc_source_errors series goes
    (an alert on it would otherwise fire for a source that no longer exists)."""
    path = tmp_path / "feeds.yaml"
    app = app_on(path, {"a": "A"}, store=MemoryStore(), cpu=cpu, start_scheduler=False)
    async with app_client(app) as client:
        live = app[LIVE]
        await live.pipeline.refresh_source(live.settings.all_sources()[0])  # port 9: fails
        text = await (await client.get("/metrics")).text()
        assert 'feedsvc_source_errors{source="http://127.0.0.1:9/a",topic="a"} 1.0' in text
        path.write_text(config({"b": "B"}))
        assert await app[RUNTIME].reload() is True
        text = await (await client.get("/metrics")).text()
    assert 'source="http://127.0.0.1:9/a"' not in text


def running(prefix: str) -> int:
    return sum(1 for t in asyncio.all_tasks()
               if t.get_name().startswith(prefix) and not t.done())


async def test_overlapping_reloads_leave_one_scheduler_and_one_watcher(
    tmp_path: Path, cpu: CpuPool
) -> None:
    """Two SIGHUPs in a row, or a SIGHUP while the file watch also sees the edit: the
    reloads run one after the other. Run together, each stopped the same old scheduler
    and started its own, leaving two sets of poll tasks (every source polled twice)."""
    path = tmp_path / "feeds.yaml"
    app = app_on(path, {"a": "A", "b": "B"}, store=MemoryStore(), cpu=cpu)
    async with app_client(app):
        runtime = app[RUNTIME]
        assert (running("poll "), running("feed version watcher")) == (2, 1)
        assert await asyncio.gather(runtime.reload(), runtime.reload(), runtime.reload()) \
            == [True, True, True]
        assert (running("poll "), running("feed version watcher")) == (2, 1)
    assert (running("poll "), running("feed version watcher")) == (0, 0)


async def test_file_watch_reloads(tmp_path: Path, cpu: CpuPool) -> None:
    path = tmp_path / "feeds.yaml"
    app = app_on(path, {"a": "A"}, store=MemoryStore(), cpu=cpu, start_scheduler=False,
                 config_watch_interval=0.05)
    async with app_client(app) as client:
        assert (await client.get("/feeds/b.atom")).status == 404
        path.write_text(config({"a": "A", "b": "B"}))
        for _ in range(100):
            await asyncio.sleep(0.05)
            if app[RUNTIME].reloads:
                break
        assert (await client.get("/feeds/b.atom")).status == 200


async def test_sighup_reloads_running_service(tmp_path: Path) -> None:
    """The real ``feedsvc serve`` process reloads on SIGHUP."""
    port = free_port()
    path = tmp_path / "feeds.yaml"
    data = yaml.safe_load(config({"a": "A"}))
    data["service"].update(listen=f"127.0.0.1:{port}", extract_workers=1)
    path.write_text(yaml.safe_dump(data))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "feedsvc", "serve", "--no-poll", "-c", str(path),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "FEEDSVC_CONFIG": ""},
    )
    import aiohttp

    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            # Rename topic a to b: same size, and the old mtime put back, so the file
            # watch sees no change and only SIGHUP can apply it.
            before = path.stat()
            data["topics"] = {"b": data["topics"]["a"]}
            path.write_text(yaml.safe_dump(data))
            assert path.stat().st_size == before.st_size
            os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
            await asyncio.sleep(2.5)  # a file-watch round passes: nothing may change
            async with http.get(f"http://127.0.0.1:{port}/feeds/b.atom") as r:
                assert r.status == 404
            proc.send_signal(signal.SIGHUP)
            status = 404
            for _ in range(50):
                async with http.get(f"http://127.0.0.1:{port}/feeds/b.atom") as r:
                    status = r.status
                if status == 200:
                    break
                await asyncio.sleep(0.1)
            assert status == 200
    finally:
        proc.terminate()
        _, err = await proc.communicate()
    assert b"SIGHUP: reloading the config" in err


async def test_reload_keeps_articles_waiting_for_the_store(tmp_path: Path, cpu: CpuPool) -> None:
    """Articles fetched while the store was down wait in the pipeline; a reload must not
    drop them."""
    path = tmp_path / "feeds.yaml"
    store = MemoryStore()
    app = app_on(path, {"superpowers": "SUPERPOWERS"}, store=store, cpu=cpu,
                 start_scheduler=False)
    async with app_client(app):
        app[LIVE].pipeline._pending["superpowers"] = [article(7)]  # as after a store outage
        path.write_text(config({"superpowers": "Renamed"}))
        assert await app[RUNTIME].reload() is True
        source = app[LIVE].settings.topics["superpowers"].sources[0]
        await app[LIVE].pipeline.refresh_source(source)  # flushes before polling
    assert [a.title for a in await store.topic_articles("superpowers", 10)] == ["Story 7"]
