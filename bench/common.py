"""Shared helpers of the benchmark suite (issue #3 item 3): results, processes, load.

Everything runs on 127.0.0.1. Every process the suite starts is tracked by its pid and
stopped by that pid when its ``with`` block ends; nothing is killed by name.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import IO, Any

import yaml
from multidict import CIMultiDict

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
LOOPBACK = "127.0.0.1"
# The server under test runs on one core and the load generator on the other (issue #3).
SERVER_CPU = 0
CLIENT_CPU = 1


# -- results -------------------------------------------------------------------------


@dataclass
class Metric:
    """One row of the summary table.

    ``ratio`` is value/baseline when both were measured in this run. ``target`` reads
    like ``>= 0.9x`` (checked on the ratio) or ``< 25 ms`` (checked on the value).
    """

    section: str
    name: str
    value: float | None
    unit: str = ""
    baseline: float | None = None
    ratio: float | None = None
    target: str = ""
    passed: bool | None = None
    note: str = ""


def check(value: float | None, target: str) -> bool | None:
    """Whether ``value`` meets ``target`` (``>= 0.9``, ``< 25``...); None if unmeasured."""
    if value is None or not target:
        return None
    m = re.match(r"\s*(<=|>=|<|>)\s*([\d.]+)", target)
    if m is None:
        return None
    op, limit = m.group(1), float(m.group(2))
    return {"<": value < limit, "<=": value <= limit, ">": value > limit, ">=": value >= limit}[op]


def metric(
    section: str,
    name: str,
    value: float | None,
    unit: str = "",
    *,
    baseline: float | None = None,
    target: str = "",
    on: str = "value",
    note: str = "",
) -> Metric:
    """A :class:`Metric` with its ratio and pass/fail filled in; ``on`` is ``value`` or ``ratio``."""
    ratio = value / baseline if value is not None and baseline else None
    passed = check(ratio if on == "ratio" else value, target)
    shown = f"{target}x" if target and on == "ratio" else (f"{target} {unit}".strip() if target else "")
    return Metric(section, name, value, unit, baseline, ratio, shown, passed, note)


@dataclass
class SectionResult:
    """What one section measured: table rows plus raw details for the JSON file."""

    name: str
    metrics: list[Metric] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, m: Metric) -> Metric:
        self.metrics.append(m)
        return m


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if float(v).is_integer() and abs(v) < 1000:
        return str(int(v))
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}" if abs(v) >= 0.1 else f"{v:.3f}"


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """A plain-text table with left-aligned first column and right-aligned others."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    out = []
    for n, row in enumerate([header, *rows]):
        cells = [str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths,
                 strict=True))]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def summary_table(metrics: Sequence[Metric]) -> str:
    """The final summary: metric, value, baseline, ratio, target, pass/fail."""
    rows = []
    for m in metrics:
        verdict = {True: "PASS", False: "FAIL", None: "-"}[m.passed]
        rows.append([
            f"{m.section}: {m.name}",
            f"{_fmt(m.value)} {m.unit}".strip(),
            _fmt(m.baseline),
            f"{m.ratio:.2f}x" if m.ratio is not None else "-",
            m.target or "-",
            verdict,
        ])
    return table(rows, ["metric", "value", "baseline", "ratio", "target", "result"])


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Write ``payload`` (dataclasses allowed) as indented JSON, creating the directory."""
    path.parent.mkdir(parents=True, exist_ok=True)

    def default(o: object) -> object:
        if is_dataclass(o) and not isinstance(o, type):
            return asdict(o)
        return str(o)

    path.write_text(json.dumps(payload, indent=1, default=default) + "\n", encoding="utf-8")


_ENTRY = re.compile(rb"<entry[\s>]")


def entry_count(feed: bytes) -> int:
    """Entries in an Atom document (an entry may carry attributes, e.g. xml:lang)."""
    return len(_ENTRY.findall(feed))


def log(msg: str) -> None:
    """Progress line on stderr (the tables go to stdout)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- processes -------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        port: int = s.getsockname()[1]
        return port


def cpu_count() -> int:
    return len(os.sched_getaffinity(0))


def pinnable() -> bool:
    """Two cores at least: the server gets one, the load generator the other."""
    return cpu_count() >= 2


