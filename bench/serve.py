"""Section ``serve``: feed throughput against a bare aiohttp app (issue #3 items 1 and 3).

The real feedsvc app (``create_app`` with an in-process store holding 50 realistic
entries, about 60 KB of Atom, no poller) and a minimal aiohttp app returning the same
bytes from memory each run alone on core 0, on the same event loop kind; the load
generator runs on core 1. nginx serving the same file is measured too when installed.
Cases: plain GET, ``If-None-Match`` (304) and ``Accept-Encoding: gzip``.

The servers themselves are started from here as ``python -m bench.serve server ...``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

from aiohttp import web

from bench.common import (
    CLIENT_CPU,
    LOOPBACK,
    PYTHON,
    SERVER_CPU,
    LoadResult,
    SectionResult,
    cpu_seconds,
    descendants,
    entry_count,
    free_port,
    http_get,
    load_tool,
    log,
    metric,
    popen,
    running,
    table,
    wait_http,
)
from bench.site import headline, paragraph, published

TOPIC = "news"
ENTRIES = 50
CASES = ("plain", "304", "gzip")
PATH = f"/feeds/{TOPIC}.atom"


def event_loop_name() -> str:
    """``uvloop <version>`` when installed (both servers then use it), else ``asyncio``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"uvloop {version('uvloop')}"
    except PackageNotFoundError:
        return "asyncio"


def _run_app(app: web.Application, port: int) -> None:
    try:
        import uvloop
    except ImportError:
        loop = None
    else:
        loop = uvloop.new_event_loop()
    web.run_app(app, host=LOOPBACK, port=port, print=None, access_log=None, loop=loop)


# -- the two servers -------------------------------------------------------------------------


def sample_articles(count: int = ENTRIES) -> list[object]:
    """``count`` realistic entries: headline, byline, two or three paragraphs (~1.2 KB)."""
    from feedsvc.models import Article

    out: list[object] = []
    for n in range(count):
        rng = random.Random(10_000 + n)
        paras = "".join(f"<p>{paragraph(rng)[:420]}</p>" for _ in range(2))
        out.append(Article(
            url=f"https://news.example/{TOPIC}/{n}.html",
            title=headline(n),
            content_html=paras,
            published=published(n),
            first_seen=published(n) + timedelta(minutes=1),
            author=rng.choice(["AFP", "UPI", "Staff Writers", None]),
        ))
    return out


def _feedsvc_app(port: int) -> web.Application:
    from feedsvc.app import create_app
    from feedsvc.config import parse_config
    from feedsvc.models import Article
    from feedsvc.store.memory import MemoryStore

    settings = parse_config({
        "service": {"listen": f"{LOOPBACK}:{port}", "extract_workers": 1},
        "defaults": {"robots": False},
        "topics": {TOPIC: {"title": "Bench news", "sources": [{"url": "http://127.0.0.1:9/feed.xml",
                                                                "kind": "feed"}]}},
    }, path="<bench>")
    store = MemoryStore()

    async def fill(app: web.Application) -> None:
        for article in sample_articles():
            assert isinstance(article, Article)
            await store.add_article(TOPIC, article, retention=10 * 365 * 86400.0)

    app = create_app(settings, store=store, start_scheduler=False)
    app.on_startup.insert(0, fill)
    return app


def _baseline_app(data: Path) -> web.Application:
    """The minimal app: pre-rendered bytes from memory, the same validators and headers."""
    meta = json.loads((data / "meta.json").read_text())
    body, gz = (data / "feed.atom").read_bytes(), (data / "feed.atom.gz").read_bytes()
    common = {"Last-Modified": meta["last_modified"], "Vary": "Accept-Encoding",
              "Cache-Control": "public, max-age=60"}

    async def feed(request: web.Request) -> web.Response:
        zipped = "gzip" in request.headers.get("Accept-Encoding", "")
        etag = meta["etag_gzip"] if zipped else meta["etag"]
        headers = {**common, "ETag": etag}
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        if zipped:
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=gz if zipped else body, headers=headers,
                            content_type="application/atom+xml", charset="utf-8")

    app = web.Application()
    app.router.add_get(PATH, feed)
    return app


