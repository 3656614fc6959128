"""The load generator used when wrk is not installed: aiohttp clients in a closed loop.

    python -m bench.loadgen URL --connections 50 --duration 10 [--header "K: V"]...

Prints one JSON object with the fields of :class:`bench.common.LoadResult`. SIGINT ends
the run early and still prints (like wrk). It is much slower than wrk, so the servers
are less loaded than with wrk; the ratios still compare servers under the same client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time

import aiohttp


async def _run(url: str, connections: int, duration: float, headers: dict[str, str]) -> dict[str, object]:
    latencies: list[float] = []
    errors = non_ok = 0
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.call_later(duration, stop.set)
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=5)

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal errors, non_ok
        while not stop.is_set():
            started = time.perf_counter()
            try:
                async with session.get(url, headers=headers) as resp:
                    await resp.read()
                    if resp.status >= 400:
                        non_ok += 1
            except (aiohttp.ClientError, TimeoutError):
                errors += 1
                continue
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:
        await asyncio.gather(*(client(session) for _ in range(connections)))
    seconds = time.perf_counter() - started
    latencies.sort()

    def pct(q: float) -> float | None:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else None

    return {"tool": "python-aiohttp", "requests": len(latencies), "seconds": seconds,
            "rps": len(latencies) / seconds, "p50_ms": pct(0.5), "p99_ms": pct(0.99),
            "max_ms": latencies[-1] * 1000 if latencies else None, "errors": errors,
            "non_2xx_3xx": non_ok}


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.loadgen")
    p.add_argument("url")
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--header", action="append", default=[])
    args = p.parse_args()
    headers = dict(h.split(": ", 1) for h in args.header)
    print(json.dumps(asyncio.run(_run(args.url, args.connections, args.duration, headers))))


if __name__ == "__main__":
    main()