def popen(
    cmd: Sequence[str],
    *,
    cpu: int | None = None,
    stdout: int | IO[Any] | None = subprocess.DEVNULL,
    stderr: int | IO[Any] | None = subprocess.DEVNULL,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``cmd``, pinned to core ``cpu`` before it runs any code (so every thread and
    child it starts inherits the pinning)."""
    if cpu is not None and pinnable():
        cmd = ["taskset", "-c", str(cpu), *cmd] if shutil.which("taskset") else list(cmd)
    preexec = None
    if cpu is not None and pinnable() and not shutil.which("taskset"):
        core = cpu

        def preexec() -> None:
            os.sched_setaffinity(0, {core})

    return subprocess.Popen(
        list(cmd), stdout=stdout, stderr=stderr, cwd=cwd or ROOT,
        env={**os.environ, **(env or {})}, preexec_fn=preexec,
    )


def stop(proc: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
    """Stop one process we started, by its pid: ``sig``, then SIGKILL after ``timeout``."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=5)
    return proc.returncode


@contextlib.contextmanager
def running(proc: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM) -> Iterator[subprocess.Popen[bytes]]:
    """Yield ``proc`` and stop it on the way out, whatever happened."""
    try:
        yield proc
    finally:
        stop(proc, sig=sig)


def http_get(
    url: str, headers: Mapping[str, str] | None = None, timeout: float = 10.0
) -> tuple[int, CIMultiDict[str], bytes]:
    """One blocking GET on loopback: (status, headers, body); HTTP errors are returned, not raised."""
    req = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, CIMultiDict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, CIMultiDict(exc.headers.items()), exc.read()


def wait_http(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 30.0) -> None:
    """Wait until ``url`` answers (any status); fail early if ``proc`` died."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode} before {url} answered")
        try:
            http_get(url, timeout=2.0)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout:.0f}s") from None
            time.sleep(0.05)


def host_busy(seconds: float = 1.0) -> float:
    """Cores kept busy by the whole machine over ``seconds`` (from /proc/stat): measured
    between sections, when the suite runs nothing, it is other people's load."""
    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields) - idle, sum(fields)

    busy0, total0 = sample()
    time.sleep(seconds)
    busy1, total1 = sample()
    return (busy1 - busy0) / max(total1 - total0, 1) * (os.cpu_count() or 1)


# -- /proc accounting -------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; everything after its ")" is fixed.
    return raw[raw.rindex(")") + 2:].split()


def descendants(pid: int) -> list[int]:
    """``pid`` and every live process below it (the CPU pool's workers, for feedsvc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            f = _stat_fields(int(entry.name))
            if f is not None:
                parents.setdefault(int(f[1]), []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(parents.get(p, []))
    return out


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds consumed so far by ``pids`` (from /proc/PID/stat)."""
    total = 0
    for pid in pids:
        f = _stat_fields(pid)
        if f is not None:
            total += int(f[11]) + int(f[12])  # utime, stime (fields 14 and 15)
    return total / _TICK


def rss_bytes(pids: Sequence[int]) -> int:
    """Resident set size of ``pids`` added up (from /proc/PID/statm)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
    return total


# -- load generation -------------------------------------------------------------------


@dataclass
class LoadResult:
    """What one load run measured."""

    tool: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    errors: int  # socket errors: connect, read, write, timeout
    non_2xx_3xx: int
    raw: str = ""


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    if m is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> LoadResult:
    """Parse ``wrk --latency`` output."""
    def find(pattern: str) -> re.Match[str] | None:
        return re.search(pattern, out, re.MULTILINE)

    done = find(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)")
    if done is None:
        raise ValueError(f"unexpected wrk output:\n{out}")
    requests, seconds = int(done.group(1)), _ms(done.group(2) + done.group(3)) / 1000
    p50 = find(r"^\s*50%\s+(\S+)")
    p99 = find(r"^\s*99%\s+(\S+)")
    mx = find(r"^\s*Latency\s+\S+\s+\S+\s+(\S+)")
    sock = find(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
    non = find(r"Non-2xx or 3xx responses: (\d+)")
    rps = find(r"Requests/sec:\s+([\d.]+)")
    return LoadResult(
        tool="wrk",
        requests=requests,
        seconds=seconds,
        rps=float(rps.group(1)) if rps else requests / seconds,
        p50_ms=_ms(p50.group(1)) if p50 else None,
        p99_ms=_ms(p99.group(1)) if p99 else None,
        max_ms=_ms(mx.group(1)) if mx else None,
        errors=sum(int(g) for g in sock.groups()) if sock else 0,
        non_2xx_3xx=int(non.group(1)) if non else 0,
        raw=out,
    )


def load_tool() -> str:
    """``wrk`` when installed, else the suite's Python client (:mod:`bench.loadgen`)."""
    return "wrk" if shutil.which("wrk") else "python-aiohttp"


def load_command(
    url: str, *, connections: int, duration: float, headers: Mapping[str, str] | None = None
) -> list[str]:
    """The load generator's command line (wrk, or the Python fallback printing JSON)."""
    hdrs = [f"{k}: {v}" for k, v in (headers or {}).items()]
    if load_tool() == "wrk":
        cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency",
               "--timeout", "5s"]
        for h in hdrs:
            cmd += ["-H", h]
        return [*cmd, url]
    cmd = [PYTHON, "-m", "bench.loadgen", url, "--connections", str(connections),
           "--duration", str(duration)]
    for h in hdrs:
        cmd += ["--header", h]
    return cmd