@contextmanager
def _server(kind: str, port: int, data: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = popen([PYTHON, "-m", "bench.serve", "server", kind, str(port), str(data)], cpu=SERVER_CPU,
                 stderr=None)
    with running(proc):
        wait_http(f"http://{LOOPBACK}:{port}{PATH}", proc)
        yield proc


NGINX_CONF = """daemon off; master_process off; worker_processes 1;
error_log {dir}/error.log warn; pid {dir}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/tmp; proxy_temp_path {dir}/tmp; fastcgi_temp_path {dir}/tmp;
  uwsgi_temp_path {dir}/tmp; scgi_temp_path {dir}/tmp;
  types {{ application/atom+xml atom; }}
  server {{
    listen {host}:{port} reuseport backlog=4096;
    root {dir}/www;
    location /feeds/ {{ gzip_static on; add_header Cache-Control "public, max-age=60"; }}
  }}
}}
"""


@contextmanager
def _nginx(port: int, data: Path) -> Iterator[subprocess.Popen[bytes]]:
    www = data / "www" / "feeds"
    www.mkdir(parents=True, exist_ok=True)
    (data / "tmp").mkdir(exist_ok=True)
    shutil.copy(data / "feed.atom", www / f"{TOPIC}.atom")
    shutil.copy(data / "feed.atom.gz", www / f"{TOPIC}.atom.gz")
    conf = data / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=data, host=LOOPBACK, port=port))
    proc = popen(["nginx", "-p", str(data), "-c", str(conf)], cpu=SERVER_CPU, stderr=None)
    with running(proc, sig=15):
        wait_http(f"http://{LOOPBACK}:{port}{PATH}", proc)
        yield proc


# -- the section ---------------------------------------------------------------------------------


def _check_304(url: str, etag: str) -> None:
    status, _, _ = http_get(url, {"If-None-Match": etag})
    if status != 304:
        raise RuntimeError(f"{url} answered {status} to a matching If-None-Match, not 304")


def _best(a: LoadResult | None, b: LoadResult) -> LoadResult:
    return b if a is None or b.rps > a.rps else a


