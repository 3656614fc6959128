"""``python -m bench`` (``make bench``): the benchmark suite of issue #3, on loopback only.

    python -m bench [--quick] [--full] [--soak] [--only serve,crawl,...] [--json PATH]

Sections: serve, crawl, redis, poll, ingest (the default run, about 5 minutes on two
cores) and soak (10 minutes, only with ``--soak``). Each prints its table; a summary of
every metric with its same-run baseline, ratio, target and verdict ends the run, and the
whole result is written as JSON to ``bench/results/`` (or ``--json PATH``). Targets are
reported, not enforced: the exit status is 1 only when a section could not run.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    SectionResult,
    cpu_count,
    host_busy,
    load_tool,
    log,
    summary_table,
    write_json,
)

DEFAULT = ("serve", "crawl", "redis", "poll", "ingest")
ALL = (*DEFAULT, "soak")


def _runner(name: str, args: argparse.Namespace) -> Callable[[], SectionResult]:
    if name == "serve":
        from bench import serve

        return lambda: serve.run(quick=args.quick)
    if name == "crawl":
        from bench import crawl

        return lambda: crawl.run(quick=args.quick)
    if name == "redis":
        from bench import memory

        return lambda: memory.run(quick=args.quick)
    if name == "poll":
        from bench import poll

        return lambda: poll.run(quick=args.quick, full=args.full)
    if name == "ingest":
        from bench import ingest

        return lambda: ingest.run(quick=args.quick)
    from bench import soak

    return lambda: soak.run(quick=args.quick)


def _environment() -> dict[str, Any]:
    from bench.serve import event_loop_name

    def version(cmd: list[str]) -> str | None:
        if shutil.which(cmd[0]) is None:
            return None
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else None

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT, check=False).stdout.strip()
    return {
        "python": platform.python_version(),
        "cores": cpu_count(),
        "load_average": os.getloadavg(),
        "event_loop": event_loop_name(),
        "load_generator": load_tool(),
        "wrk": version(["wrk", "--version"]),
        "nginx": version(["nginx", "-v"]),
        "redis_server": version(["redis-server", "--version"]),
        "commit": commit,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n", 1)[0])
    p.add_argument("--quick", action="store_true", help="short runs (a smoke test of the suite)")
    p.add_argument("--full", action="store_true", help="issue scale: 10,000 polled sources")
    p.add_argument("--soak", action="store_true", help="add the 10-minute soak (1 minute with --quick)")
    p.add_argument("--only", help=f"comma-separated sections of: {', '.join(ALL)}")
    p.add_argument("--json", type=Path, help="result file (default: bench/results/bench-<time>.json)")
    args = p.parse_args(argv)
    if args.only:
        names = [n.strip() for n in args.only.split(",")]
    else:
        names = [*DEFAULT, *(["soak"] if args.soak else [])]
    unknown = [n for n in names if n not in ALL]
    if unknown:
        p.error(f"unknown section(s): {', '.join(unknown)} (choose from {', '.join(ALL)})")

    env = _environment()
    log(f"environment: {env}")
    if env["load_average"][0] > 0.5:
        log(f"warning: load average {env['load_average'][0]:.2f} before start; "
            "other work on this machine skews every figure")
    results: list[SectionResult] = []
    failed: list[str] = []
    started = time.monotonic()
    for name in names:
        busy = host_busy()
        if busy > 0.2:
            log(f"warning: {busy:.2f} cores busy with other work before '{name}'; figures will suffer")
        t0 = time.monotonic()
        try:
            res = _runner(name, args)()
        except Exception as exc:
            failed.append(name)
            res = SectionResult(name, notes=[f"section failed: {exc!r}"])
            res.details["traceback"] = traceback.format_exc()
            log(f"{name}: FAILED: {exc!r}")
        res.seconds = time.monotonic() - t0
        res.details["host_busy_cores_before"] = round(busy, 2)
        results.append(res)
        print(f"\n== {name} ({res.seconds:.0f}s) ==")
        for key, value in res.details.items():
            if key.endswith("table"):
                print(value)
        print(summary_table(res.metrics) if res.metrics else "(no metrics)")
        for note in res.notes:
            print(f"note: {note}")
        if busy > 0.2:
            print(f"note: {busy:.2f} cores were busy with other work just before this section")
        sys.stdout.flush()

    metrics = [m for r in results for m in r.metrics]
    total = time.monotonic() - started
    print(f"\n== summary ({total:.0f}s, {env['cores']} cores, {env['event_loop']}, "
          f"load: {env['load_generator']}) ==")
    print(summary_table(metrics))
    verdicts = [m.passed for m in metrics if m.passed is not None]
    print(f"{sum(verdicts)}/{len(verdicts)} targets met" + (f"; sections failed: {', '.join(failed)}"
                                                          if failed else ""))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = args.json or ROOT / "bench" / "results" / f"bench-{stamp}.json"
    write_json(path, {"started": stamp, "seconds": total, "args": vars(args), "environment": env,
                      "sections": results})
    print(f"results: {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