def parse_load(out: str) -> LoadResult:
    """Parse the output of :func:`load_command`'s tool."""
    if load_tool() == "wrk":
        return parse_wrk(out)
    data = json.loads(out)
    return LoadResult(**data)


def run_load(
    url: str,
    *,
    connections: int = 50,
    duration: float = 10.0,
    headers: Mapping[str, str] | None = None,
    cpu: int | None = CLIENT_CPU,
) -> LoadResult:
    """Drive ``url`` for ``duration`` seconds with ``connections`` concurrent clients."""
    proc = popen(load_command(url, connections=connections, duration=duration, headers=headers),
                 cpu=cpu, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=duration + 60)
    finally:
        stop(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed ({proc.returncode}): {err.decode(errors='replace')}")
    return parse_load(out.decode())


class BackgroundLoad:
    """A load run in the background that can be ended early (wrk prints its results on
    SIGINT; the Python client does too)."""

    def __init__(self, url: str, *, connections: int, max_duration: float,
                 headers: Mapping[str, str] | None = None, cpu: int | None = CLIENT_CPU) -> None:
        self.proc = popen(load_command(url, connections=connections, duration=max_duration,
                                       headers=headers),
                          cpu=cpu, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.max_duration = max_duration

    def finish(self) -> LoadResult:
        """Stop the load now (or wait for its end) and return what it measured."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            out, err = self.proc.communicate(timeout=30)
        finally:
            stop(self.proc)
        text = out.decode()
        if not text.strip():
            raise RuntimeError(f"load generator printed nothing: {err.decode(errors='replace')}")
        return parse_load(text)


# -- private redis-server ----------------------------------------------------------------


@contextlib.contextmanager
def redis_server(directory: Path) -> Iterator[str | None]:
    """A private ``redis-server`` on a free loopback port (never the shared one on 6379);
    yields its URL, or None when redis-server is not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = free_port()
    proc = popen([binary, "--port", str(port), "--bind", LOOPBACK, "--dir", str(directory),
                  "--save", "", "--appendonly", "no", "--protected-mode", "yes",
                  "--logfile", str(directory / "redis.log")])
    with running(proc):
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection((LOOPBACK, port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"private redis-server did not start on {port}")
            time.sleep(0.02)
        yield f"redis://{LOOPBACK}:{port}/0"


# -- feedsvc as a service ------------------------------------------------------------------


def write_config(directory: Path, data: Mapping[str, Any]) -> Path:
    """Write a feedsvc YAML config into ``directory``."""
    path = directory / "feeds.yaml"
    path.write_text(yaml.safe_dump(dict(data), sort_keys=False), encoding="utf-8")
    return path


def service_config(
    port: int,
    topics: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    redis_url: str | None = None,
    extract_workers: int | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A config listening on loopback ``port``; robots off (the origin is ours)."""
    service: dict[str, Any] = {"listen": f"{LOOPBACK}:{port}", "redis_url": redis_url}
    if extract_workers is not None:
        service["extract_workers"] = extract_workers
    return {
        "service": service,
        "defaults": {"robots": False, **(defaults or {})},
        "topics": {name: {"sources": [dict(s) for s in sources]} for name, sources in topics.items()},
    }


@dataclass
class Service:
    """A running ``feedsvc serve``."""

    proc: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def pids(self) -> list[int]:
        """The service and its CPU pool workers."""
        return descendants(self.pid)

    def feed_url(self, topic: str) -> str:
        return f"{self.base_url}/feeds/{topic}.atom"

    def metric_total(self, name: str) -> float:
        """Sum of every sample of ``name`` on ``/metrics``."""
        _, _, body = http_get(f"{self.base_url}/metrics")
        total = 0.0
        for line in body.decode().splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                total += float(line.rsplit(" ", 1)[1])
        return total


@contextlib.contextmanager
def feedsvc_serve(
    directory: Path, config: Mapping[str, Any], *, cpu: int | None = None, args: Sequence[str] = ()
) -> Iterator[Service]:
    """Run the real ``feedsvc serve`` CLI on ``config``; stopped with SIGTERM at the end."""
    path = write_config(directory, config)
    port = int(str(config["service"]["listen"]).rpartition(":")[2])
    log_path = directory / "feedsvc.log"
    with log_path.open("wb") as log_file:
        proc = popen([PYTHON, "-m", "feedsvc", "serve", "-c", str(path), "--log-level", "WARNING",
                      *args], cpu=cpu, stdout=log_file, stderr=log_file)
        with running(proc):
            service = Service(proc, f"http://{LOOPBACK}:{port}", log_path)
            wait_http(f"{service.base_url}/healthz", proc)
            yield service


def tracebacks(log_path: Path) -> int:
    """How many tracebacks a service log holds (a crash a benchmark must not hide)."""
    try:
        return log_path.read_text(errors="replace").count("Traceback (most recent call last)")
    except OSError:
        return 0