def run(quick: bool = False) -> SectionResult:
    """Measure the three cases on feedsvc, the bare aiohttp app and nginx.

    All servers are up at once (idle ones cost nothing) and the runs alternate between
    them, case by case, for ``ROUNDS`` rounds; each server keeps its best round. Other work
    on a shared machine then disturbs every server alike instead of one of them.
    """
    from bench.common import run_load

    res = SectionResult("serve")
    rounds = 1 if quick else 3
    duration = 3.0 if quick else 4.0
    res.details.update(event_loop=event_loop_name(), load_generator=load_tool(), duration_s=duration,
                       rounds=rounds, connections=50)
    if load_tool() != "wrk":
        res.notes.append("wrk is not installed: the load generator is the suite's Python aiohttp client, "
                         "which is slower than the servers; ratios still compare like with like.")
    results: dict[str, dict[str, LoadResult]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp, ExitStack() as stack:
        data = Path(tmp)
        urls: dict[str, str] = {}
        etags: dict[str, str] = {}
        port = free_port()
        log(f"serve: feedsvc app, minimal aiohttp app{', nginx' if shutil.which('nginx') else ''} "
            f"on core {SERVER_CPU} ({event_loop_name()}), {load_tool()} on core {CLIENT_CPU}")
        procs: dict[str, subprocess.Popen[bytes]] = {}
        procs["feedsvc"] = stack.enter_context(_server("feedsvc", port, data))
        urls["feedsvc"] = f"http://{LOOPBACK}:{port}{PATH}"
        _, h, body = http_get(urls["feedsvc"])
        _, hz, gz = http_get(urls["feedsvc"], {"Accept-Encoding": "gzip"})
        if hz.get("Content-Encoding") != "gzip" or gzip.decompress(gz) != body:
            raise RuntimeError("feedsvc's gzip answer is not the gzip of its plain answer")
        meta = {"etag": h["ETag"], "etag_gzip": hz["ETag"], "last_modified": h["Last-Modified"]}
        etags["feedsvc"] = etags["aiohttp"] = meta["etag"]
        res.details.update(feed_bytes=len(body), feed_gzip_bytes=len(gz), entries=entry_count(body))
        (data / "feed.atom").write_bytes(body)
        (data / "feed.atom.gz").write_bytes(gz)
        (data / "meta.json").write_text(json.dumps(meta))

        port = free_port()
        procs["aiohttp"] = stack.enter_context(_server("baseline", port, data))
        urls["aiohttp"] = f"http://{LOOPBACK}:{port}{PATH}"
        if shutil.which("nginx"):
            port = free_port()
            procs["nginx"] = stack.enter_context(_nginx(port, data))
            urls["nginx"] = f"http://{LOOPBACK}:{port}{PATH}"
            etags["nginx"] = http_get(urls["nginx"])[1]["ETag"]
        else:
            res.notes.append("nginx is not on PATH: no nginx baseline (apt-get install nginx to add it).")
        for server, url in urls.items():
            if http_get(url)[2] != body:
                raise RuntimeError(f"{server} does not serve feedsvc's bytes")
            _check_304(url, etags[server])

        best: dict[str, dict[str, LoadResult | None]] = {s: dict.fromkeys(CASES) for s in urls}
        cpu_us: dict[str, dict[str, list[float]]] = {s: {c: [] for c in CASES} for s in urls}
        for n in range(rounds):
            for case in CASES:
                for server in urls if n % 2 == 0 else reversed(urls):
                    headers = {"plain": {}, "304": {"If-None-Match": etags[server]},
                               "gzip": {"Accept-Encoding": "gzip"}}[case]
                    pids = descendants(procs[server].pid)
                    cpu0 = cpu_seconds(pids)
                    r = run_load(urls[server], connections=50, duration=duration, headers=headers)
                    # CPU per request barely moves with other load on the machine, unlike req/s.
                    cpu_us[server][case].append(1e6 * (cpu_seconds(pids) - cpu0) / max(r.requests, 1))
                    best[server][case] = _best(best[server][case], r)
                    log(f"  round {n + 1} {server:7} {case:5}: {r.rps:9,.0f} req/s, p99 {r.p99_ms} ms")
        results = {s: {c: r for c, r in cases.items() if r is not None} for s, cases in best.items()}

    res.details["runs"] = {
        s: {c: {k: v for k, v in asdict(r).items() if k != "raw"} for c, r in cases.items()}
        for s, cases in results.items()
    }
    cpu = {s: {c: min(v) for c, v in cases.items()} for s, cases in cpu_us.items()}
    res.details["server_cpu_us_per_request"] = cpu
    rows = [[server, case, f"{r.rps:,.0f}", f"{r.p50_ms:.2f}" if r.p50_ms is not None else "-",
             f"{r.p99_ms:.2f}" if r.p99_ms is not None else "-", f"{cpu[server][case]:.1f}",
             str(r.errors + r.non_2xx_3xx)]
            for server, cases in results.items() for case, r in cases.items()]
    res.details["table"] = table(rows, ["server", "case", "req/s", "p50 ms", "p99 ms", "server CPU us/req",
                                        "errors"])

    targets = {"plain": ">= 0.9", "304": ">= 0.9", "gzip": ""}
    for case in CASES:
        ours, base_r = results["feedsvc"][case], results["aiohttp"][case]
        res.add(metric("serve", f"{case} req/s vs aiohttp", ours.rps, "req/s", baseline=base_r.rps,
                       target=targets[case], on="ratio"))
    for case in CASES:
        res.add(metric("serve", f"  {case} server CPU per request", cpu["feedsvc"][case], "us",
                       baseline=cpu["aiohttp"][case], note="lower is better; steadier than req/s"))
    for case in CASES:
        ours = results["feedsvc"][case]
        res.add(metric("serve", f"{case} p99 (50 conns)", ours.p99_ms, "ms",
                       baseline=results["aiohttp"][case].p99_ms))
    if "nginx" in results:
        for case in CASES:
            res.add(metric("serve", f"{case} req/s vs nginx", results["feedsvc"][case].rps, "req/s",
                           baseline=results["nginx"][case].rps, note="information"))
    failed = sum(r.errors + r.non_2xx_3xx for cases in results.values() for r in cases.values())
    res.add(metric("serve", "failed requests (all runs)", failed, "", target="<= 0"))
    return res


def _server_main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.serve server")
    p.add_argument("kind", choices=["feedsvc", "baseline"])
    p.add_argument("port", type=int)
    p.add_argument("data", type=Path)
    args = p.parse_args(argv)
    app = _feedsvc_app(args.port) if args.kind == "feedsvc" else _baseline_app(args.data)
    _run_app(app, args.port)


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["server"]:
        _server_main(sys.argv[2:])
    else:
        print(json.dumps(asdict(run(quick="--quick" in sys.argv)), indent=1, default=str))

